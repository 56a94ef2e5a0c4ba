// An index page: a run of one source's extents in cursor order, as the object a gateway writes to LOGFS_INDEX so
// that it can let go of old entries and fetch them back when a query walks the source. Written once and never
// changed: two gateways that cut the same page write the same bytes under the same name. Format version 1
// (lib/jetstream/README.md): a msgpack map, `version` first, the extents as deflated columns (columns.ts).
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { pack, unpack } from 'msgpackr'
import type { Cursor, Released } from '../store/source'
import type { MessageExtent } from './payloads'
import { CorruptColumns, check, columnsOf, deltas, undo, type Columns } from './columns'

export const PAGE_VERSION = 1

const deflate = promisify(zlib.deflateRaw)
const inflate = promisify(zlib.inflateRaw)

/** Where a page is and what it holds: what an index snapshot lists of a source's paged extents. */
export interface PageRef {
  /** The object's name in the bucket. */
  name: string
  count: number
  bytes: number
  /** Lowest and highest stream sequence of its extents. */
  first: number
  last: number
  /** Its first extent's cursor and time, and the cursor after its last. */
  at: Cursor & { timestamp: number }
  next: Cursor
}

/** What the released entries of `pages` amount to. */
export function pagesSummary (pages: readonly PageRef[]): Released {
  return {
    count: pages.reduce((n, p) => n + p.count, 0),
    bytes: pages.reduce((n, p) => n + p.bytes, 0),
    first: pages[0]?.at ?? null,
    next: pages[pages.length - 1]?.next ?? null,
  }
}

/** A page that cannot be used: corrupt, of another format, or not the page its reference names. */
export class PageError extends Error {
  override name = 'PageError'
}

/** The reference of a page of `x`, extents of `source` in `stream`, in cursor order. */
export function pageRef (stream: string, source: string, x: readonly MessageExtent[]): PageRef {
  let first = Infinity
  let last = 0
  let bytes = 0
  for (const e of x) { first = Math.min(first, e.seq); last = Math.max(last, e.seq); bytes += e.length }
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 24)
  const end = x[x.length - 1]
  return {
    name: `${stream}.page.${digest}.${first}-${last}`, count: x.length, bytes, first, last,
    at: { gen: x[0].gen, offset: x[0].offset, timestamp: x[0].timestamp },
    next: { gen: end.gen, offset: end.offset + end.length },
  }
}

export async function encodePage (stream: string, source: string, x: readonly MessageExtent[]): Promise<Buffer> {
  const extents = await deflate(pack(deltas(columnsOf(x))))
  return pack({ version: PAGE_VERSION, stream, source, extents })
}

/** The columns of the page `ref` names; throws PageError for bytes that are not that page. */
export async function decodePage (bytes: Uint8Array, stream: string, source: string, ref: PageRef): Promise<Columns> {
  try {
    const head = unpack(bytes) as Record<string, unknown>
    check(typeof head === 'object' && head !== null, 'not a map')
    if (head.version !== PAGE_VERSION) {
      throw new PageError(`page ${ref.name}: format version '${String(head.version)}' is not ${PAGE_VERSION}`)
    }
    check(head.stream === stream && head.source === source, `it is of ${String(head.source)} in ${String(head.stream)}`)
    check(head.extents instanceof Uint8Array, 'no extents')
    const d = unpack(await inflate(head.extents as Uint8Array)) as Columns
    check(typeof d === 'object' && d !== null && Array.isArray(d.gen), 'no columns')
    const c = undo(d, source)
    check(c.gen.length === ref.count, `${c.gen.length} extents, not ${ref.count}`)
    check(c.seq.every(q => q >= ref.first && q <= ref.last), `sequences outside ${ref.first}-${ref.last}`)
    return c
  } catch (err) {
    if (err instanceof PageError) throw err
    const why = err instanceof CorruptColumns ? err.message : (err as Error).message
    throw new PageError(`page ${ref.name} is corrupt: ${why}`)
  }
}
