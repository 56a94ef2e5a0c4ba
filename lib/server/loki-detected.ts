// Loki's detected_labels and detected_fields, which Logs Drilldown builds its tabs from. Labels come from the
// index: every label of the streams the query selects, with how many values it has. Fields come from a sample:
// the newest `line_limit` lines the query keeps, each read as JSON (when it is an object) or else as logfmt;
// a field's type is the one all its sampled values share (int, float, boolean, duration, bytes), else string.
import { MAX_LINES } from '../query/lines'
import { selectStreams } from '../logql/labels'
import { jsonLabels, logfmtLabels } from '../logql/extract'
import { runLogQuery } from '../logql/log-query'
import { bytesOf, goDurationMs } from '../logql/units'
import { HOUR, logQueryOnly, lokiCount, lokiRange, selectorOnly, type LokiRequest } from './loki-http'

type FieldType = 'string' | 'int' | 'float' | 'boolean' | 'duration' | 'bytes'

/** `{"detectedLabels": [{label, cardinality}]}` of the streams the query (a selector, optional) selects. */
export function detectedLabels (r: LokiRequest): object {
  const query = r.q.get('query')
  const values = new Map<string, Set<string>>()
  for (const { labels } of selectStreams(r.store.allSources(), r.allowed, query ? selectorOnly(query) : [])) {
    for (const [k, v] of Object.entries(labels)) {
      let set = values.get(k)
      if (!set) values.set(k, set = new Set())
      set.add(v)
    }
  }
  const detectedLabels = [...values].sort((a, b) => a[0].localeCompare(b[0]))
    .map(([label, set]) => ({ label, cardinality: set.size }))
  return { detectedLabels }
}

function typeOf (value: string): FieldType {
  if (/^-?\d+$/.test(value)) return 'int'
  if (value !== '' && !Number.isNaN(Number(value))) return 'float'
  if (value === 'true' || value === 'false') return 'boolean'
  if (goDurationMs(value) !== null) return 'duration'
  if (/[a-zA-Z]$/.test(value) && bytesOf(value) !== null) return 'bytes'
  return 'string'
}

interface Field { values: Set<string>, type: FieldType | null, parsers: Set<string> }

/** A line's fields and the parser that found them: json for a JSON object, else logfmt's `key=value` pairs. */
function fieldsOf (line: string): { parser: string, fields: Record<string, string> } {
  const json = line.trimStart().startsWith('{') ? jsonLabels(line) : null
  if (json !== null) return { parser: 'json', fields: json }
  const fields = Object.fromEntries(Object.entries(logfmtLabels(line)).filter(([, v]) => v !== ''))
  return { parser: 'logfmt', fields }
}

/**
 * `{"fields": [{label, type, cardinality, parsers}], "limit"}` of the sampled lines; with `name`, that field's
 * values instead, `{"values": [...], "limit"}`.
 */
export async function detectedFields (r: LokiRequest, name: string | null): Promise<object> {
  const query = logQueryOnly(r.q, 'detected_fields')
  const { start, end } = lokiRange(r.q, HOUR)
  const lineLimit = lokiCount(r.q, 'line_limit', 1000, MAX_LINES)
  const limit = lokiCount(r.q, 'limit', 1000, MAX_LINES)
  const streams = selectStreams(r.store.allSources(), r.allowed, query.selector)
  const range = { since: start, until: end, limit: lineLimit, direction: 'backward' as const }
  const sample = await r.gated(query.selector, scan => runLogQuery(r.store, streams, query, range, scan))
  const fields = new Map<string, Field>()
  for (const stream of sample.streams) {
    for (const [, line] of stream.values) {
      const found = fieldsOf(line)
      for (const [k, v] of Object.entries(found.fields)) {
        let f = fields.get(k)
        if (!f) fields.set(k, f = { values: new Set(), type: null, parsers: new Set() })
        f.values.add(v)
        f.parsers.add(found.parser)
        const t = typeOf(v)
        f.type = f.type === null || f.type === t ? t : 'string'
      }
    }
  }
  if (name !== null) {
    const values = [...fields.get(name)?.values ?? []].sort().slice(0, limit)
    return values.length > 0 ? { values, limit } : { values: [] }
  }
  const list = [...fields].sort((a, b) => a[0].localeCompare(b[0])).slice(0, limit)
    .map(([label, f]) => ({ label, type: f.type ?? 'string', cardinality: f.values.size, parsers: [...f.parsers] }))
  // As Loki: the limit is said only with fields, where it tells whether more were left out.
  return list.length > 0 ? { fields: list, limit } : { fields: [] }
}
