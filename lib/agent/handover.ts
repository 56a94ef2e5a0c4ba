// How an agent comes to serve its mount (the whole picture: docs/continuity.md). Under the supervisor
// (lib/native/supervisor/README.md) it gets two descriptors the supervisor holds across agents: the /dev/fuse
// connection of the mount and the memfd (lib/native/fuse/state.h). The first agent mounts; each one after it takes
// over the same connection and memfd, whether the one before handed over (SIGUSR2, exitHandedOver) or died, so
// writers' open files keep working and unacknowledged ring bytes are shipped by the new agent. When the memfd
// cannot be taken over (a version this build does not read, an agent that died before the kernel's INIT), the
// agent ends the old connection and exits with the renew code: the supervisor opens fresh descriptors and the next
// agent mounts again, which breaks open files, as every restart did before.
import { openMemfd } from '../ring/memfd'
import { native, type Protocol } from '../native/fuse/native'

/**
 * The supervisor's side of the protocol (lib/native/protocol.h, as the native core exports it): the names of the
 * descriptors it passes and of the renewals so far, the exit codes it acts on, the signal and the events.
 */
export const protocol = (): Protocol => native.constants.protocol

export type HandoverMode = 'unsupervised' | 'fresh' | 'takeover' | 'unusable'

export interface Handover {
  /** unsupervised: no descriptors, a restart breaks open files; unusable: see `failure`. */
  mode: HandoverMode
  fuseFd: number
  /** The cursor generation to go on with (takeover), else null. */
  gen: number | null
  /** Agents that took this mount over so far, and times a handover had to fall back to a new mount. */
  takeovers: number
  renewals: number
  failure: string | null
}

/** The handover an agent starting now has: opens the memfd (the supervisor's, or a private one). */
export function openHandover (memory: number, tailBytes: number, env: NodeJS.ProcessEnv = process.env):
  Handover {
  const { envStateFd, envFuseFd, envRenewals } = protocol()
  const memfd = descriptor(env[envStateFd])
  const fuseFd = descriptor(env[envFuseFd])
  const renewals = Number(env[envRenewals] ?? 0) || 0
  const none = { fuseFd: -1, gen: null, takeovers: 0, renewals }
  if (memfd < 0 || fuseFd < 0) {
    openMemfd(-1, memory, tailBytes)
    return { ...none, mode: 'unsupervised', failure: null }
  }
  try {
    const found = openMemfd(memfd, memory, tailBytes)
    return {
      mode: found.takeover ? 'takeover' : 'fresh', fuseFd, gen: found.takeover ? found.gen : null,
      takeovers: found.takeovers, renewals, failure: null,
    }
  } catch (err) {
    openMemfd(-1, memory, tailBytes)
    return { ...none, fuseFd, mode: 'unusable', failure: (err as Error).message }
  }
}

function descriptor (value: string | undefined): number {
  const fd = Number(value)
  return value !== undefined && Number.isInteger(fd) && fd >= 0 ? fd : -1
}

/** The handover could not be made; the supervisor must start over with a new mount (protocol().exitRenew). */
export class HandoverError extends Error {
  override name = 'HandoverError'
}
