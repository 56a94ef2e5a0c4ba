// Builds the console (lib/web/app: preact + htm, and uPlot for charts) into dist/web: one bundled, minified
// script, the stylesheet (uPlot's and ours) and the page. Run by `npm run build`; the server serves dist/web
// (lib/server/console.ts).
import fs from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'

const ROOT = path.resolve(__dirname, '../../..')
const OUT = path.join(ROOT, 'dist/web')

async function main (): Promise<void> {
  fs.mkdirSync(path.join(OUT, 'assets'), { recursive: true })
  await build({
    entryPoints: [path.join(ROOT, 'lib/web/app/main.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    outfile: path.join(OUT, 'assets/app.js'),
    legalComments: 'none',
    logLevel: 'warning',
  })
  // One stylesheet: the chart library's, then the console's (which may override it).
  const css = [require.resolve('uplot/dist/uPlot.min.css'), path.join(ROOT, 'lib/web/app.css')]
  fs.writeFileSync(path.join(OUT, 'assets/app.css'), css.map(f => fs.readFileSync(f, 'utf8')).join('\n'))
  fs.copyFileSync(path.join(ROOT, 'lib/web/index.html'), path.join(OUT, 'index.html'))
}

main().catch((err: Error) => {
  process.stderr.write(`build-web: ${err.message}\n`)
  process.exit(1)
})
