// The web console's files (built from lib/web into dist/web by `npm run build`), served at `/` and `/assets/`
// without a token: the page holds no data, and asks the API with the reader's token. A strict
// Content-Security-Policy keeps every request on this origin: no CDN, font or analytics, no inline script.
import fs from 'node:fs'
import path from 'node:path'
import type http from 'node:http'

const DIR = path.resolve(__dirname, '../../web')

const FILES: Record<string, { file: string, type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'assets/app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'assets/app.css', type: 'text/css; charset=utf-8' },
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
  "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ')

export function isConsolePath (pathname: string): boolean { return pathname in FILES }

/** Serves one of the console's files; read from disk each time, so a rebuild is served without a restart. */
export function serveConsole (pathname: string, res: http.ServerResponse): void {
  const { file, type } = FILES[pathname]
  let body: Buffer
  try {
    body = fs.readFileSync(path.join(DIR, file))
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('the web console is not built: run `npm run build`\n')
    return
  }
  res.writeHead(200, {
    'content-type': type,
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  })
  res.end(body)
}
