// The scan workers: one piscina pool per process, started on first use, its threads let go when idle. Grep's
// matching and LogQL's window evaluation share it.
import os from 'node:os'
import path from 'node:path'
import { Piscina } from 'piscina'
import type { MatchResult, MatchTask } from './match-worker'

let pool: Piscina | null = null

/**
 * Threads matching at once: every core but one, which stays the event loop's (it serves ingest; with a worker on
 * every core the loop waited for a core behind them, bench:stall), and one on a single core.
 */
export const MATCHERS = Math.max(1, Math.min(4, os.availableParallelism() - 1))

function scanPool (): Piscina {
  return pool ??= new Piscina({
    filename: path.join(__dirname, 'match-worker.js'),
    minThreads: 0,
    maxThreads: MATCHERS,
    idleTimeout: 10_000,
    recordTiming: false,
  })
}

export function matchInWorker (task: MatchTask): Promise<MatchResult> {
  return scanPool().run(task, { transferList: [task.data] }) as Promise<MatchResult>
}

/**
 * Runs `task` in the same threads by the default export of the module `filename` (a query language's own scan
 * work), so all scans together keep to MATCHERS threads.
 */
export function runInScanWorker<T> (filename: string, task: object, transferList: ArrayBuffer[]): Promise<T> {
  return scanPool().run(task, { filename, transferList }) as Promise<T>
}
