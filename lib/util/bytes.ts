// Byte values that the log format gives a meaning to.

/** A newline ('\n'): it ends a line, the unit logfs keeps whole when it must drop bytes and that queries return. */
export const NL = 0x0a
