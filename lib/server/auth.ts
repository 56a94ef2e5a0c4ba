// Tokens and the tenants each may write and read. A token file is JSON: {"TOKEN": ["tenant", ...] | "*"}.
import { createHash, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs'
import { InputError } from '../util/units'

export type Grant = Set<string> | '*'

export class Auth {
  private readonly grants: Array<{ digest: Buffer, grant: Grant }> = []

  static fromOptions (opts: { token?: string, tokens?: string }): Auth {
    const auth = new Auth()
    if (opts.token) auth.add(opts.token, '*')
    if (opts.tokens) {
      let parsed: unknown
      try {
        parsed = JSON.parse(fs.readFileSync(opts.tokens, 'utf8'))
      } catch (err) {
        throw new InputError(`--tokens ${opts.tokens}: ${(err as Error).message}`)
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new InputError(`--tokens ${opts.tokens}: expected an object {"TOKEN": ["tenant", ...] or "*"}`)
      }
      for (const [token, tenants] of Object.entries(parsed)) {
        if (tenants === '*') auth.add(token, '*')
        else if (Array.isArray(tenants) && tenants.every(t => typeof t === 'string')) auth.add(token, new Set(tenants))
        else throw new InputError(`--tokens ${opts.tokens}: token entry must be "*" or a list of tenant names`)
      }
    }
    if (auth.grants.length === 0) throw new InputError('no tokens configured: give --token or --tokens')
    return auth
  }

  add (token: string, grant: Grant): void {
    if (token.length < 8) throw new InputError('a token must be at least 8 characters long')
    this.grants.push({ digest: createHash('sha256').update(token).digest(), grant })
  }

  /** The tenants a token grants, or null for an unknown token. Compares digests in constant time. */
  check (token: string | undefined): Grant | null {
    if (!token) return null
    const digest = createHash('sha256').update(token).digest()
    let found: Grant | null = null
    for (const g of this.grants) if (timingSafeEqual(g.digest, digest)) found = g.grant
    return found
  }

  static allows (grant: Grant, tenant: string): boolean {
    return grant === '*' || grant.has(tenant)
  }

  static bearer (header: string | undefined): string | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '')
    return m?.[1]
  }
}
