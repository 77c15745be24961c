// README "Use it with Vite", step by step, in a real browser (issue 15,
// "Done when", items 2 to 4): the README's shell steps make the app (npm
// offline; Vite 7 and @vitejs/devtools-kit come from the e2e packages, not
// the registry; moonhost-client is installed from its path), its
// vite.config.js and page files are written as the README shows them,
// `moonhost run -- npx vite` starts both, and headless Debian Chromium
// (playwright-core; never a downloaded browser) opens the pages: one calls a
// Lua function through moonhost-client, receives a broadcast and calls over
// HTTP through Vite's proxy; the other does it with the Vite DevTools 0.8
// client. One Vite for the whole file; every wait is on the page's DOM or a
// log line, with a bound.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { Host, moonhostBin, repoRoot } from './lib/host.mjs'
import { fixedPort, scratchDir } from './lib/util.mjs'
import { readerProject, readmeBlocks, readmeFiles, readmeSection, run } from './lib/readme.mjs'

const SECTION = 'Use it with Vite'
const PAGE_TIMEOUT_MS = 60000
const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
]

let host, browser, viteUrl

/** Runs the README's shell block that makes the app, in dir; returns the app's directory. */
async function makeApp(dir) {
  const setup = readmeBlocks(SECTION).find((b) => b.lang === 'sh' && b.text.startsWith('mkdir '))
  assert.ok(setup, 'the section starts with the shell steps that make the app')
  const script = setup.text
    .replaceAll('MOONHOST', repoRoot)
    .replace('npm install vite@7 ', 'npm install ') // Vite: the e2e packages' (dir/node_modules)
  const env = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' }
  await run('sh', ['-ec', script], { cwd: dir, env })
  return join(dir, /^mkdir (\S+)/.exec(setup.text)[1])
}

before(async () => {
  const app = await makeApp(readerProject())
  const files = readmeFiles(SECTION)
  for (const name of ['vite.config.js', 'index.html', 'main.js', 'devtools.html', 'devtools.js']) {
    assert.ok(files[name], `the README shows ${name}`)
    writeFileSync(join(app, name), files[name])
  }
  // The documented command, on a free port for moonhost (the dev server learns
  // it from MOONHOST_URL) and a free one for Vite.
  const command = /^moonhost run -- (.*)$/m.exec(readmeSection(SECTION))
  assert.equal(command?.[1], 'npx vite')
  const vitePort = await fixedPort()
  const args = ['run', '--listen', '127.0.0.1:0', '--', 'npx', 'vite', '--port', String(vitePort), '--strictPort', '--host', '127.0.0.1']
  const child = spawn(moonhostBin, args, { cwd: app, env: { ...process.env, NO_COLOR: '1' } })
  host = new Host(child)
  await host.ready
  viteUrl = (await host.waitForLog(/\[dev\].*Local:\s+(http:\/\/127\.0\.0\.1:\d+\/)/, PAGE_TIMEOUT_MS))[1]
  browser = await chromium.launchPersistentContext(scratchDir('moonhost-e2e-chromium-'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
  })
})

after(async () => {
  await browser?.close()
  await host?.stop()
})

/**
 * Opens path in a fresh tab and resolves once every <output> of it shows
 * something (the README's pages start them empty), with their text and the URLs of the WebSockets the
 * page opened; a page error fails it at once, and what the page logged is in
 * every failure.
 */
async function outputsOf(t, path) {
  const page = await browser.newPage()
  t.after(() => page.close())
  const seen = []
  const sockets = []
  page.on('websocket', (ws) => sockets.push(ws.url()))
  page.on('console', (m) => seen.push(`console.${m.type()}: ${m.text()}`))
  page.on('requestfailed', (r) => seen.push(`request failed: ${r.url()} ${r.failure()?.errorText}`))
  const failed = new Promise((_, reject) => page.on('pageerror', (e) => reject(e)))
  try {
    await page.goto(new URL(path, viteUrl).href, { timeout: PAGE_TIMEOUT_MS })
    const settled = page.waitForFunction(
      () => [...document.querySelectorAll('output')].every((o) => o.textContent !== ''),
      null,
      { timeout: PAGE_TIMEOUT_MS },
    )
    await Promise.race([settled, failed])
    const outputs = await page.$$eval('output', (os) => Object.fromEntries(os.map((o) => [o.id, o.textContent])))
    return { outputs, sockets: sockets.map((u) => new URL(u)) }
  } catch (err) {
    err.message += `\npage log:\n${seen.join('\n')}\nhost log:\n${host.log.slice(-4000)}`
    throw err
  }
}

/** The sockets' host:port and path, to see that they went through Vite's origin. */
const dialled = (sockets) => sockets.map((u) => `${u.host}${u.pathname}`)

test('the README page calls demo:add, receives the demo:message broadcast and calls demo:echo over HTTP, through Vite', async (t) => {
  const { outputs, sockets } = await outputsOf(t, '/')
  assert.deepEqual(outputs, { sum: '5', message: 'hello from the page', http: 'hi over HTTP' })
  const vite = new URL(viteUrl).host
  assert.ok(dialled(sockets).includes(`${vite}/__ws`), `the page dialled /__ws on Vite's origin: ${sockets}`)
})

test('the README DevTools page: the Vite DevTools 0.8 client through the /__devtools proxy calls and receives the broadcast', async (t) => {
  const { outputs, sockets } = await outputsOf(t, '/devtools.html')
  assert.deepEqual(outputs, { sum: '5', message: 'hello from DevTools' })
  const vite = new URL(viteUrl).host
  assert.ok(dialled(sockets).includes(`${vite}/__devtools/__ws`), `the client dialled /__devtools/__ws on Vite's origin: ${sockets}`)
})
