// The last bytes of a file, kept so `tail` and `cat` of a recent part work on the mount. Older bytes are already
// on their way to the server; reading them here gives zeros, exactly like a sparse file's holes.
export class TailBuffer {
  private buf: Buffer = Buffer.alloc(0)
  /** The file's size, and the lowest offset whose byte is still held: [low, size) is readable. */
  size = 0
  private low = 0

  constructor (readonly cap: number) {}

  /** Bytes of memory held. Grows with the file up to `cap`, then stays: positions map to `offset % cap`. */
  get held (): number { return this.buf.length }

  private grow (upTo: number): void {
    const want = Math.min(this.cap, upTo)
    if (want <= this.buf.length) return
    const next = Buffer.alloc(Math.min(this.cap, Math.max(want, this.buf.length * 2, 4096)))
    this.buf.copy(next)
    this.buf = next
  }

  private put (offset: number, bytes: Uint8Array): void {
    let at = offset % this.cap
    let from = 0
    while (from < bytes.length) {
      const n = Math.min(bytes.length - from, this.cap - at)
      this.buf.set(bytes.subarray(from, from + n), at)
      from += n
      at = 0
    }
  }

  private zero (from: number, to: number): void {
    for (let p = Math.max(from, to - this.cap); p < to;) {
      const at = p % this.cap
      const n = Math.min(to - p, this.cap - at)
      this.buf.fill(0, at, at + n)
      p += n
    }
  }

  write (offset: number, bytes: Uint8Array): void {
    const end = offset + bytes.length
    const size = Math.max(this.size, end)
    // Bytes below the new window are gone; an overwrite inside the window keeps what was around it.
    const low = Math.max(this.low, size - this.cap)
    this.grow(size)
    if (offset > this.size) this.zero(Math.max(this.size, low), offset)
    const from = Math.max(offset, low)
    if (from < end) this.put(from, bytes.subarray(from - offset))
    this.size = size
    this.low = low
  }

  truncate (size: number): void {
    if (size < this.size) {
      this.size = size
      this.low = Math.min(this.low, size)
      return
    }
    this.grow(size)
    this.zero(this.size, size)
    this.size = size
    this.low = Math.max(this.low, size - this.cap)
  }

  /** Copies [offset, offset + into.length) into `into`, zeros outside the held window; returns bytes read. */
  read (offset: number, into: Buffer): number {
    const end = Math.min(this.size, offset + into.length)
    if (end <= offset) return 0
    into.fill(0, 0, end - offset)
    for (let p = Math.max(offset, this.low); p < end;) {
      const at = p % this.cap
      const n = Math.min(end - p, this.cap - at)
      this.buf.copy(into, p - offset, at, at + n)
      p += n
    }
    return end - offset
  }
}
