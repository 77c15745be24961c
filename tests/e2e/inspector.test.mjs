// The inspector page (README "Inspector") in real headless Chromium (Debian's
// /usr/bin/chromium through playwright-core): it loads from the binary at
// /__moonhost/, shows the plugins, calls a function from its console, follows
// a hot reload and a reload button, tails the log; without the token its data
// calls are refused and it says why; a plugin error holding markup is shown
// as text; it fits a 360 px wide screen. Every wait is on the page's DOM or a
// log line, with a bound. Screenshots go to tests/e2e/artifacts/ (gitignored).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHost, writeTree, E2E_TOKEN, repoRoot } from './lib/host.mjs'
import { launchChromium } from './lib/readme.mjs'
import { ANNOUNCE } from './lib/mesh.mjs'

const WAIT_MS = 20000
const ARTIFACTS = join(repoRoot, 'tests/e2e/artifacts')
const XSS = `<img src=x onerror="window.pwned = 1">`

const demo = (extra = '') => `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'demo',
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function { name = 'demo:add', type = 'query', cache = true,
      handler = function(a, b) return a + b end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'demo:fail', type = 'action',
      handler = function() moonhost.error { code = 'bad_request', message = 'demo refuses' } end })
    -- Holds until demo:release: a call open, for the page's list of them.
    local released = false
    ctx.rpc.register(moonhost.define_rpc_function { name = 'demo:hold', type = 'action',
      handler = function() while not released do moonhost.sleep(0.005) end return 'released' end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'demo:release', type = 'action',
      handler = function() released = true end })
    ${extra}
  end,
}
`
// Fails to load, with markup in its message (line 2).
const broken = `local moonhost = require 'moonhost'
error(${JSON.stringify(XSS)})
`

let host, browser, dir

before(async () => {
  dir = writeTree({
    'plugins/demo.lua': demo(),
    'plugins/broken.lua': broken,
    'conf.d/00-test.lua': `return { auth = { tokens = { '${E2E_TOKEN}' }, generate_token = false } }`,
  })
  host = await startHost({ plugins: join(dir, 'plugins'), config: join(dir, 'conf.d') })
  browser = await launchChromium()
  mkdirSync(ARTIFACTS, { recursive: true })
})

after(async () => {
  await browser?.close()
  await host?.stop()
})

/** A fresh tab (its own sessionStorage) on the inspector; a page error fails the test. */
async function open(t, query = '') {
  const page = await browser.newPage()
  t.after(() => page.close())
  const errors = []
  page.on('pageerror', (e) => errors.push(e))
  t.after(() => assert.deepEqual(errors, [], 'no page errors'))
  await page.goto(`http://127.0.0.1:${host.port}/__moonhost/${query}`, { timeout: WAIT_MS })
  return page
}

const row = (page, table, text) => page.locator(`#${table} tbody tr`, { hasText: text })
async function screenshot(t, page, name, fullPage = true) {
  const path = join(ARTIFACTS, name)
  await page.screenshot({ path, fullPage })
  t.diagnostic(`screenshot: ${path}`)
}

test('the inspector shows plugins, calls from its console, follows reloads and tails the log', async (t) => {
  const page = await open(t, `?token=${E2E_TOKEN}`)
  await row(page, 'plugins', 'demo').waitFor({ timeout: WAIT_MS })
  assert.ok(!page.url().includes('token='), `the token left the address bar: ${page.url()}`)
  assert.match(await row(page, 'plugins', 'demo').textContent(), /demo1.*demo\.lua/s, 'name, generation 1, file')
  assert.match(await row(page, 'functions', 'demo:add').textContent(), /demo:addquerycacheddemo/)

  // The console, by keyboard: pick the function, type the arguments, Enter.
  await page.selectOption('#fn', 'demo:add')
  await page.focus('#args')
  await page.keyboard.press('ControlOrMeta+a')
  await page.keyboard.type('[2, 3]')
  await page.keyboard.press('Enter')
  await page.locator('#call-time', { hasText: /\d+(\.\d+)? ms/ }).waitFor({ timeout: WAIT_MS })
  assert.equal(await page.textContent('#call-result'), '5')
  await page.selectOption('#fn', 'demo:fail')
  await page.click('#call')
  await page.locator('#call-result.err').waitFor({ timeout: WAIT_MS })
  assert.equal(await page.textContent('#call-result'), 'bad_request: demo refuses')
  // The calls show in the function's numbers (refreshed every 2 s).
  await row(page, 'functions', 'demo:add').locator('td[data-label="Calls"]', { hasText: /^1$/ }).waitFor({ timeout: WAIT_MS })

  // Hot reload: the file changes, the page sees generation 2 and the new function.
  writeFileSync(join(dir, 'plugins/demo.lua'), demo(`ctx.rpc.register(moonhost.define_rpc_function {
      name = 'demo:added', type = 'action', handler = function() return 'new' end })`))
  await row(page, 'functions', 'demo:added').waitFor({ timeout: WAIT_MS })
  await row(page, 'plugins', /demo2/).waitFor({ timeout: WAIT_MS })
  // ... and the log tail got the host's line about it, live.
  await page.locator('#log li', { hasText: 'demo: loaded (generation 2)' }).waitFor({ timeout: WAIT_MS })

  // The reload button, by keyboard.
  await row(page, 'plugins', 'demo').getByRole('button', { name: 'Reload demo' }).focus()
  await page.keyboard.press('Enter')
  await page.locator('#status', { hasText: 'demo: loaded (generation 3)' }).waitFor({ timeout: WAIT_MS })
  await row(page, 'plugins', /demo3/).waitFor({ timeout: WAIT_MS })
  await page.locator('#log li', { hasText: 'demo: loaded (generation 3)' }).waitFor({ timeout: WAIT_MS })

  // Clients: this page, trusted, over JSON.
  assert.match(await row(page, 'clients', 'this page').textContent(), /\(this page\)jsonyes/)
  await screenshot(t, page, 'inspector.png')
  assert.ok(!host.log.includes(E2E_TOKEN), 'the token is never logged')
  assert.ok(!(await page.textContent('#log')).includes(E2E_TOKEN), 'nor shown in the tail')
})

test('the page is sent with no-referrer and a Content-Security-Policy that allows only its own files (docs/security.md)', async () => {
  const res = await fetch(`http://127.0.0.1:${host.port}/__moonhost/?token=${E2E_TOKEN}`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer')
  const csp = Object.fromEntries(res.headers.get('content-security-policy').split(';').map((d) => {
    const [name, ...values] = d.trim().split(/\s+/)
    return [name, values.join(' ')]
  }))
  assert.equal(csp['default-src'], "'none'")
  for (const d of ['script-src', 'style-src', 'connect-src']) assert.equal(csp[d], "'self'", d)
  assert.equal(csp['frame-ancestors'], "'none'")
  // The page holds no data: the token in its URL is not in it.
  assert.ok(!(await res.text()).includes(E2E_TOKEN))
})

test('without the token the data calls are refused, and the page says why', async (t) => {
  const refusals = (host.log.match(/untrusted call to moonhost:inspect:overview refused: no token/g) || []).length
  const page = await open(t)
  await page.locator('#status.bad', { hasText: 'refused' }).waitFor({ timeout: WAIT_MS })
  assert.match(await page.textContent('#status'), /rejected: the caller is not authorized \(no token\).*\?token=TOKEN/s)
  await host.waitForLogCount(/untrusted call to moonhost:inspect:overview refused: no token/, refusals + 1, WAIT_MS)
  assert.equal(await page.locator('#plugins tbody tr', { hasText: 'demo' }).count(), 0, 'no plugin shown')
  assert.equal(await page.locator('#log li').count(), 0, 'no log line shown')

  // Entering the token (a password field with a label) brings the data.
  await page.getByLabel('Token').fill(E2E_TOKEN)
  await page.getByLabel('Token').press('Enter')
  await row(page, 'plugins', 'demo').waitFor({ timeout: WAIT_MS })
  await page.locator('#log li').first().waitFor({ timeout: WAIT_MS })
})

test('a plugin error holding markup is shown as text, with its file:line', async (t) => {
  const page = await open(t, `?token=${E2E_TOKEN}`)
  const cell = row(page, 'plugins', 'broken').locator('td[data-label="Last error"]')
  await cell.locator('.err').waitFor({ timeout: WAIT_MS })
  const text = await cell.textContent()
  assert.ok(text.includes(XSS), `the markup as text: ${text}`)
  assert.match(await cell.locator('code.where').textContent(), /broken\.lua:2$/)
  assert.equal(await row(page, 'plugins', 'broken').locator('td[data-label="Generation"]').textContent(), 'not serving')
  assert.equal(await page.locator('img').count(), 0, 'no element made from it')
  assert.equal(await page.evaluate(() => window.pwned), undefined)
})

test('readable at 360 px: nothing wider than the screen', async (t) => {
  const page = await open(t, `?token=${E2E_TOKEN}`)
  await page.setViewportSize({ width: 360, height: 780 })
  await row(page, 'plugins', 'demo').waitFor({ timeout: WAIT_MS })
  const width = await page.evaluate(() => document.documentElement.scrollWidth)
  assert.ok(width <= 360, `page is ${width} px wide`)
  // Cells carry their column's name when rows become cards.
  assert.equal(await page.locator('#functions thead').evaluate((e) => e.getBoundingClientRect().height <= 1), true)
  await screenshot(t, page, 'inspector-360.png', false) // the first screen, as a phone shows it
})

test('the log tail leaves out the start-up line that carries a generated token', async (t) => {
  const tree = writeTree({ 'plugins/demo.lua': demo(), 'conf.d/00-test.lua': 'return { auth = { generate_token = true } }' })
  const h = await startHost({ plugins: join(tree, 'plugins'), config: join(tree, 'conf.d') })
  t.after(() => h.stop())
  // The line comes right after "listening on", which startHost waited for.
  const [, token] = await h.waitForLog(/__ws\?token=([0-9a-f]{32}) \(token made at start/, WAIT_MS)
  const c = await h.connect({}, {}, { token })
  const { lines } = await c.rpc['moonhost:inspect:logs']()
  const text = lines.map((l) => `[${l.area}] ${l.msg}`).join('\n')
  assert.match(text, /\[host\] listening on ws:\/\/127\.0\.0\.1:\d+\/__ws/, 'start-up lines are in the tail')
  assert.ok(!text.includes(token), `no line with the token:\n${text}`)
  assert.doesNotMatch(text, /connect with/)
})

test('mesh peers, shared state keys and calls open show up, and go', async (t) => {
  const page = await open(t, `?token=${E2E_TOKEN}`)
  await row(page, 'plugins', 'demo').waitFor({ timeout: WAIT_MS })
  assert.equal(await page.locator('#runs-section').isHidden(), true, 'no call open: no such section')
  assert.match(await page.textContent('#state'), /devframe:services/, "the host's own shared state key")
  assert.match(await page.textContent('#peers'), /no peers announced/)

  const peer = await host.connect()
  t.after(() => peer.close())
  const me = await peer.rpc[ANNOUNCE]({ role: 'inspector-test' })
  const held = peer.rpc['demo:hold']()
  await page.locator('#peers li', { hasText: /inspector-test/ }).waitFor({ timeout: WAIT_MS })
  assert.match(await page.textContent('#peers'), new RegExp(me.id ?? 'inspector-test'))
  const run = page.locator('#runs tbody tr', { hasText: 'demo:hold' })
  await run.waitFor({ timeout: WAIT_MS })
  assert.match(await run.textContent(), /demo:holdaction1\d+ ms/)
  await screenshot(t, page, 'inspector-open-call.png')

  await peer.rpc['demo:release']()
  assert.equal(await held, 'released')
  await page.locator('#runs-section').waitFor({ state: 'hidden', timeout: WAIT_MS })
  peer.close()
  await page.locator('#peers li', { hasText: 'no peers announced' }).waitFor({ timeout: WAIT_MS })
})

test('bad input to the inspector functions: a clear error, a log line, and the host goes on', async () => {
  const c = await host.connect()
  const codeOf = (p) => p.then(() => 'resolved', (e) => e.message)
  assert.match(await codeOf(c.rpc['moonhost:inspect:reload'](42)), /takes one argument, a plugin name/)
  await host.waitForLog(/\[inspect\] moonhost:inspect:reload refused: its argument is not one plugin name/, WAIT_MS)
  assert.match(await codeOf(c.rpc['moonhost:inspect:reload']('nope')), /no plugin named "nope"/)
  await host.waitForLog(/\[inspect\] moonhost:inspect:reload refused: no plugin named "nope"/, WAIT_MS)
  // Over HTTP there is no socket to send lines to.
  const res = await fetch(`http://127.0.0.1:${host.port}/rpc/moonhost/inspect/logs`, {
    method: 'POST', headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' }, body: '{}' })
  const body = await res.json()
  assert.equal(body.json.code, 'BAD_REQUEST', JSON.stringify(body))
  assert.match(body.json.message, /call it over a WebSocket/)
  await host.waitForLog(/\[inspect\] moonhost:inspect:logs refused: called without a WebSocket client/, WAIT_MS)
  // Still serving, and the overview answers over HTTP too.
  const o = await fetch(`http://127.0.0.1:${host.port}/rpc/moonhost/inspect/overview`, {
    method: 'POST', headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' }, body: '{}' })
  assert.ok((await o.json()).json.plugins.some((p) => p.name === 'demo'))
  c.close()
})
