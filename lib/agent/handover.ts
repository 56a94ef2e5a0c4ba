// How an agent comes to serve its mount (the whole picture: docs/continuity.md). Under the supervisor
// (lib/native/supervisor/README.md) it gets two descriptors the supervisor holds across agents: the /dev/fuse
// connection of the mount and the memfd (lib/native/fuse/state.h). The first agent mounts; each one after it takes
// over the same connection and memfd, whether the one before handed over (SIGUSR2, EXIT_HANDED_OVER) or died, so
// writers' open files keep working and unacknowledged ring bytes are shipped by the new agent. When the memfd
// cannot be taken over (a version this build does not read, an agent that died before the kernel's INIT), the
// agent ends the old connection and exits with EXIT_RENEW: the supervisor opens fresh descriptors and the next
// agent mounts again, which breaks open files, as every restart did before.
import { openMemfd } from '../ring/memfd'

/** The descriptors the supervisor passes, by number (lib/native/supervisor/protocol.h sets them). */
export const MEMFD_FD_ENV = 'LOGFS_STATE_FD'
export const FUSE_FD_ENV = 'LOGFS_FUSE_FD'
/** How many times the supervisor had to give up a handover and mount again (lib/native/supervisor/protocol.h). */
export const RENEWALS_ENV = 'LOGFS_RENEWALS'
/**
 * The supervisor gives each agent it starts the cursor generation of the last one that mounted, since a restart
 * must never go back in cursor order (lib/native/supervisor/protocol.h).
 */
export const GEN_FLOOR_ENV = 'LOGFS_GEN_FLOOR'

/**
 * Exit codes the supervisor acts on: start the next agent at once, on the same descriptors or on fresh ones
 * (lib/native/supervisor/protocol.h has the same values).
 */
export const EXIT_HANDED_OVER = 3
export const EXIT_RENEW = 4

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
  const memfd = descriptor(env[MEMFD_FD_ENV])
  const fuseFd = descriptor(env[FUSE_FD_ENV])
  const renewals = Number(env[RENEWALS_ENV] ?? 0) || 0
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

/** The handover could not be made; the supervisor must start over with a new mount (EXIT_RENEW). */
export class HandoverError extends Error {
  override name = 'HandoverError'
}
