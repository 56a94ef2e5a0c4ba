/// <reference lib="dom" />
// The console's query box in a real browser (Debian's Chromium driven by puppeteer-core, as console.test.ts): a
// metric query as a uPlot chart with a series per label set, a click on a point giving the lines behind it, topk
// as bars, a bad query's error with its position; and the search's histogram with lines by level.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { encodeFrame } from '../lib/wire/frames'
import { batch, connect, exchange } from './helpers/ingest'
import { ROOT, TOKEN, startServer, waitFor } from './helpers/cluster'

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = path.join(ROOT, '.tap/console')
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000
const iso = (ms: number): string => new Date(ms).toISOString()

/** Line i, written at T0 + 10 s·i: every tenth from 0 an error, from 5 a warning; names a 4, b 3, c 2, d 1 in ten. */
const levelOf = (i: number): string => i % 10 === 0 ? 'error' : i % 10 === 5 ? 'warn' : 'info'
const nameOf = (i: number): string => 'aaaabbbccd'[i % 10]
const LINES = Array.from({ length: 60 }, (_, i) =>
  JSON.stringify({ level: levelOf(i), name: nameOf(i), duration: 10 + i, msg: `req-${i}` }))

async function open (browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.createBrowserContext()).newPage()
  await page.setViewport({ width: 1200, height: 800 })
  await page.goto(url)
  return page
}

t.test('the query box: charts, the lines behind a point, bars for topk, errors; levels in the histogram', async t => {
  if (!fs.existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: bin/logfs-setup installs Debian's chromium`)
    return
  }
  const server = await startServer(t)
  const ws = await connect(server.ws, TOKEN)
  let offset = 0
  const recs = LINES.map((line, i) => {
    const data = Buffer.from(line + '\n')
    offset += data.length
    return ['prod/api-1/app/app.log', offset - data.length, T0 + i * 10_000, data]
  })
  t.match((await exchange(ws, encodeFrame(batch(1, 'prod', recs), false))).frame, { t: 'ack' })
  ws.close()

  const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true })
  t.teardown(() => browser.close())
  const page = await open(browser, `${server.http}/#token=${TOKEN}`)
  await page.waitForSelector('table.sources')
  const range = `&since=${iso(T0)}&until=${iso(T0 + 600_000)}`
  const logql = (q: string, more = ''): string => `${server.http}/?logql=${encodeURIComponent(q)}${range}${more}`

  t.test('a metric query is a time-series chart, a series per label set; a point opens its lines', async t => {
    await page.goto(logql('sum by (level) (count_over_time({namespace="prod"} | json [1m]))', '&step=1m'))
    await page.waitForSelector('.time-chart canvas')
    const series = await page.$$eval('.time-chart .u-legend .u-series .u-label', ls => ls.map(l => l.textContent))
    t.same(series.slice(1).sort(), ['{level="error"}', '{level="info"}', '{level="warn"}'],
      'one series per level, named by its labels in the legend')
    fs.mkdirSync(SHOTS, { recursive: true })
    await page.screenshot({ path: path.join(SHOTS, 'query-chart.png') })
    // Near the top of the plot: the info series, the largest.
    const box = (await (await page.$('.time-chart .u-over'))!.boundingBox())!
    await page.mouse.click(box.x + box.width / 2, box.y + 4)
    await page.waitForSelector('.behind ol.lines li')
    const title = await page.$eval('.behind p', p => p.textContent ?? '')
    t.match(title, /^lines behind \{level="info"\}, /, 'the lines of the series clicked')
    const [from, to] = [...title.matchAll(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}/g)]
      .map(m => Date.parse(m[0].replace(' ', 'T') + 'Z'))
    const expected = LINES.filter((_, i) => levelOf(i) === 'info' && T0 + i * 10_000 > from && T0 + i * 10_000 <= to)
    t.equal(to - from, 60_000, 'over the range the point counted')
    const shown = await page.$$eval('.behind ol.lines li .text', ls => ls.map(l => l.textContent ?? ''))
    t.same(shown.sort(), expected.sort(), 'exactly the lines the point counted')
  })

  t.test('topk is a bar chart, a bar per series', async t => {
    await page.goto(logql('topk(3, sum by (name) (count_over_time({namespace="prod"} | json [10m])))'))
    await page.waitForSelector('.bar-chart canvas')
    const bars = await page.$$eval('.bar-chart ol.bar-labels li', ls => ls.map(l => l.textContent?.trim()))
    // The window (end - 10m, end] leaves out line 0, at its start.
    t.same(bars.sort(), ['{name="a"} 23', '{name="b"} 18', '{name="c"} 12'], 'the top three, with their values')
    await page.screenshot({ path: path.join(SHOTS, 'query-bars.png') })
    await page.goto(logql('topk(3, sum by (name) (count_over_time({namespace="none"} [10m])))'))
    await page.waitForSelector('.logql-view p.summary')
    t.equal(await page.$eval('.logql-view p.summary', p => p.textContent), 'no series', 'and no series, no chart')
  })

  t.test('a log query shows its lines; a bad query shows the error with its position', async t => {
    await page.goto(logql('{namespace="prod"} |= "req-30"'))
    await page.waitForSelector('.logql-view ol.lines li')
    t.same(await page.$$eval('.logql-view ol.lines li .text', ls => ls.map(l => l.textContent)), [LINES[30]])
    await page.goto(logql('sum(count_over_time({namespace="prod"} [1m])'))
    await page.waitForSelector('.query-error')
    t.match(await page.$eval('.query-error', e => e.textContent), /^parse error at line 1, column \d+: /,
      'the server\'s message, with the position')
    t.equal(await page.$eval('textarea[name=logql]', e => e.value), 'sum(count_over_time({namespace="prod"} [1m])',
      'the query stays in the box')
  })

  t.test('the histogram counts lines by level, and draws them stacked', async t => {
    const res = await fetch(`${server.http}/v1/histogram?since=${iso(T0)}&until=${iso(T0 + 600_000)}`,
      { headers: { authorization: `Bearer ${TOKEN}` } })
    const body = await res.json() as { bytes: number[], lines: number[], levels: Record<string, number[]> }
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
    t.equal(sum(body.bytes), offset, 'bytes, as before')
    t.equal(sum(body.lines), 60, 'lines')
    t.same(Object.fromEntries(Object.entries(body.levels).map(([l, xs]) => [l, sum(xs)])),
      { fatal: 0, error: 6, warn: 6, info: 48, debug: 0, trace: 0 }, 'lines per level')
    await page.goto(`${server.http}/?q=req`)
    await page.waitForSelector('.histogram rect.seg')
    const drawn = await page.$$eval('.histogram rect.seg', rs => rs.map(r =>
      [r.getAttribute('class'), Number(r.getAttribute('data-count'))] as [string, number]))
    const by = (l: string): number => sum(drawn.filter(([c]) => c === `seg lvl-${l}`).map(([, n]) => n))
    t.same([by('error'), by('warn'), by('info')], [6, 6, 48], 'each level stacked in the bars')
    t.match(await page.$eval('.histogram figcaption', e => e.textContent), /error 6.*warn 6.*info 48/s,
      'with the totals')
    await page.screenshot({ path: path.join(SHOTS, 'histogram-levels.png') })
  })

  t.test('labels and lines that are markup stay text, and a label with quotes narrows the lines behind', async t => {
    const name = '<img src=x onerror="window.pwned=1">'
    const line = JSON.stringify({ level: 'info', name, msg: '<script>window.pwned=2</script>' }) + '\n'
    const evil = await connect(server.ws, TOKEN)
    const rec = ['evil/x-1/c/app.log', 0, T0 + 5_000, Buffer.from(line)]
    t.match((await exchange(evil, encodeFrame(batch(1, 'evil', [rec]), false))).frame, { t: 'ack' })
    evil.close()
    await page.goto(logql('sum by (name) (count_over_time({namespace="evil"} | json [1m]))', '&step=1m'))
    await page.waitForSelector('.time-chart canvas')
    t.same(await page.$$eval('.time-chart .u-legend .u-series .u-label', ls => ls.slice(1).map(l => l.textContent)),
      [`{name=${JSON.stringify(name)}}`], 'the legend shows the label as text')
    const box = (await (await page.$('.time-chart .u-over'))!.boundingBox())!
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
    await page.waitForSelector('.behind ol.lines li')
    t.same(await page.$$eval('.behind ol.lines li .text', ls => ls.map(l => l.textContent)), [line.trimEnd()],
      'the line behind the point, found by its quoted label, as text')
    t.equal(await page.$$eval('img, main script', es => es.length), 0, 'no element came from the data')
    t.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'nothing ran')
  })
})

t.test('line counts from a sealed segment\'s sidecar and the open one\'s built blocks equal the lines', async t => {
  const server = await startServer(t, { args: ['--segment-size', '1MiB'] })
  const ws = await connect(server.ws, TOKEN)
  // 1.5 MiB of lines: the first segment closes at 1 MiB and gets its sidecar; the rest stays open, its whole blocks
  // built in memory, its last one counted from the bytes.
  const line = (i: number): string => `${['ERROR', 'WARN', 'INFO', 'noise'][i % 4]} line ${i} ${'x'.repeat(90)}\n`
  const data = Buffer.from(Array.from({ length: 15_000 }, (_, i) => line(i)).join(''))
  let seq = 0
  for (let at = 0; at < data.length; at += 256 * 1024) {
    const rec = ['solo/app.log', at, T0 + at, data.subarray(at, Math.min(data.length, at + 256 * 1024))]
    t.match((await exchange(ws, encodeFrame(batch(++seq, 'solo', [rec]), false))).frame, { t: 'ack' })
  }
  ws.close()
  await waitFor('a sidecar', () => fs.readdirSync(server.dataDir, { recursive: true })
    .some(f => String(f).endsWith('.idx')), 30_000)
  const res = await fetch(`${server.http}/v1/histogram?buckets=1`, { headers: { authorization: `Bearer ${TOKEN}` } })
  const body = await res.json() as { lines: number[], levels: Record<string, number[]> }
  t.same(body.lines, [15_000], 'every line, from both segments')
  t.same([body.levels.error, body.levels.warn, body.levels.info], [[3750], [3750], [3750]], 'and by level')
  // A graceful stop writes the open segment's sidecar, which the next start reads the open segment's counts from.
  server.proc.kill('SIGTERM')
  await server.exited
  const again = await startServer(t, { dataDir: server.dataDir, args: ['--segment-size', '1MiB'] })
  const after = await (await fetch(`${again.http}/v1/histogram?buckets=1`,
    { headers: { authorization: `Bearer ${TOKEN}` } })).json() as typeof body
  t.same([after.lines, after.levels.error], [[15_000], [3750]], 'the same after a restart')
})
