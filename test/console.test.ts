/// <reference lib="dom" />
// The web console (issue 15) in a real browser: Debian's Chromium driven by puppeteer-core, against a real server
// fed through a real mount. Screenshots of each view go to .tap/console/ (test artifacts).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { ROOT, TOKEN, append, arrived, startAgent, startServer, tempDir } from './helpers/cluster'

const CHROMIUM = '/usr/bin/chromium'
const SHOP_TOKEN = 'shop-token-0123456789'
const SHOTS = path.join(ROOT, '.tap/console')

const shopLines = Array.from({ length: 60 }, (_, i) => i === 30
  ? '{"level":"error","trace_id":"tr-9","msg":"payment needle-7 failed"}\n'
  : `shop line ${i} ok\n`)
const bankLines = Array.from({ length: 10 }, (_, i) => `bank line ${i} secret\n`)

async function open (browser: Browser, url: string): Promise<{ page: Page, requests: string[] }> {
  // A context of its own: a fresh sessionStorage, as a new tab of a new window has.
  const ctx = await browser.createBrowserContext()
  const page = await ctx.newPage()
  await page.setViewport({ width: 1200, height: 800 })
  const requests: string[] = []
  page.on('request', r => { requests.push(r.url()) })
  await page.goto(url)
  return { page, requests }
}

async function shot (page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true })
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) })
}

t.test('the console: sources, search with marks, context by cursor, tokens and tenants', async t => {
  if (!fs.existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: bin/logfs-setup installs Debian's chromium`)
    return
  }
  const dir = tempDir(t, 'tokens')
  const tokens = path.join(dir, 'tokens.json')
  fs.writeFileSync(tokens, JSON.stringify({ [SHOP_TOKEN]: ['shop'] }))
  const server = await startServer(t, { args: ['--tokens', tokens] })
  const agent = await startAgent(t, server)
  fs.mkdirSync(path.join(agent.mnt, 'shop'))
  fs.mkdirSync(path.join(agent.mnt, 'bank'))
  await append([[path.join(agent.mnt, 'shop/app.log'), shopLines.join('')],
    [path.join(agent.mnt, 'bank/db.log'), bankLines.join('')]])
  await arrived(server, 'testnode/shop/app.log', Buffer.byteLength(shopLines.join('')))
  await arrived(server, 'testnode/bank/db.log', Buffer.byteLength(bankLines.join('')))

  const page0 = await fetch(`${server.http}/`)
  t.equal(page0.status, 200, 'the page is served at /')
  t.match(page0.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/, 'with a strict CSP')

  const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true })
  t.teardown(() => browser.close())

  t.test('sources, with the token from the fragment', async t => {
    const { page, requests } = await open(browser, `${server.http}/#token=${TOKEN}`)
    await page.waitForSelector('table.sources tbody tr')
    const paths = await page.$$eval('table.sources tbody tr td:nth-child(3)', tds => tds.map(td => td.textContent))
    t.same(paths.sort(), ['bank/db.log', 'shop/app.log'], 'both sources listed')
    t.equal(await page.evaluate(() => location.hash), '', 'the token left the address bar')
    t.equal(await page.evaluate(() => sessionStorage.getItem('logfs-token')), TOKEN, 'and sits in sessionStorage')
    await shot(page, 'sources')
    t.same(requests.filter(u => !u.startsWith(server.http)), [], 'no request left the server\'s origin')
  })

  t.test('a search from the URL marks its hits; the context of a hit is its neighbours in the same source',
    async t => {
      const { page } = await open(browser, `${server.http}/#token=${TOKEN}`)
      await page.waitForSelector('table.sources')
      await page.goto(`${server.http}/?q=needle-7`)
      await page.waitForSelector('ol.lines mark')
      t.equal(await page.$eval('ol.lines mark', m => m.textContent), 'needle-7', 'the match is in <mark>')
      t.equal((await page.$$('ol.lines li')).length, 1, 'one hit')
      await shot(page, 'search')
      await page.click('ol.lines li a.src')
      await page.waitForSelector('li.anchor')
      const texts = async (): Promise<string[]> =>
        page.$$eval('ol.lines li .text', ls => ls.map(l => l.textContent ?? ''))
      const anchor = await page.$eval('li.anchor .text', l => l.textContent)
      t.equal(anchor, shopLines[30].trimEnd(), 'the anchor is the hit')
      const shown = await texts()
      const at = shown.indexOf(anchor ?? '')
      t.same(shown.slice(at - 2, at), ['shop line 28 ok', 'shop line 29 ok'], 'the lines before it, from its source')
      t.same(shown.slice(at + 1, at + 3), ['shop line 31 ok', 'shop line 32 ok'], 'and after it')
      t.equal(shown.length, 41, '20 lines each side')
      await shot(page, 'context')
      await page.click('button.more')
      await page.waitForFunction(() => document.querySelectorAll('ol.lines li').length === 51)
      t.equal((await texts())[0], 'shop line 0 ok', 'load more before reaches the first line')
      const link = await page.$eval('a.permalink', a => a.href)
      t.match(link, /\?ctx=testnode%2Fshop%2Fapp\.log%40\d+%3A\d+$/, 'a permalink to the line')
      await page.goto(link)
      await page.waitForSelector('li.anchor')
      t.equal(await page.$eval('li.anchor .text', l => l.textContent), anchor, 'which opens the same line')
    })

  t.test('a wrong token is refused, and the page asks again', async t => {
    const { page } = await open(browser, `${server.http}/#token=wrong-token-0000000`)
    await page.waitForSelector('p.error')
    t.match(await page.$eval('p.error', p => p.textContent), /refused the token/)
    t.ok(await page.$('form.token input[name=token]'), 'a token field')
    t.equal(await page.evaluate(() => sessionStorage.getItem('logfs-token')), null, 'the wrong token is forgotten')
  })

  t.test('a tenant\'s token does not show another tenant\'s sources', async t => {
    const { page } = await open(browser, `${server.http}/#token=${SHOP_TOKEN}`)
    await page.waitForSelector('table.sources tbody tr')
    const paths = await page.$$eval('table.sources tbody tr td:nth-child(3)', tds => tds.map(td => td.textContent))
    t.same(paths, ['shop/app.log'], 'only shop')
    await page.goto(`${server.http}/?q=secret`)
    await page.waitForSelector('p.summary')
    t.match(await page.$eval('p.summary', p => p.textContent), /^0 hits/, 'and a search does not reach bank')
  })
})
