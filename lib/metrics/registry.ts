// The metrics every logfs process exposes, on prom-client: counters and gauges are read from the components' own
// statistics when scraped (a collect callback), histograms are observed as events happen. Each Registry owns its
// prom-client registry, so several servers and agents can live in one process (the tests run them so).
import type http from 'node:http'
import client from 'prom-client'

type Labels = Record<string, string>
/** One figure of a labelled metric: its label set and its value. */
export type Sample = [Labels, number]
/** A figure read when scraped: one value, or one per label set (whose names the metric declares). */
export type Collect = () => number | Sample[]

/** What callers observe into: one label set of a histogram. */
export interface Histogram { observe: (value: number) => void }

/** Seconds, from 1 ms to 30 s: acknowledgement and query latencies. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Writes a scraped figure into a freshly reset metric: the stats it is read from are the source of truth. */
function samples (v: number | Sample[], put: (labels: Labels, n: number) => void): void {
  if (typeof v === 'number') put({}, v)
  else for (const [labels, n] of v) put(labels, n)
}

export class Registry {
  private readonly registry = new client.Registry()

  // A collect giving label sets must name their labels (prom-client refuses undeclared ones when scraped): the
  // overloads make forgetting them a type error.
  counter (name: string, help: string, collect: () => number): void
  counter (name: string, help: string, collect: Collect, labelNames: string[] | undefined): void
  counter (name: string, help: string, collect: Collect, labelNames: string[] = []): void {
    this.collected(client.Counter, name, help, collect, labelNames)
  }

  gauge (name: string, help: string, collect: () => number): void
  gauge (name: string, help: string, collect: Collect, labelNames: string[] | undefined): void
  gauge (name: string, help: string, collect: Collect, labelNames: string[] = []): void {
    this.collected(client.Gauge, name, help, collect, labelNames)
  }

  /** A metric read from `collect` when scraped: reset to zero, then each sample added. */
  private collected (Kind: typeof client.Counter | typeof client.Gauge, name: string, help: string, collect: Collect,
    labelNames: string[]): void {
    new Kind({
      name, help, labelNames, registers: [this.registry],
      collect () { this.reset(); samples(collect(), (labels, n) => this.inc(labels, n)) },
    })
  }

  /** A histogram per label set, created on first use. */
  histogram (name: string, help: string, labelNames: string[] = [], buckets = LATENCY_BUCKETS):
    (labels?: Labels) => Histogram {
    const h = new client.Histogram({ name, help, labelNames, buckets, registers: [this.registry] })
    return (labels = {}) => h.labels(labels)
  }

  /** The Prometheus text exposition (format 0.0.4) of every metric, or a 500 naming what failed. */
  serve (res: http.ServerResponse): void {
    this.registry.metrics().then(text => {
      res.writeHead(200, { 'content-type': this.registry.contentType })
      res.end(text)
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`metrics: ${err.message}\n`)
    })
  }
}

/**
 * Metrics every logfs process exposes about itself. Not prom-client's collectDefaultMetrics: it cannot pick a few,
 * and it starts an event-loop delay monitor and a GC observer in every process, the agent included.
 */
export function addProcessMetrics (r: Registry): void {
  r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss())
  r.counter('process_cpu_seconds_total', 'User and system CPU time spent in seconds.', () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1e6
  })
}
