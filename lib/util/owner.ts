// UID:GID, as the mount root's owner (`--owner`) and a tenant's directory owner (collection settings) are written.

/** [uid, gid] from `UID:GID`, or null when the text is not that; callers word the error for their own setting. */
export function parseOwner (text: string): [number, number] | null {
  const m = /^(\d+):(\d+)$/.exec(text)
  return m ? [Number(m[1]), Number(m[2])] : null
}
