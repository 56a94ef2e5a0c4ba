// How every command ends: errors on stderr with the program name, exit 2 for bad input, 1 for failures.
import { InputError } from '../util/units'
import { MountError } from '../fs/mount'

export function fail (err: unknown): never {
  const e = err as Error
  process.stderr.write(`logfs: ${e.message ?? String(err)}\n`)
  // Bad input and a mount point that cannot be used are the user's to fix; a stack would only bury the message.
  const expected = e instanceof InputError || e instanceof MountError
  if (!expected && process.env.LOGFS_DEBUG) process.stderr.write(`${e.stack}\n`)
  process.exit(e instanceof InputError ? 2 : 1)
}
