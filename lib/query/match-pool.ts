// The scan workers: one piscina pool per process, started on first use, its threads let go when idle. Grep's
// matching and LogQL's window evaluation share it.
import os from 'node:os'
import path from 'node:path'
import { Piscina } from 'piscina'
import type { MatchResult, MatchTask } from './match-worker'
import { ingestGoingOn } from './pace'
import { ScanSlots } from './scan-slots'

let pool: Piscina | null = null

/** Cores the scan workers may use in all (ScanSlots keeps one for the event loop while ingest goes on). */
const CORES = Math.max(1, Math.min(4, os.availableParallelism()))

/** The most windows a query hands to the scan workers at once. */
export const MATCHERS = CORES

const slots = new ScanSlots(CORES, ingestGoingOn)

function scanPool (): Piscina {
  return pool ??= new Piscina({
    filename: path.join(__dirname, 'match-worker.js'),
    minThreads: 0,
    maxThreads: CORES,
    idleTimeout: 10_000,
    recordTiming: false,
  })
}

export function matchInWorker (task: MatchTask, transferList: ArrayBuffer[]): Promise<MatchResult> {
  return slots.run(() => scanPool().run(task, { transferList }) as Promise<MatchResult>)
}

/**
 * Runs `task` in the same threads by the default export of the module `filename` (a query language's own scan
 * work), so all scans together keep to the same slots.
 */
export function runInScanWorker<T> (filename: string, task: object, transferList: ArrayBuffer[]): Promise<T> {
  return slots.run(() => scanPool().run(task, { filename, transferList }) as Promise<T>)
}
