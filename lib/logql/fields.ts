// The json parser's fast path in C (fields/flat.c), for the scan workers: per line of a window, the id of the values
// its named fields hold, or NOT_FLAT for a line the full parser must read. An addon of its own, built by
// bin/logfs-setup; where it is not built, every line goes through the parser in JavaScript, with the same answer.
import path from 'node:path'

export interface FlatFields {
  /** Per line: where it ends (its newline, or the data's end), and its set of values' index in `sets` or NOT_FLAT. */
  ends: Int32Array
  ids: Int32Array
  /** Each set: the named fields' values as written in the line (a string with its quotes), null where absent. */
  sets: Array<Array<string | null>>
}

export interface FieldsAddon {
  flatFields (data: Uint8Array, names: string[]): FlatFields
  /** NOT_FLAT; the most names a call takes, and the most bytes a name may have. */
  readonly constants: { NOT_FLAT: number, MAX_NAMES: number, MAX_NAME_BYTES: number }
}

/** The names a flat line's keys can have (json-flat.ts): plain ASCII, so their latin1 is their bytes in C. */
export const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Where bin/logfs-setup builds the addon, from dist/lib/logql/ (this file, compiled) or lib/logql/. */
const ADDON = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../lib/logql' : '.',
  'fields/build/Release/logfs_fields.node')

let loaded: FieldsAddon | null | undefined

/** The addon, loaded on first use; null where it is not built. */
export function fieldsAddon (): FieldsAddon | null {
  if (loaded !== undefined) return loaded
  const addon = { exports: {} }
  try {
    process.dlopen(addon, ADDON)
    loaded = addon.exports as FieldsAddon
  } catch {
    loaded = null
  }
  return loaded
}
