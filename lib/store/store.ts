// The embedded durable store: append-only segment files on local disk, an in-memory index per source rebuilt
// on open, exactly-once by (source, gen, offset), group commit (one fsync for every batch that arrived while the
// previous fsync ran), and retention by age and total size.
import fs from 'node:fs'
import path from 'node:path'
import { EventEmitter } from 'node:events'
import { FILE_HEADER, encodeEntry, fileHeader, scanSegment, type Entry, type EntryRef } from './segment'
import { SourceIndex, formatCursor, type Cursor } from './source'
import { TraceIndex } from './traces'
import { log } from '../util/log'
import { splitSource } from '../util/sources'

export { formatCursor, parseCursor, type Cursor } from './source'

export interface StoreOptions {
  dir: string
  segmentBytes: number
  retentionBytes: number
  retentionMs: number
}

interface Segment { id: number, file: string, fd: number, size: number, newest: number }

export interface SourceInfo {
  source: string
  node: string
  tenant: string
  /** The path under the agent's mount, e.g. `namespace/pod/container/file` under Kubernetes. */
  path: string
  bytes: number
  first: string | null
  next: string | null
  lastWrite: number
  gapBytes: number
}

function newSource (source: string): SourceIndex {
  const { node, tenant } = splitSource(source)
  return new SourceIndex(source, node, tenant)
}

export interface AppendResult { stored: number, duplicate: number }

/** Errors that go away once space is freed, unlike an I/O error. */
function noSpace (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/** Emits `append` (source: SourceIndex) after new bytes of a source are durable. */
export class Store extends EventEmitter {
  private readonly sources = new Map<string, SourceIndex>()
  readonly traces = new TraceIndex()
  private readonly segments: Segment[] = []
  private active!: Segment
  private syncing = false
  private waiters: Array<{ resolve: () => void, reject: (e: Error) => void }> = []
  private syncQueue: Array<{ resolve: () => void, reject: (e: Error) => void }> = []
  private retentionTimer: NodeJS.Timeout | null = null
  private closed = false
  /** Set when an fsync fails: what was written may not be on disk, so nothing more is acknowledged. */
  private failure: Error | null = null
  /** Set while batches fail for lack of space; the next batch that fits clears it. */
  private fullSince: { error: Error, at: number, refused: number } | null = null
  /** Set while a new segment cannot be made; the active one grows past segmentBytes meanwhile. */
  private rollError: string | null = null
  private refused = 0

  private constructor (readonly options: StoreOptions) { super() }

  static open (options: StoreOptions): Store {
    const store = new Store(options)
    store.load()
    return store
  }

  get totalBytes (): number { return this.segments.reduce((n, s) => n + s.size, 0) }
  get segmentCount (): number { return this.segments.length }
  get sourceCount (): number { return this.sources.size }
  /** False once an fsync failed: the store then refuses writes until restarted. */
  get healthy (): boolean { return this.failure === null && !this.closed }
  /** True while batches are refused for lack of space in the data dir. */
  get full (): boolean { return this.fullSince !== null }
  /** Appends that failed, each a batch the server nacked. */
  get refusedAppends (): number { return this.refused }

  private segFile (id: number): string {
    return path.join(this.options.dir, `${String(id).padStart(12, '0')}.seg`)
  }

  private load (): void {
    fs.mkdirSync(this.options.dir, { recursive: true })
    const ids = fs.readdirSync(this.options.dir)
      .map(f => /^(\d{12})\.seg$/.exec(f)).filter((m): m is RegExpExecArray => m !== null)
      .map(m => Number(m[1])).sort((a, b) => a - b)
    let entries = 0
    let tailWritable = false
    for (const [i, id] of ids.entries()) {
      const file = this.segFile(id)
      const last = i === ids.length - 1
      const scan = scanSegment(file, last)
      if (scan.problem) {
        if (last && scan.validEnd > 0) {
          log('warn', 'store', `${file}: ${scan.problem}; cutting the torn tail`, { dropped: scan.size - scan.validEnd })
          fs.truncateSync(file, scan.validEnd)
          scan.size = scan.validEnd
        } else {
          log('error', 'store', `${file}: ${scan.problem}; entries after it are not readable`, { kept: scan.refs.length })
        }
      }
      tailWritable = last && scan.validEnd > 0
      const seg: Segment = { id, file, fd: fs.openSync(file, tailWritable ? 'r+' : 'r'), size: scan.size, newest: 0 }
      this.segments.push(seg)
      for (const ref of scan.refs) this.index(ref, seg)
      entries += scan.refs.length
    }
    this.loadMarks()
    for (const s of this.sources.values()) {
      for (const e of s.extents) {
        const data = Buffer.allocUnsafe(e.length)
        fs.readSync(e.seg.fd, data, 0, e.length, e.at)
        this.traces.feed(s.source, e, data)
      }
    }
    const tail = this.segments[this.segments.length - 1]
    if (tailWritable && tail.size < this.options.segmentBytes) {
      this.active = tail
    } else if (tailWritable) {
      // Started on a full disk: write on in the last segment rather than not start.
      this.active = tail
      this.tryRoll()
    } else {
      this.roll()
    }
    if (ids.length > 0) log('info', 'store', `opened ${this.options.dir}`, { segments: this.segments.length, entries, sources: this.sources.size, traces: this.traces.size, bytes: this.totalBytes })
    this.retentionTimer = setInterval(() => this.applyRetention(), 60_000)
    this.retentionTimer.unref()
  }

  private index (ref: EntryRef, seg: Segment): SourceIndex {
    let s = this.sources.get(ref.source)
    if (!s) {
      s = newSource(ref.source)
      this.sources.set(ref.source, s)
    }
    s.add({ gen: ref.gen, offset: ref.offset, length: ref.length, timestamp: ref.timestamp, seg, at: ref.at })
    seg.newest = Math.max(seg.newest, ref.timestamp)
    return s
  }

  /**
   * Starts the next segment. It is made under a temporary name and renamed once its header is on disk, so a
   * failure (disk full) leaves no headerless segment for load() to trip over; a leftover `.new` file from a crash
   * is ignored by load() and overwritten by the next roll, which uses the same id.
   */
  private roll (): void {
    const id = (this.segments[this.segments.length - 1]?.id ?? 0) + 1
    const file = this.segFile(id)
    const tmp = file + '.new'
    const fd = fs.openSync(tmp, 'w+')
    try {
      fs.writeSync(fd, fileHeader())
      fs.fsyncSync(fd)
      fs.renameSync(tmp, file)
      const dirFd = fs.openSync(this.options.dir, 'r')
      try { fs.fsyncSync(dirFd) } finally { fs.closeSync(dirFd) }
    } catch (err) {
      fs.closeSync(fd)
      fs.rmSync(tmp, { force: true })
      throw err
    }
    this.active = { id, file, fd, size: FILE_HEADER, newest: 0 }
    this.segments.push(this.active)
  }

  /** Rolls, or keeps writing to the active segment and tries again after the next batch. Says why once. */
  private tryRoll (): boolean {
    const from = path.basename(this.active.file)
    try {
      this.roll()
    } catch (err) {
      const message = (err as Error).message
      if (this.rollError === null) log('warn', 'store', `cannot start a new segment, ${from} grows past --segment-size until one can be made: ${message}`)
      this.rollError = message
      return false
    }
    if (this.rollError !== null) log('info', 'store', `started ${path.basename(this.active.file)} after ${from} grew past --segment-size`, { size: this.segments[this.segments.length - 2].size })
    this.rollError = null
    return true
  }

  /**
   * Appends the new part of each entry (resent bytes are skipped by the per-generation high-water mark) and
   * resolves once the bytes are on stable storage.
   */
  async append (entries: Entry[]): Promise<AppendResult> {
    try {
      return await this.appendBatch(entries)
    } catch (err) {
      this.refused++
      if (this.fullSince) this.fullSince.refused++
      throw err
    }
  }

  private async appendBatch (entries: Entry[]): Promise<AppendResult> {
    if (this.closed) throw new Error('store is closed')
    if (this.failure) throw this.failure
    let stored = 0
    let duplicate = 0
    const bufs: Buffer[] = []
    const refs: EntryRef[] = []
    const fresh: Entry[] = []
    let at = this.active.size
    const high = new Map<string, number>()
    const gaps: Array<[string, number]> = []
    for (const e of entries) {
      const key = `${e.gen}\n${e.source}`
      const h = high.get(key) ?? this.sources.get(e.source)?.high.get(e.gen) ?? 0
      const end = e.offset + e.data.length
      if (end <= h) { duplicate += e.data.length; continue }
      let entry = e
      if (e.offset < h) {
        duplicate += h - e.offset
        entry = { ...e, offset: h, data: e.data.subarray(h - e.offset) }
      } else if (e.offset > h) {
        gaps.push([e.source, e.offset - h])
      }
      high.set(key, end)
      const buf = encodeEntry(entry)
      bufs.push(buf)
      fresh.push(entry)
      refs.push({ source: entry.source, gen: entry.gen, offset: entry.offset, timestamp: entry.timestamp, at: at + buf.length - entry.data.length, length: entry.data.length })
      at += buf.length
      stored += entry.data.length
    }
    if (bufs.length > 0) {
      this.write(Buffer.concat(bufs))
      const touched = new Set<SourceIndex>()
      for (const ref of refs) touched.add(this.index(ref, this.active))
      for (const [source, bytes] of gaps) this.gap(source, bytes)
      for (const e of fresh) this.traces.feed(e.source, e, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength))
      await this.sync()
      for (const s of touched) this.emit('append', s)
      if (this.active.size >= this.options.segmentBytes) this.closeActive()
    }
    return { stored, duplicate }
  }

  /** Appends a batch to the active segment whole, or not at all. */
  private write (all: Buffer): void {
    const seg = this.active
    let written = 0
    try {
      while (written < all.length) written += fs.writeSync(seg.fd, all, written, all.length - written, seg.size + written)
    } catch (err) {
      this.cutBack(seg, err as Error)
    }
    seg.size += all.length
    if (this.fullSince) {
      log('info', 'store', `space is back, storing batches again in ${this.options.dir}`, { fullMs: Date.now() - this.fullSince.at, refusedBatches: this.fullSince.refused })
      this.fullSince = null
    }
  }

  /**
   * A write failed, maybe after writing part of the batch: cuts that part off, so the next entry follows the
   * last good one and no garbage sits between entries (older segments are read without CRC checks).
   */
  private cutBack (seg: Segment, err: Error): never {
    try {
      fs.ftruncateSync(seg.fd, seg.size)
    } catch (cut) {
      // Only the torn-tail cut on the next open can clean the segment up now.
      throw this.fail(`store write failed and the segment could not be cut back, refusing writes until restart: ${(cut as Error).message}`)
    }
    if (!noSpace(err)) throw err
    if (!this.fullSince) {
      log('error', 'store', `data dir full, refusing batches until space returns: ${err.message}`, { dir: this.options.dir })
      this.fullSince = { error: new Error(`disk full: ${err.message}`), at: Date.now(), refused: 0 }
    }
    throw this.fullSince.error
  }

  /**
   * After a batch made the active segment reach segmentBytes: makes its bytes durable, starts the next segment and
   * applies retention. The batch is already durable, so nothing here may fail it.
   */
  private closeActive (): void {
    try {
      // Later fsyncs go to the new segment; batches still waiting for theirs were written to this one.
      fs.fsyncSync(this.active.fd)
    } catch (err) {
      this.fail(`store fsync failed, refusing writes until restart: ${(err as Error).message}`)
      return
    }
    if (this.tryRoll()) this.applyRetention()
  }

  /** Enters the failed state: nothing more is acknowledged until a restart rereads the segments. */
  private fail (message: string): Error {
    if (!this.failure) {
      this.failure = new Error(message)
      log('error', 'store', message)
    }
    return this.failure
  }

  private gap (source: string, bytes: number): void {
    const s = this.sources.get(source)
    if (s) s.gapBytes += bytes
    log('warn', 'store', `gap of ${bytes} bytes in ${source} (dropped by the agent or lost before it)`)
  }

  private sync (): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      this.kickSync()
    })
  }

  private kickSync (): void {
    if (this.syncing || this.waiters.length === 0) return
    this.syncing = true
    this.syncQueue = this.waiters
    this.waiters = []
    fs.fdatasync(this.active.fd, (err) => {
      this.syncing = false
      const batch = this.syncQueue
      this.syncQueue = []
      if (err) this.fail(`store fsync failed, refusing writes until restart: ${err.message}`)
      for (const w of batch) {
        if (this.failure) w.reject(this.failure)
        else w.resolve()
      }
      this.kickSync()
    })
  }

  /**
   * Deletes whole old segments, never the one being written, until both limits hold. A failure (no room for
   * marks.json) keeps the segment until the next try: after a roll, or within a minute.
   */
  applyRetention (now = Date.now()): void {
    try {
      this.retain(now)
    } catch (err) {
      log('warn', 'store', `retention failed, old segments stay until it succeeds: ${(err as Error).message}`)
    }
  }

  private retain (now: number): void {
    const { retentionBytes, retentionMs } = this.options
    while (this.segments.length > 1) {
      const oldest = this.segments[0]
      const tooBig = this.totalBytes > retentionBytes
      const tooOld = retentionMs > 0 && oldest.newest > 0 && oldest.newest < now - retentionMs
      if (!tooBig && !tooOld) break
      // Marks first: once the segment is gone they are the only record of what it held.
      this.saveMarks()
      this.segments.shift()
      fs.closeSync(oldest.fd)
      fs.rmSync(oldest.file, { force: true })
      // Sources stay known even when all their bytes are gone: their high-water marks still stop resends.
      for (const s of this.sources.values()) s.retain(e => e.seg !== oldest)
      this.traces.retain(ref => this.sources.get(ref.source)?.logicalOf(ref) != null)
      log('info', 'store', `retention removed ${path.basename(oldest.file)}`, { reason: tooBig ? 'size' : 'age' })
    }
  }

  private get marksFile (): string { return path.join(this.options.dir, 'marks.json') }

  /**
   * Writes every source's high-water marks (`marks.json`, version 1: {source: {gen: offset}}), so bytes removed
   * by retention are still known as stored after a restart, and a late resend of them is not stored again.
   */
  private saveMarks (): void {
    const marks: Record<string, Record<string, number>> = {}
    for (const s of this.sources.values()) marks[s.source] = Object.fromEntries(s.high)
    const tmp = this.marksFile + '.tmp'
    try {
      fs.writeFileSync(tmp, JSON.stringify({ version: 1, marks }))
      const fd = fs.openSync(tmp, 'r')
      try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
    } catch (err) {
      // A partial file would only take space from the segments.
      fs.rmSync(tmp, { force: true })
      throw err
    }
    fs.renameSync(tmp, this.marksFile)
  }

  private loadMarks (): void {
    let text: string
    try { text = fs.readFileSync(this.marksFile, 'utf8') } catch { return }
    try {
      const { marks } = JSON.parse(text) as { marks: Record<string, Record<string, number>> }
      for (const [source, gens] of Object.entries(marks)) {
        let s = this.sources.get(source)
        if (!s) { s = newSource(source); this.sources.set(source, s) }
        for (const [gen, offset] of Object.entries(gens)) s.high.set(Number(gen), Math.max(s.high.get(Number(gen)) ?? 0, offset))
      }
    } catch (err) {
      log('warn', 'store', `${this.marksFile} is unreadable; resends of bytes removed by retention may be stored again: ${(err as Error).message}`)
    }
  }

  listSources (allowed: (tenant: string) => boolean): SourceInfo[] {
    const out: SourceInfo[] = []
    for (const s of this.sources.values()) {
      if (!allowed(s.tenant)) continue
      const first = s.extents[0]
      const last = s.extents[s.extents.length - 1]
      out.push({
        source: s.source,
        node: s.node,
        tenant: s.tenant,
        path: splitSource(s.source).path,
        bytes: s.bytes,
        first: first ? formatCursor(first) : null,
        next: last ? formatCursor({ gen: last.gen, offset: last.offset + last.length }) : null,
        lastWrite: s.lastWrite,
        gapBytes: s.gapBytes,
      })
    }
    return out.sort((a, b) => a.source.localeCompare(b.source))
  }

  source (name: string): SourceIndex | undefined {
    return this.sources.get(name)
  }

  allSources (): IterableIterator<SourceIndex> {
    return this.sources.values()
  }

  /** The time of the oldest retained byte, or null for an empty store. */
  oldest (): number | null {
    let t: number | null = null
    for (const s of this.sources.values()) {
      const e = s.extents[0]
      if (e && (t === null || e.timestamp < t)) t = e.timestamp
    }
    return t
  }

  /** Bytes of a source from `from` (inclusive) in cursor order, at most `maxBytes`, and the cursor after them. */
  read (source: string, from: Cursor | null, maxBytes: number): { data: Buffer, next: Cursor | null } {
    const s = this.sources.get(source)
    if (!s) throw new Error(`unknown source ${source}`)
    const pos = from ? s.positionAtOrAfter(from) : 0
    const end = Math.min(s.end, pos + maxBytes)
    const data = s.read(pos, end)
    return { data, next: data.length > 0 ? s.cursorAt(end) : from }
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    if (this.retentionTimer) clearInterval(this.retentionTimer)
    fs.fsyncSync(this.active.fd)
    for (const seg of this.segments) fs.closeSync(seg.fd)
  }
}
