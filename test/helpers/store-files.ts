// A data dir's store files of one kind (`seg`, `idx`), whatever directory they lie in (a tenant's, since store
// format 2), as full paths sorted by name within their directory.
import fs from 'node:fs'
import path from 'node:path'

export function storeFiles (dataDir: string, ext: string): string[] {
  return (fs.readdirSync(dataDir, { recursive: true }) as string[])
    .filter(f => f.endsWith('.' + ext)).sort().map(f => path.join(dataDir, f))
}
