// What the comparison benchmark asks of every target: quick (a CI smoke run, well under 3 minutes) and full.
// Each workload names what it is for (its id), so the summary of figures finds its rows without parsing names.
import { BASE_TARGETS, type TargetName } from './targets'

export type WorkloadId =
  | 'max' // 200-byte lines, one write() each, as fast as possible: the write path against the C null FS
  | 'buffered' // the same lines through 64 KiB writes
  | 'json' // 1 KiB JSON lines
  | 'rate10k' | 'rate50k' // agent CPU per line and write() latency at a fixed rate
  | 'delivery1k' | 'delivery5k' // delivery latency at a light and a modest rate
  | 'idle' // memory of a mounted agent with nothing written
  | 'load10MB' // memory and ring use at ~10 MB/s

export interface Workload {
  id: WorkloadId
  name: string
  size: number
  buffered: boolean
  /** Lines per second of all writers together, 0 for as fast as possible. */
  rate: number
  /** Lines each writer writes. */
  lines: (writers: number) => number
  writers: number[]
  /** Only these targets (e.g. no local disk where only the agent is measured); all when absent. */
  targets?: TargetName[]
  /** Idle workloads write nothing and watch the mount for this long. */
  idleMs?: number
  /** Scrape the agent's ring use while running; it costs today's agent a little time on its FUSE thread. */
  watchRing?: boolean
}

const AGENTS: TargetName[] = ['c-fuse', 'logfs-mount', 'logfs', 'logfs-writeback', 'rsyslog', ...BASE_TARGETS]

/** A fixed total rate over `seconds`, shared evenly by the writers. */
function atRate (id: WorkloadId, name: string, rate: number, seconds: number, writers = 1,
  more: Partial<Workload> = {}): Workload {
  return { id, name, size: 200, buffered: false, rate, lines: w => Math.round(rate * seconds / w), writers: [writers],
    ...more }
}

/**
 * Seconds are kept short in quick mode (CI, under 3 minutes in all): a target that cannot keep the rate takes
 * longer than asked (today's logfs takes 50k lines/s at about a tenth of that).
 */
function fixedRates (quick: boolean): Workload[] {
  return [
    atRate('rate10k', '200B lines at 10k/s', 10_000, quick ? 1 : 5),
    // One writer, as asked; a target that cannot take 50k write()/s from one writer shows the rate it reached.
    atRate('rate50k', '200B lines at 50k/s', 50_000, quick ? 0.3 : 2),
    atRate('delivery1k', '200B lines at 1k/s', 1_000, quick ? 2 : 10),
    atRate('delivery5k', '200B lines at 5k/s', 5_000, quick ? 2 : 10),
    {
      id: 'idle', name: 'idle (mounted, nothing written)', size: 0, buffered: false, rate: 0, lines: () => 0,
      writers: [0], targets: AGENTS, idleMs: quick ? 1000 : 3000, watchRing: true,
    },
    // 64 KiB writes, so that every target really takes ~10 MB/s (today's logfs takes fewer than 10k write()/s,
    // which 1 KiB lines would need); two writers, one per tenant, so both tenant rings are in use.
    atRate('load10MB', '200B lines at 10 MB/s, 64KiB writes', 50_000, quick ? 1.5 : 5, 2,
      { buffered: true, targets: AGENTS, watchRing: true }),
  ]
}

export function workloads (quick: boolean): Workload[] {
  if (quick) {
    return [
      { id: 'max', name: '200B lines', size: 200, buffered: false, rate: 0, lines: () => 10_000, writers: [1, 4] },
      ...fixedRates(true),
    ]
  }
  return [
    {
      id: 'max', name: '200B lines', size: 200, buffered: false, rate: 0,
      lines: w => (w === 1 ? 100_000 : w === 4 ? 50_000 : 15_000), writers: [1, 4, 16],
    },
    {
      id: 'buffered', name: '200B lines, 64KiB writes', size: 200, buffered: true, rate: 0, lines: () => 250_000,
      writers: [1, 4],
    },
    {
      id: 'json', name: '1KiB JSON lines', size: 1024, buffered: false, rate: 0,
      lines: w => (w === 1 ? 50_000 : 20_000), writers: [1, 4],
    },
    ...fixedRates(false),
  ]
}
