// Shell-style globs (`*`, `?`, `[...]`, and `**` across directories) compiled to regular expressions.
export function globToRegExp (glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*') {
      // [^] and not `.`: a file name may hold a newline, and `.` stops there
      // (a rotated `a\nb.log.1` escaped `**.[0-9]`).
      if (glob[i + 1] === '*') { re += '[^]*'; i++ } else re += '[^/]*'
    } else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1)
      if (close < 0) { re += '\\['; continue }
      re += '[' + glob.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']'
      i = close
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp('^' + re + '$')
}
