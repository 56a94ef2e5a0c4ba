// `marks.json`, version 1: every source's high-water mark per generation, `{"version": 1, "marks": {"node/path":
// {"GEN": OFFSET}}}`. Written (temp → fsync → rename) before retention deletes a segment, and read on open, so bytes
// retention removed are still known as stored after a restart and a late resend of them is not stored again.
import fs from 'node:fs'
import path from 'node:path'
import { log } from '../../util/log'
import { writeFileAtomic } from '../../util/atomic-file'

const VERSION = 1

/** source → gen → offset just past the highest byte stored. */
export type Marks = Map<string, Map<number, number>>

const fileIn = (dir: string): string => path.join(dir, 'marks.json')

export function saveMarks (dir: string, marks: Iterable<[string, Map<number, number>]>): void {
  const body: Record<string, Record<string, number>> = {}
  for (const [source, high] of marks) body[source] = Object.fromEntries(high)
  writeFileAtomic(fileIn(dir), JSON.stringify({ version: VERSION, marks: body }))
}

/** The saved marks; none when there is no file, and none (with a warning) when it cannot be read. */
export function loadMarks (dir: string): Marks {
  const marks: Marks = new Map()
  const file = fileIn(dir)
  let text: string
  try { text = fs.readFileSync(file, 'utf8') } catch { return marks }
  try {
    const parsed = JSON.parse(text) as { version?: number, marks: Record<string, Record<string, number>> }
    if (parsed.version !== VERSION) throw new Error(`version ${String(parsed.version)} is not ${VERSION}`)
    for (const [source, gens] of Object.entries(parsed.marks)) {
      marks.set(source, new Map(Object.entries(gens).map(([gen, offset]) => [Number(gen), offset])))
    }
  } catch (err) {
    const why = (err as Error).message
    log('warn', 'store', `${file} is unreadable; resends of bytes removed by retention may be stored again: ${why}`)
  }
  return marks
}
