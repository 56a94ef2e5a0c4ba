// Opening the memfd a restarted agent takes over (its layout: lib/native/fuse/state.h): rings, cursors, file sizes
// and the namespace journal in one memory file that the supervisor holds across agents. Opened once per process.
import { native, type StateFound } from '../native/fuse/native'

/**
 * The ring budget of a private memfd (no supervisor: tests, --no-supervise). Only pages rings touch cost memory,
 * so a generous size costs nothing; several Intakes in one process (tests) share it.
 */
const PRIVATE_MEMORY = 4 * 1024 ** 3
const PRIVATE_TAIL = 64 * 1024

let found: StateFound | null = null
let claimed = false

/**
 * Opens the supervisor's memfd (fd) or a private one (-1), for rings of `memory` bytes in all and file tails of
 * `tailBytes`. Throws with the reason when it cannot be used.
 */
export function openMemfd (fd: number, memory: number, tailBytes: number): StateFound {
  if (found) throw new Error('the memfd is already open')
  found = native.stateOpen(fd, memory, tailBytes)
  return found
}

/**
 * What the first Intake of the process restores: the dead agent's rings and sources after a takeover, nothing
 * otherwise. Opens a private memfd if nobody opened one.
 */
export function claimMemfd (): StateFound {
  found ??= native.stateOpen(-1, PRIVATE_MEMORY, PRIVATE_TAIL)
  if (claimed) return { ...found, takeover: 0, tenants: [], sources: [] }
  claimed = true
  return found
}
