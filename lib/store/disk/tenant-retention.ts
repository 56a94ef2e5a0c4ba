// Which of a tenant's segments retention deletes, and whose segment goes first when the disk runs short. Each
// tenant's size and age limits apply to its own segments only; a disk running short is shared out in proportion
// to the tenants' retention sizes, and the tenant furthest over its share gives up its oldest segment first.

/** A tenant's retention: bytes it keeps at most and, when above 0, how old its newest record in a segment may be. */
export interface Retention { size: number, ageMs: number }

/** What a store keeps of one tenant, for choosing where to delete. */
export interface TenantHolding<T> {
  key: T
  bytes: number
  retentionSize: number
  /** Whether it has a sealed segment to give up: the one being written is never deleted. */
  deletable: boolean
}

/** Segments never get smaller than this for a small retention size (unless --segment-size is smaller still). */
const MIN_SEGMENT = 1024 * 1024

/**
 * The size at which a tenant's segment is closed: --segment-size, or a quarter of the tenant's retention size when
 * that is smaller, so that a tenant with a small retention keeps between about 3/4 and 5/4 of it rather than a
 * whole --segment-size more.
 */
export function segmentBytesFor (segmentBytes: number, retentionSize: number): number {
  return Math.min(segmentBytes, Math.max(MIN_SEGMENT, Math.floor(retentionSize / 4)))
}

/** Why the oldest of a tenant's segments (newest record `newest`) goes now, or null when it stays. */
export function expired (r: Retention, bytes: number, newest: number, now: number): 'size' | 'age' | null {
  if (bytes > r.size) return 'size'
  if (r.ageMs > 0 && newest > 0 && newest < now - r.ageMs) return 'age'
  return null
}

/**
 * The tenant furthest over its share of what the store holds, where a tenant's share is the store's bytes times
 * its retention size over the sum of all retention sizes; null when no tenant with a sealed segment is over its
 * share (one tenant alone never is: its share is everything).
 */
export function furthestOver<T> (holdings: Array<TenantHolding<T>>):
  { holding: TenantHolding<T>, share: number } | null {
  // A retention size of 0 still has a share, and one without a limit counts as the largest finite size.
  const weight = (h: TenantHolding<T>): number => Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, h.retentionSize))
  let total = 0
  let weights = 0
  for (const h of holdings) { total += h.bytes; weights += weight(h) }
  let best: { holding: TenantHolding<T>, share: number } | null = null
  for (const h of holdings) {
    const share = total * weight(h) / weights
    if (!h.deletable || h.bytes <= share) continue
    if (!best || h.bytes / share > best.holding.bytes / best.share) best = { holding: h, share }
  }
  return best
}
