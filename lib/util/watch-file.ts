// A settings file that is read at start and re-read when it changes: a bad edit is reported and the last good
// settings stay.
import fs from 'node:fs'

/** Parses the file now (throwing what `parse` throws) and calls `onChange` after each later change that parses. */
export function watchFile<T> (file: string, parse: (text: string) => T, onChange: (value: T) => void,
  onError: (e: Error) => void): { initial: T, stop: () => void } {
  let last = fs.readFileSync(file, 'utf8')
  const initial = parse(last)
  const check = (): void => {
    let text: string
    try { text = fs.readFileSync(file, 'utf8') } catch (err) { return onError(err as Error) }
    if (text === last) return
    last = text
    try { onChange(parse(text)) } catch (err) { onError(err as Error) }
  }
  // Polling, not inotify: a ConfigMap update swaps a symlink, which inotify on the file itself does not see.
  const timer = setInterval(check, 1000)
  timer.unref()
  return { initial, stop: () => clearInterval(timer) }
}
