// Worker threads that do background work (scans, tokenizing) run below the event loop's priority: ingest first.
import os from 'node:os'

/** Lowers the calling thread's priority: on Linux, pid 0 names the calling thread, so only this worker runs lower. */
export function niceThisThread (): void {
  try { os.setPriority(0, 10) } catch { /* not allowed here: run at the server's priority */ }
}
