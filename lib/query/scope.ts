// What a query covers: the sources a caller may see (by tenant) that a name or glob picks, and whether its time
// range still has retained data.
import type { LogStore } from '../store/log-store'
import type { SourceIndex } from '../store/source'
import { globToRegExp } from '../util/glob'
import { splitSource } from '../util/sources'
import { formatTime, InputError } from '../util/units'
import { QueryError } from './errors'

/** Whether the caller may see a tenant's sources. */
export type Allowed = (tenant: string) => boolean

/** A glob names a source by its full name or by its path under the mount (the name without its node). */
export function sourceMatcher (glob: string | null): (source: string) => boolean {
  if (!glob) return () => true
  let re: RegExp
  try { re = globToRegExp(glob) } catch (err) {
    if (err instanceof InputError) throw new QueryError('bad-input', err.message)
    throw err
  }
  return source => re.test(source) || re.test(splitSource(source).path)
}

/** Sources the caller may see whose name or path matches `glob` (all when no glob), by name. */
export function selectSources (store: LogStore, allowed: Allowed, glob: string | null): SourceIndex[] {
  const match = sourceMatcher(glob)
  const out: SourceIndex[] = []
  for (const s of store.allSources()) if (allowed(s.tenant) && match(s.source)) out.push(s)
  return out.sort((a, b) => a.source.localeCompare(b.source))
}

/** A source by full name, or by its path under the mount when that names exactly one source. */
export function resolveSource (store: LogStore, allowed: Allowed, name: string | null): SourceIndex {
  if (!name) throw new QueryError('bad-input', 'parameter source is required')
  const exact = store.source(name)
  if (exact && allowed(exact.tenant)) return exact
  const matches = selectSources(store, allowed, null).filter(s => s.source.endsWith('/' + name))
  if (matches.length === 1) return matches[0]
  if (matches.length > 1) {
    throw new QueryError('bad-input', `source ${name} is ambiguous: ${matches.map(s => s.source).join(', ')}`)
  }
  throw new QueryError('not-found', `unknown source ${name}`)
}

/** Refuses a time range that is backwards, or that ends before the oldest byte retention kept. */
export function checkRange (store: LogStore, since: number | undefined, until: number | undefined): void {
  if (since !== undefined && until !== undefined && since > until) {
    throw new QueryError('bad-input', 'since is after until')
  }
  const oldest = store.oldest()
  if (until !== undefined && oldest !== null && until < oldest) {
    throw new QueryError('gone',
      `the range ends before the oldest retained data (${formatTime(oldest)}): retention has removed it`)
  }
}
