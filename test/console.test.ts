/// <reference lib="dom" />
// The web console in a real browser: Debian's Chromium driven by puppeteer-core, against a real server
// fed through a real mount. Screenshots of each view go to .tap/console/ (test artifacts).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { ROOT, TOKEN, append, arrived, startAgent, startServer, tempDir } from './helpers/cluster'

const CHROMIUM = '/usr/bin/chromium'
const SHOP_TOKEN = 'shop-token-0123456789'
const SHOTS = path.join(ROOT, '.tap/console')

/** Line 30 is the search's needle; 10 and 30 are one trace; every tenth from 5 is a warning. */
const shopLines = Array.from({ length: 60 }, (_, i) => {
  if (i === 10) return '{"trace_id":"tr-9","rpc_id":"1","name":"checkout","duration":120}\n'
  if (i === 30) {
    return '{"level":"error","trace_id":"tr-9","rpc_id":"1.2","name":"pay","duration":80,' +
      '"msg":"payment needle-7 failed"}\n'
  }
  return i % 10 === 5 ? `WARN shop line ${i} slow\n` : `shop line ${i} ok\n`
})
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

  t.test('levels, the histogram, download, and the toggles', async t => {
    const { page } = await open(browser, `${server.http}/#token=${TOKEN}`)
    await page.waitForSelector('table.sources')
    await page.goto(`${server.http}/?q=shop+line`)
    await page.waitForSelector('ol.lines li')
    t.equal((await page.$$('ol.lines li')).length, 58, 'every line with the text')
    t.equal((await page.$$('ol.lines li.lvl-warn')).length, 6, 'warnings carry their level')
    await page.click('button.chip.lvl-warn')
    await page.waitForFunction(() => document.querySelectorAll('ol.lines li').length === 6)
    t.pass('the warn chip shows only warnings')
    await shot(page, 'levels')
    t.ok((await page.$$('.histogram rect.bar')).length >= 1, 'a histogram of the range')
    await page.evaluate(() => {
      const blobs: Blob[] = []
      Object.assign(window, { blobs })
      const create = URL.createObjectURL.bind(URL)
      URL.createObjectURL = (b: Blob) => { blobs.push(b); return create(b) }
    })
    await page.click('button.download')
    const file = await page.evaluate(() => (window as unknown as { blobs: Blob[] }).blobs[0].text())
    t.equal(file, shopLines.filter(l => l.startsWith('WARN')).join(''), 'download gives the shown lines')
    await page.click('button.chip.lvl-warn')
    // The bar holding the data (all of it was written at once) narrows the search to its bucket.
    const bars = await page.$$('.histogram rect.bar')
    const heights = await page.$$eval('.histogram rect.bar', rs => rs.map(r => Number(r.getAttribute('height'))))
    await bars[heights.findIndex(x => x > 0)].click()
    await page.waitForFunction(() => /since=.*until=/.test(location.search))
    await page.waitForSelector('ol.lines li')
    t.ok((await page.$$('ol.lines li')).length > 0, 'a bar click zooms the search to its time, which holds the lines')
    await page.click('input.timestamps')
    t.equal(await page.$eval('li.line .ts', e => getComputedStyle(e).display), 'none', 'times can be hidden')
    const theme = await page.evaluate(() => document.documentElement.dataset.theme)
    // Keys act outside text fields: a checkbox just clicked keeps the focus, and does not take them.
    await page.keyboard.press('d')
    // The theme is set by an effect, which runs after the render the key caused.
    await page.waitForFunction(was => document.documentElement.dataset.theme !== was, { timeout: 5000 }, theme)
      .catch(() => {})
    t.not(await page.evaluate(() => document.documentElement.dataset.theme), theme, 'd flips the theme')
    await page.keyboard.press('/')
    t.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'q', '/ focuses the search')
  })

  t.test('a trace id in a line opens the call tree', async t => {
    const { page } = await open(browser, `${server.http}/#token=${TOKEN}`)
    await page.waitForSelector('table.sources')
    await page.goto(`${server.http}/?q=needle-7`)
    await page.waitForSelector('a.trace')
    await page.click('a.trace')
    await page.waitForSelector('ul.tree li.span')
    t.equal(await page.$eval('ul.tree > li.span > .name', e => e.textContent), 'checkout', 'rpc 1 is the root')
    t.equal(await page.$eval('ul.tree > li.span > ul > li.span > .name', e => e.textContent), 'pay', '1.2 below it')
    t.ok(await page.$('ul.tree li.span.failed .err'), 'the failed call is marked')
    await shot(page, 'trace')
  })

  t.test('live tail: new lines, pause with a count, a filter, and a flood capped', async t => {
    const { page } = await open(browser, `${server.http}/#token=${TOKEN}`)
    await page.waitForSelector('table.sources')
    await page.goto(`${server.http}/?tail=testnode/shop/app.log`)
    await page.waitForFunction(() => document.querySelectorAll('ol.lines li').length === 50)
    t.pass('the last 50 lines first')
    const file = path.join(agent.mnt, 'shop/app.log')
    await append([[file, 'fresh line one\n']])
    await page.waitForFunction(() => document.body.textContent?.includes('fresh line one'))
    t.pass('a new line appears')
    await page.click('button.pause')
    await append([[file, 'held a\nheld b\nheld c\n']])
    await page.waitForFunction(() => document.querySelector('.held')?.textContent === '3 new lines while paused')
    t.notOk(await page.evaluate(() => document.body.textContent?.includes('held a')), 'nothing is shown while paused')
    await page.click('button.pause')
    await page.waitForFunction(() => document.body.textContent?.includes('held c'))
    t.pass('resume shows them')
    await page.type('input.filter', 'held')
    t.equal((await page.$$('ol.lines li')).length, 3, 'the filter keeps the matching lines')
    await shot(page, 'tail')
    await page.$eval('input.filter', e => { (e).value = '' })
    // 30,000 lines at once (too many for a child's argv): written from here, as the agent is another process.
    await fs.promises.appendFile(file, Array.from({ length: 30000 }, (_, i) => `flood ${i}\n`).join(''))
    await page.waitForSelector('.skipped', { timeout: 30000 })
    t.match(await page.$eval('.skipped', e => e.textContent), /^\d+ lines skipped$/, 'a flood is counted, not drawn')
    t.ok((await page.$$('ol.lines li')).length <= 2000, 'the list stays bounded')
    const t0 = Date.now()
    await page.evaluate(() => 1)
    t.ok(Date.now() - t0 < 2000, 'and the page answers')

    await page.goto(`${server.http}/?tail=${encodeURIComponent('*/shop/*.log')}`)
    await page.waitForSelector('.tail')
    // A glob follows from now on, and the page's stream may not be open yet: write until a line shows.
    for (let n = 0; !(await page.evaluate(() => document.body.textContent?.includes('through the glob'))); n++) {
      if (n === 20) throw new Error('no line through the glob')
      await append([[file, `through the glob ${n}\n`]])
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    t.pass('a glob is followed too')
  })

  t.test('load more, and 10,000 hits in view', async t => {
    const { page } = await open(browser, `${server.http}/#token=${TOKEN}`)
    await page.waitForSelector('table.sources')
    await page.goto(`${server.http}/?q=flood`)
    await page.waitForFunction(() => document.querySelectorAll('ol.lines li').length === 100)
    await page.click('button.more')
    await page.waitForFunction(() => document.querySelectorAll('ol.lines li').length === 200)
    t.match(await page.evaluate(() => location.search), /limit=200/, 'load more brings the next 100, in the URL')
    const t0 = Date.now()
    await page.goto(`${server.http}/?q=flood&limit=10000`)
    await page.waitForFunction(() => document.querySelectorAll('ol.lines li').length === 10000, { timeout: 60000 })
    t.comment(`10,000 hits drawn ${Date.now() - t0} ms after the page was asked for`)
    const t1 = Date.now()
    await page.evaluate(() => document.querySelectorAll('mark').length)
    t.ok(Date.now() - t1 < 2000, 'the page answers with 10,000 lines in view')
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

  t.test('tenants: each tenant against its limits, and a tenant token sees its own', async t => {
    const { page } = await open(browser, `${server.http}/#token=${TOKEN}`)
    await page.waitForSelector('table.sources')
    await page.click('a.tenants-link')
    await page.waitForSelector('table.tenants tbody tr')
    t.match(await page.evaluate(() => location.search), /^\?tenants/, 'the view is a link')
    const rows = async (p: typeof page): Promise<string[][]> => p.$$eval('table.tenants tbody tr',
      trs => trs.map(tr => Array.from(tr.querySelectorAll('td'), td => td.textContent ?? '')))
    const all = await rows(page)
    t.same(all.map(r => r[0]), ['bank', 'shop'], 'both tenants')
    const shop = all.find(r => r[0] === 'shop')!
    t.match(shop[2], /^\d+\.\d KiB \/ 10\.0 GiB$/, 'stored bytes against retention')
    t.equal(shop[4], '1', 'one source, no limit')
    t.equal(shop[6], '0 (4 at once)', 'no query waiting, 4 at once')
    await shot(page, 'tenants')
    const own = await open(browser, `${server.http}/?tenants#token=${SHOP_TOKEN}`)
    await own.page.waitForSelector('table.tenants tbody tr')
    t.same((await rows(own.page)).map(r => r[0]), ['shop'], 'a tenant token sees its tenant only')
  })
})
