// Segment files of the embedded store, format version 1 (documented in lib/store/README.md).
//
//   file header, 16 bytes: "LOGFSSEG" | u32 LE version (1) | u32 LE reserved (0)
//   entry:  u32 LE length (of what follows the CRC) | u32 LE CRC-32 (of what follows it)
//           f64 LE gen | f64 LE offset | f64 LE timestamp ms | u16 LE source length | source (UTF-8) | data
//
// Entries are only ever appended. A crash can leave a torn last entry; it is found by its length or CRC and
// cut off when the store opens.
import { crc32 } from 'node:zlib'
import fs from 'node:fs'
import type { Entry } from '../log-store'

export const MAGIC = Buffer.from('LOGFSSEG')
export const FORMAT_VERSION = 1
export const FILE_HEADER = 16
const FIXED = 4 + 4 + 8 + 8 + 8 + 2
const MAX_ENTRY = 256 * 1024 * 1024

/** Where an entry's data lies in its segment, and what it is. */
export interface EntryRef {
  source: string
  gen: number
  offset: number
  timestamp: number
  /** File offset of the first data byte. */
  at: number
  length: number
}

export function fileHeader (): Buffer {
  const h = Buffer.alloc(FILE_HEADER)
  MAGIC.copy(h, 0)
  h.writeUInt32LE(FORMAT_VERSION, 8)
  return h
}

export function encodeEntry (e: Entry): Buffer {
  const src = Buffer.from(e.source, 'utf8')
  const buf = Buffer.allocUnsafe(FIXED + src.length + e.data.length)
  buf.writeUInt32LE(buf.length - 8, 0)
  buf.writeDoubleLE(e.gen, 8)
  buf.writeDoubleLE(e.offset, 16)
  buf.writeDoubleLE(e.timestamp, 24)
  buf.writeUInt16LE(src.length, 32)
  src.copy(buf, FIXED)
  buf.set(e.data, FIXED + src.length)
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4)
  return buf
}

export interface ScanResult {
  refs: EntryRef[]
  /** File offset just past the last whole, valid entry. */
  validEnd: number
  size: number
  /** Why the scan stopped before the end of the file, if it did. */
  problem: string | null
}

/**
 * Reads a segment's entries. With `verify`, each entry's CRC is checked (needed where a crash may have torn
 * writes: the newest segment); without, only the headers are read, which is what makes opening a large store fast.
 */
export function scanSegment (file: string, verify: boolean): ScanResult {
  const fd = fs.openSync(file, 'r')
  try {
    const size = fs.fstatSync(fd).size
    const head = Buffer.alloc(FILE_HEADER)
    const headRead = size >= FILE_HEADER ? fs.readSync(fd, head, 0, FILE_HEADER, 0) : 0
    if (headRead < FILE_HEADER || !head.subarray(0, 8).equals(MAGIC)) {
      return { refs: [], validEnd: 0, size, problem: 'not a logfs segment (bad header)' }
    }
    const version = head.readUInt32LE(8)
    if (version !== FORMAT_VERSION) {
      return { refs: [], validEnd: 0, size, problem: `segment format version ${version} is not supported` }
    }
    const refs: EntryRef[] = []
    let pos = FILE_HEADER
    const fixed = Buffer.alloc(FIXED + 65535)
    // One buffer for every entry's body, grown when needed: fresh memory per entry cost more in page faults than
    // the reads themselves.
    let body = Buffer.allocUnsafe(verify ? 1 << 20 : 0)
    while (pos < size) {
      if (size - pos < FIXED) return { refs, validEnd: pos, size, problem: `torn entry header at ${pos}` }
      fs.readSync(fd, fixed, 0, FIXED, pos)
      const length = fixed.readUInt32LE(0)
      const srcLen = fixed.readUInt16LE(32)
      if (length < FIXED - 8 + srcLen || length > MAX_ENTRY) {
        return { refs, validEnd: pos, size, problem: `bad entry length at ${pos}` }
      }
      if (pos + 8 + length > size) return { refs, validEnd: pos, size, problem: `torn entry at ${pos}` }
      const ref: EntryRef = {
        source: '',
        gen: fixed.readDoubleLE(8),
        offset: fixed.readDoubleLE(16),
        timestamp: fixed.readDoubleLE(24),
        at: pos + FIXED + srcLen,
        length: length + 8 - FIXED - srcLen,
      }
      if (verify) {
        if (body.length < length) body = Buffer.allocUnsafe(length)
        fs.readSync(fd, body, 0, length, pos + 8)
        if (crc32(body.subarray(0, length)) !== fixed.readUInt32LE(4)) {
          return { refs, validEnd: pos, size, problem: `CRC mismatch at ${pos}` }
        }
        ref.source = body.toString('utf8', FIXED - 8, FIXED - 8 + srcLen)
      } else {
        fs.readSync(fd, fixed, FIXED, srcLen, pos + FIXED)
        ref.source = fixed.toString('utf8', FIXED, FIXED + srcLen)
      }
      refs.push(ref)
      pos += 8 + length
    }
    return { refs, validEnd: pos, size, problem: null }
  } finally {
    fs.closeSync(fd)
  }
}
