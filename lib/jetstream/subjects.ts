// Names in the cluster. One stream per tenant (its retention and its Raft group are the tenant's own; streams, not
// subjects, are what JetStream spreads over nodes), one subject per source in it. Tenants and sources are any UTF-8
// path names, and NATS names may not hold `.`, `*`, `>` or whitespace, so both are encoded.
import crypto from 'node:crypto'

export const SUBJECT_ROOT = 'logfs'
export const STREAM_PREFIX = 'LOGFS_'

/**
 * A tenant's key in stream and subject names: the name itself when it is short and plain, else `=` and a hash
 * (`=` never occurs in a plain key, so the two forms cannot collide).
 */
export function tenantKey (tenant: string): string {
  if (/^[A-Za-z0-9_-]{1,32}$/.test(tenant)) return tenant
  return '=' + crypto.createHash('sha256').update(tenant).digest('hex').slice(0, 32)
}

export function streamName (tenant: string): string { return STREAM_PREFIX + tenantKey(tenant) }

/**
 * A tenant's key in bucket names, which allow no `=`: the plain key, or `H_` and the 32 hex digits of the hashed
 * form (a plain key is at most 32 characters, so the 34 of `H_…` cannot be one).
 */
export function bucketKey (tenant: string): string { return bucketKeyOf(tenantKey(tenant)) }

/** bucketKey of the tenant whose stream is `stream` (a name streamName made). */
export function streamBucketKey (stream: string): string { return bucketKeyOf(stream.slice(STREAM_PREFIX.length)) }

const bucketKeyOf = (key: string): string => key.startsWith('=') ? 'H_' + key.slice(1) : key

export function streamSubjects (tenant: string): string { return `${SUBJECT_ROOT}.${tenantKey(tenant)}.>` }

/** A source's subject: its tenant's key and its whole name, base64url (subject-safe, and reversible). */
export function sourceSubject (tenant: string, source: string): string {
  return `${SUBJECT_ROOT}.${tenantKey(tenant)}.${Buffer.from(source).toString('base64url')}`
}

/** The source a subject of ours names; null for a subject logfs did not write. */
export function sourceOfSubject (subject: string): string | null {
  const parts = subject.split('.')
  if (parts.length !== 3 || parts[0] !== SUBJECT_ROOT || !/^[A-Za-z0-9_-]+$/.test(parts[2])) return null
  const name = Buffer.from(parts[2], 'base64url').toString('utf8')
  return name.includes('/') ? name : null
}
