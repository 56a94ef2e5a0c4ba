// The scan workers: one piscina pool per process, started on first use, its threads let go when idle.
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

export function matchInWorker (task: MatchTask): Promise<MatchResult> {
  pool ??= new Piscina({
    filename: path.join(__dirname, 'match-worker.js'),
    minThreads: 0,
    maxThreads: MATCHERS,
    idleTimeout: 10_000,
    recordTiming: false,
  })
  return pool.run(task, { transferList: [task.data] }) as Promise<MatchResult>
}
