// The rules of source names, in one place. A file's path under the mount is `tenant/.../file` (the tenant is its
// top-level directory, `default` for files at the top); on the server a source is `node/path`.

/** The tenant a path under the mount belongs to. */
export function tenantOf (path: string): string {
  const slash = path.indexOf('/')
  return slash > 0 ? path.slice(0, slash) : 'default'
}

/** A path under the mount as the agent sends it: relative, no empty, `.` or `..` components. */
export function isSafePath (p: string): boolean {
  if (p.startsWith('/') || p.includes('\0')) return false
  return p.split('/').every(part => part !== '' && part !== '.' && part !== '..')
}

/** The server's name for a path an agent on `node` sent. */
export function sourceName (node: string, path: string): string {
  return `${node}/${path}`
}

/** A source name's parts: node names have no `/` (the wire checks it), so the first one ends the node. */
export function splitSource (source: string): { node: string, path: string, tenant: string } {
  const slash = source.indexOf('/')
  const path = source.slice(slash + 1)
  return { node: source.slice(0, slash), path, tenant: tenantOf(path) }
}
