// Shell-style globs (`*`, `?`, `[...]`, and `**` across directories) compiled by picomatch to regular expressions.
import picomatch from 'picomatch'
import { InputError } from './units'

const OPTIONS: picomatch.PicomatchOptions = {
  // `*` and `?` match a leading dot too: `.hidden.log` is a log file like any other.
  dot: true,
  // A leading `!` is a character of the name, not a negation of the glob.
  nonegate: true,
  // `[!0-9]` negates a bracket set, as in the shell.
  posix: true,
  // `*` does not match a trailing `/`: names here are files, never `dir/`.
  strictSlashes: true,
  // A file name may hold a newline, and `.` stops there without the s flag (a rotated `a\nb.log.1` must still
  // match `**.[0-9]`).
  flags: 's',
}

/** A glob as an error names it: its start, when it is long. */
const shown = (glob: string): string => JSON.stringify(glob.length > 100 ? glob.slice(0, 100) + '…' : glob)

/** More `**` inside names than this would compile to too many alternatives (2 per `**`). */
const MAX_INNER_GLOBSTARS = 4

// The picomatch patterns that together match `glob`. picomatch reads `**` as "any directories" only when it is a
// whole path segment (`a/**` or `a/**/b`); elsewhere (`**.gz`, `app**`) it is a plain `*`. logfs has always read
// every `**` as "anything, `/` included" (the `--local-only` defaults are `**.gz` and such), so such a `**` becomes
// two alternatives: `*` (no `/` crossed) and `*/**/*` (some crossed). Backslashes, parentheses and braces are
// escaped: they are characters of file names here, not picomatch's escapes, extglobs and brace sets.
// A whole-segment `**` matches no directory too (`**/app.log` matches `app.log`), as in picomatch and the shell.
function alternatives (glob: string): string[] {
  const parts = glob.replace(/[\\(){}]/g, '\\$&').split('**')
  let out = [parts[0]]
  let inner = 0
  for (let i = 1; i < parts.length; i++) {
    const before = parts[i - 1]
    const after = parts[i]
    const segment = (before === '' || before.endsWith('/')) && (after === '' || after.startsWith('/'))
    if (!segment && ++inner > MAX_INNER_GLOBSTARS) {
      throw new InputError(`glob ${shown(glob)} has more than ${MAX_INNER_GLOBSTARS} ** inside names`)
    }
    out = segment ? out.map(p => p + '**' + after) : out.flatMap(p => [p + '*' + after, p + '*/**/*' + after])
  }
  return out
}

/** The regular expression of `glob`; an InputError names a glob that cannot be one (e.g. `[z-a]`). */
export function globToRegExp (glob: string): RegExp {
  const patterns = alternatives(glob)
  try {
    return new RegExp(patterns.map(p => picomatch.makeRe(p, OPTIONS).source).join('|'), OPTIONS.flags)
  } catch (err) {
    throw new InputError(`glob ${shown(glob)}: ${(err as Error).message}`)
  }
}
