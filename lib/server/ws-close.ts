// What the server's WebSockets (ingest, Loki's tail) say when they close one.

/**
 * A WebSocket close reason is at most 123 bytes, and ws throws past that: cut by bytes, at a character boundary, since
 * a refusal can quote a client's non-ASCII name (found by test/fuzz.test.ts; it took the whole server down).
 */
export function closeReason (message: string): string {
  const bytes = Buffer.from(message)
  if (bytes.length <= 123) return message
  let end = 123
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--
  return bytes.toString('utf8', 0, end)
}
