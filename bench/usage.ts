// What an agent costs during one run: CPU seconds of all its processes, the highest sum of their resident memory
// (sampled, with each process's share at that moment), and the most ring bytes in use it reported. Sampling
// /proc costs the agent nothing; scraping its /metrics does (today's agent answers on the thread that serves
// FUSE), so the ring is only watched when asked.
import { tree, usageOf } from './proctree'

export interface AgentProcs {
  /** The process the target started; everything below it is the agent too. */
  root: number
  /** Names for known pids (supervisor, agent); others are named by their command. */
  names: Map<number, string>
}

export interface ProcShare { name: string, pid: number, rssKiB: number }

export interface Usage {
  cpuSeconds: number
  /** The highest sampled sum of VmRSS over the agent's processes. */
  rssKiB: number
  /** Each process's VmRSS in the sample with that highest sum. */
  perProcess: ProcShare[]
  /** The most ring bytes in use seen; null when not watched or not reported. */
  ringPeakBytes: number | null
}

const SAMPLE_MS = 100
/**
 * Finding the tree reads every process's /proc/PID/stat (about 5 ms of this process's CPU on a 2-core machine
 * that the agent needs too), so it is found again once a second and only its members are read in between.
 */
const SCAN_MS = 1000

export class UsageWatch {
  private readonly cpuStart: Map<number, number>
  private best: ProcShare[] = []
  private bestSum = -1
  private ringPeak: number | null = null
  private readonly timer: NodeJS.Timeout
  private ringBusy: Promise<void> | null = null
  private members: number[] = []
  private scanned = 0

  constructor (private readonly procs: AgentProcs, private readonly ring: (() => Promise<number | null>) | null) {
    this.cpuStart = this.sample(true)
    this.timer = setInterval(() => {
      this.sample()
      // One scrape at a time: a slow agent must not pile up requests and be measured by them.
      if (this.ring && !this.ringBusy) this.ringBusy = this.watchRing(this.ring).finally(() => { this.ringBusy = null })
    }, SAMPLE_MS)
  }

  private async watchRing (ring: () => Promise<number | null>): Promise<void> {
    try {
      const bytes = await ring()
      if (bytes !== null) this.ringPeak = Math.max(this.ringPeak ?? 0, bytes)
    } catch {}
  }

  /** Records the memory sample if it is the highest yet; returns CPU seconds per live pid. */
  private sample (rescan = false): Map<number, number> {
    if (rescan || Date.now() - this.scanned >= SCAN_MS) {
      this.members = tree(this.procs.root)
      this.scanned = Date.now()
    }
    const now = usageOf(this.members)
    const sum = now.reduce((n, p) => n + p.rssKiB, 0)
    if (sum > this.bestSum) {
      this.bestSum = sum
      this.best = now.map(p => ({ name: this.procs.names.get(p.pid) ?? p.comm, pid: p.pid, rssKiB: p.rssKiB }))
    }
    return new Map(now.map(p => [p.pid, p.cpuSeconds]))
  }

  /** Ends the watch without a result (the run failed). */
  cancel (): void { clearInterval(this.timer) }

  /** Takes a last sample and ends the watch. */
  async stop (): Promise<Usage> {
    clearInterval(this.timer)
    await this.ringBusy
    if (this.ring) await this.watchRing(this.ring)
    const end = this.sample(true)
    // A process that appeared counts from zero. One that ended counts through its parent's reaped-children time
    // (see ProcUsage.cpuSeconds), not by its own last reading, which would count it twice.
    let cpuSeconds = 0
    for (const [pid, cpu] of end) cpuSeconds += cpu - (this.cpuStart.get(pid) ?? 0)
    return { cpuSeconds, rssKiB: Math.max(0, this.bestSum), perProcess: this.best, ringPeakBytes: this.ringPeak }
  }
}
