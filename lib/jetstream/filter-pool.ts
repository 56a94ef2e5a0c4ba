// The filter worker's thread (filter-worker.ts): one per gateway, started on first use and let go when idle, as the
// builders of all its streams take turns.
import path from 'node:path'
import { Piscina } from 'piscina'
import type { Partitions } from './filter-format'
import type { FilterTask } from './filter-worker'

let pool: Piscina | null = null

function filterPool (): Piscina {
  return pool ??= new Piscina({
    filename: path.join(__dirname, 'filter-worker.js'),
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: 10_000,
    recordTiming: false,
  })
}

/** A group's partitions over its blocks' hashes. */
export async function groupPartitions (blocks: Uint32Array[]): Promise<Partitions> {
  const task: FilterTask = { blocks }
  return await filterPool().run(task) as Partitions
}
