// A scan worker (a piscina task): finds the hits in one window of whole lines that the server's event loop has
// read, so matching, the costly part of a scan, runs beside ingest on the other cores and windows are matched
// in parallel. Returns each hit with its line's text, so the event loop need not decode the window again.
import { compile, findHits, type Found, type Matcher, type Pattern } from './match'
import { niceThisThread } from '../util/nice'
import type { WorkerWindow } from './scan'

niceThisThread()

export interface MatchTask extends Pattern, WorkerWindow {
  max: number
}

export type MatchResult = Array<Found & { text: string }>

/** The last compiled pattern: a scan sends the same one with every window. */
let last: { key: string, matcher: Matcher } | null = null

export default function run (task: MatchTask): MatchResult {
  const key = `${task.regex ? 'E' : ''}${task.ignoreCase ? 'i' : ''}${task.word ? 'w' : ''}:${task.pattern}`
  if (last?.key !== key) last = { key, matcher: compile(task) }
  const buf = Buffer.from(task.data, 0, task.length)
  return findHits(buf, last.matcher, task.max).map(f => ({ ...f, text: buf.toString('utf8', f.lineStart, f.lineEnd) }))
}
