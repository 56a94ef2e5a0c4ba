// The page is a thin client of the server's JSON API (docs/http-api.md), on the page's own origin.
import type { SourceInfo } from '../../store/log-store'
import type { GrepResult } from '../../query/grep'
import type { Context } from '../../query/context'

export type { SourceInfo, GrepResult, Context }
export type { Hit } from '../../query/grep'
export type { Line } from '../../query/lines'
export type { Span, Trace } from '../../query/trace'
export type { Histogram } from '../../query/histogram'
export type { TenantRow } from '../../server/tenants'

/** The server refused the token: the page asks for another. */
export class Unauthorized extends Error {}

export async function get<T> (token: string, path: string, params: Record<string, string> = {}): Promise<T> {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== ''))
  const res = await fetch(`${path}${q.size > 0 ? `?${q}` : ''}`, { headers: { authorization: `Bearer ${token}` } })
  const body = await res.json() as T & { error?: string }
  if (res.status === 401) throw new Unauthorized(body.error ?? 'wrong token')
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`)
  return body
}
