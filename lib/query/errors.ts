// Why a query has no answer, in the query's terms; the HTTP layer gives each kind its status.
export type QueryErrorKind =
  /** The query itself is wrong: a missing or malformed parameter, an invalid pattern. */
  | 'bad-input'
  /** It names a source, cursor or trace that the caller cannot see or that does not exist. */
  | 'not-found'
  /** It asks for bytes that retention has removed. */
  | 'gone'

export class QueryError extends Error {
  constructor (readonly kind: QueryErrorKind, message: string) { super(message) }
}
