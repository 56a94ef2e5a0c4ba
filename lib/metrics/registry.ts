// Prometheus text exposition (format 0.0.4) without a dependency: counters and gauges are read from the
// components' own statistics when scraped; histograms are observed as events happen.
type Labels = Record<string, string>
type Sample = [Labels, number]

interface Metric { name: string, help: string, type: 'counter' | 'gauge' | 'histogram', render: () => string[] }

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const labelText = (l: Labels): string => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escape(v)}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

export class Histogram {
  private readonly counts: number[]
  private sum = 0
  private count = 0
  constructor (readonly buckets: number[]) { this.counts = buckets.map(() => 0) }

  observe (value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) this.counts[i]++
  }

  lines (name: string, labels: Labels): string[] {
    const out = this.buckets.map((b, i) => `${name}_bucket${labelText({ ...labels, le: String(b) })} ${this.counts[i]}`)
    out.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${this.count}`)
    out.push(`${name}_sum${labelText(labels)} ${this.sum}`)
    out.push(`${name}_count${labelText(labels)} ${this.count}`)
    return out
  }
}

/** Seconds, from 1 ms to 30 s: acknowledgement and query latencies. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export class Registry {
  private readonly metrics: Metric[] = []

  private add (name: string, help: string, type: Metric['type'], render: () => string[]): void {
    this.metrics.push({ name, help, type, render })
  }

  counter (name: string, help: string, collect: () => number | Sample[]): void {
    this.add(name, help, 'counter', () => this.samples(name, collect()))
  }

  gauge (name: string, help: string, collect: () => number | Sample[]): void {
    this.add(name, help, 'gauge', () => this.samples(name, collect()))
  }

  /** A histogram per label set, created on first use. */
  histogram (name: string, help: string, buckets = LATENCY_BUCKETS): (labels?: Labels) => Histogram {
    const byLabels = new Map<string, { labels: Labels, h: Histogram }>()
    this.add(name, help, 'histogram', () => [...byLabels.values()].flatMap(({ labels, h }) => h.lines(name, labels)))
    return (labels = {}) => {
      const key = labelText(labels)
      let entry = byLabels.get(key)
      if (!entry) { entry = { labels, h: new Histogram(buckets) }; byLabels.set(key, entry) }
      return entry.h
    }
  }

  private samples (name: string, v: number | Sample[]): string[] {
    return typeof v === 'number' ? [`${name} ${v}`] : v.map(([l, n]) => `${name}${labelText(l)} ${n}`)
  }

  render (): string {
    const out: string[] = []
    for (const m of this.metrics) {
      out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render())
    }
    return out.join('\n') + '\n'
  }
}

/** Metrics every logfs process exposes about itself. */
export function addProcessMetrics (r: Registry): void {
  r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss())
  r.counter('process_cpu_seconds_total', 'User and system CPU time spent in seconds.', () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1e6
  })
}
