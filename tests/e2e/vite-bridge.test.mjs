// The Vite bridge (issue 18): docs/vite.md's app made as the page says (npm
// offline: Vite from the e2e packages, moonhost-client and
// vite-plugin-moonhost from their paths), a real moonhost running the
// shipped plugins/vite_graph.lua, a real Vite 7, and headless Debian
// Chromium (playwright-core). The docs' panel is opened first. Then a page
// imports `virtual:moonhost`, calls a Lua function that asks Vite (the mesh
// peer role 'vite') for its module graph, and sees the broadcast Lua sends
// on each HMR update; the same still works after Vite restarts itself (its
// config changed), after moonhost restarts on the same port, after a plugin
// reload and after a new Vite process. Every wait is on a log line or the
// page's DOM, with a bound.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { E2E_TOKEN, Host, fixtures, moonhostBin, repoRoot } from './lib/host.mjs'
import { fixedPort } from './lib/util.mjs'
import { launchChromium, makeReaderApp, readmeFiles, readmeSection, run } from './lib/readme.mjs'

const WAIT_MS = 30000

const DOC = 'docs/vite.md'
const SECTION = 'From `npm install` to a panel'
const docFiles = readmeFiles(SECTION, DOC)

const TEST_HTML = `<!doctype html>
<meta charset="utf-8" />
<title>vite bridge</title>
<p>modules: <output id="size"></output></p>
<p>message: <output id="msg"></output></p>
<script type="module" src="/test.js"></script>
`

// The test's own page (test.html), beside the docs' panel.
const MAIN_JS = `import { rpc } from 'virtual:moonhost'
import './src/msg.js'

const show = (id, value) => (document.getElementById(id).textContent = value)
window.hmr = []
window.rpc = rpc
rpc.register({ name: 'vite_graph:hmr', type: 'event', handler: (u) => window.hmr.push(u) })
show('size', String(await rpc.call('vite_graph:size')))
`

// Applied in place by HMR (it accepts itself), so the page stays and keeps its socket.
const msgSource = (n) => `export const message = 'edit ${n}'
document.getElementById('msg').textContent = message
if (import.meta.hot) import.meta.hot.accept()
`

// A plugin that hands the test what ctx.vite gives Lua: calls, and the events vite_graph does not use.
const PROBE_LUA = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'vite_probe',
  setup = function(ctx)
    for _, name in ipairs { 'vite:file-change', 'vite:error' } do
      ctx.vite.on(name, function(data)
        ctx.log.info('heard %s %s (generation %d)', name, tostring(data.file or data.message), ctx.generation)
        ctx.rpc.broadcast('vite_probe:event', name, data)
      end)
    end
    ctx.rpc.register { name = 'vite_probe:call', type = 'action', handler = function(name, arg) return ctx.vite.call(name, arg) end }
    ctx.rpc.register { name = 'vite_probe:connected', type = 'action', handler = function() return ctx.vite.connected() end }
    ctx.rpc.register { name = 'vite_probe:bad-on', type = 'action', handler = function()
      local ok, err = pcall(ctx.vite.on, 'vite:nope', print)
      return tostring(err)
    end }
  end,
}
`

let app, hostPort, vitePort, host, vite, browser
let edits = 0

/** A process's output, and waits on it (no polling: re-checked on each write). */
class Output {
  constructor(child) {
    this.text = ''
    this.child = child
    this.exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })))
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => (this.text += d))
  }

  /** Resolves with the match of re in the output written after offset `from`. */
  waitFor(re, from = 0, timeoutMs = WAIT_MS) {
    return new Promise((res, rej) => {
      const check = () => {
        const m = re.exec(this.text.slice(from))
        if (!m) return
        done()
        res(m)
      }
      const timer = setTimeout(() => {
        done()
        rej(new Error(`never saw ${re}:\n${this.text.slice(-4000)}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.child.stdout.off('data', check)
        this.child.stderr.off('data', check)
      }
      this.child.stdout.on('data', check)
      this.child.stderr.on('data', check)
      check()
    })
  }
}

async function startHost() {
  const plugins = join(app, 'plugins') // the docs' step copied vite_graph.lua there
  writeFileSync(join(plugins, 'vite_probe.lua'), PROBE_LUA)
  const args = ['run', '--listen', `127.0.0.1:${hostPort}`, '--log-level', 'debug', '--plugins', plugins, '--config', join(fixtures, 'conf.d')]
  const h = new Host(spawn(moonhostBin, args, { cwd: app }))
  await h.ready
  return h
}

before(async () => {
  app = await makeReaderApp(SECTION, DOC)
  for (const name of ['vite.config.js', 'index.html', 'main.js', 'src/hello.js']) {
    assert.ok(docFiles[name], `${DOC} shows ${name}`)
    writeFileSync(join(app, name), docFiles[name])
  }
  writeFileSync(join(app, 'test.html'), TEST_HTML)
  writeFileSync(join(app, 'test.js'), MAIN_JS)
  writeFileSync(join(app, 'src/msg.js'), msgSource(0))
  hostPort = await fixedPort()
  do vitePort = await fixedPort()
  while (vitePort === hostPort)
  host = await startHost()
  vite = await startVite()
  browser = await launchChromium()
})

/** Vite in the app, told what `moonhost run -- npx vite` tells it (by hand, so that moonhost can restart alone). */
async function startVite() {
  const env = { ...process.env, NO_COLOR: '1', MOONHOST_URL: `http://127.0.0.1:${hostPort}`, MOONHOST_TOKEN: E2E_TOKEN }
  const viteBin = join(app, '..', 'node_modules', 'vite', 'bin', 'vite.js')
  const child = spawn(process.execPath, [viteBin, '--port', String(vitePort), '--strictPort', '--host', '127.0.0.1'], { cwd: app, env })
  const out = new Output(child)
  await out.waitFor(/mesh peer 'vite' ready; events go to: vite_graph:on-vite-event, vite_probe:on-vite-event/)
  return out
}

async function stopVite() {
  if (vite.child.exitCode === null && vite.child.signalCode === null) vite.child.kill('SIGTERM')
  await vite.exited
}

after(async () => {
  await browser?.close()
  if (vite) await stopVite()
  await host?.stop()
})

/** A fresh tab on Vite's page, once it shows the graph's size; a page error fails it at once. */
async function openPage(t, path = '/test.html') {
  const page = await browser.newPage()
  t.after(() => page.close())
  const seen = []
  page.on('console', (m) => seen.push(`console.${m.type()}: ${m.text()}`))
  const failed = new Promise((_, reject) => page.on('pageerror', (e) => reject(e)))
  try {
    await page.goto(`http://127.0.0.1:${vitePort}${path}`, { timeout: WAIT_MS })
    await Promise.race([page.waitForFunction(() => document.getElementById('size').textContent !== '', null, { timeout: WAIT_MS }), failed])
  } catch (err) {
    err.message += `\npage log:\n${seen.join('\n')}\nvite:\n${vite.text.slice(-3000)}\nhost:\n${host.log.slice(-3000)}`
    throw err
  }
  return { page, failed, seen }
}

/** Edits src/msg.js and waits for the page to receive Lua's vite_graph:hmr broadcast about it. */
async function editAndSeeBroadcast({ page, failed }) {
  const before = await page.evaluate(() => window.hmr.length)
  writeFileSync(join(app, 'src/msg.js'), msgSource(++edits))
  const seen = page.waitForFunction((n) => window.hmr.length > n && window.hmr.some((u) => u.paths.includes('/src/msg.js')), before, {
    timeout: WAIT_MS,
  })
  try {
    await Promise.race([seen, failed])
  } catch (err) {
    const got = await page.evaluate(() => JSON.stringify(window.hmr)).catch((e) => e.message)
    err.message += `\npage's broadcasts: ${got}\nvite:\n${vite.text.slice(-3000)}\nhost:\n${host.log.slice(-3000)}`
    throw err
  }
  const update = await page.evaluate(() => window.hmr.find((u) => u.paths.includes('/src/msg.js')))
  assert.equal(update.type, 'update')
  assert.ok(update.size >= 3, `the broadcast carries the graph size from Vite: ${JSON.stringify(update)}`)
  await page.waitForFunction((n) => document.getElementById('msg').textContent === `edit ${n}`, edits, { timeout: WAIT_MS })
}

async function sizeShown(page) {
  const size = Number(await page.textContent('#size'))
  assert.ok(Number.isInteger(size) && size >= 3, `vite_graph:size answers the size of Vite's module graph: ${size}`)
  return size
}

test('the docs/vite.md panel shows Vite\'s module graph and a line for each HMR update', async (t) => {
  assert.match(readmeSection(SECTION, DOC), /^moonhost run -- npx vite$/m)
  const { page, failed } = await openPage(t, '/')
  const rows = await page.$$eval('#modules tr', (trs) => trs.map((tr) => tr.cells[0].textContent))
  assert.ok(rows.includes('/main.js') && rows.includes('/src/hello.js'), `the table lists the page's modules: ${rows}`)
  assert.equal(Number(await page.textContent('#size')) >= rows.length, true)
  writeFileSync(join(app, 'src/hello.js'), docFiles['src/hello.js'].replace('and save.', 'and save. Saved.'))
  const line = page.waitForFunction(() => [...document.querySelectorAll('#updates li')].some((li) => /^update: \/src\/hello\.js \(\d+ modules\)$/.test(li.textContent)), null, { timeout: WAIT_MS })
  await Promise.race([line, failed])
  await page.waitForFunction(() => document.getElementById('hello').textContent.endsWith('Saved.'), null, { timeout: WAIT_MS })
})

test('the page imports virtual:moonhost, gets the module graph size from Lua (asked of Vite) and the HMR broadcast', async (t) => {
  const tab = await openPage(t)
  await sizeShown(tab.page)
  const graph = await tab.page.evaluate(() => window.rpc.call('vite_graph:modules', 1000))
  const urls = graph.modules.map((m) => m.url)
  assert.ok(urls.includes('/test.js') && urls.includes('/src/msg.js'), `the graph holds the page's modules: ${urls}`)
  const main = graph.modules.find((m) => m.url === '/test.js')
  assert.ok(main.imported.some((id) => id.endsWith('/src/msg.js')), 'imported lists what test.js imports')
  assert.ok(main.transformedAt > 0 && main.size > 0, 'size and last transform time are there')
  await editAndSeeBroadcast(tab)
})

test('after Vite restarts itself (its config changed) Lua hears vite:server-restart and the page still works', async (t) => {
  const from = vite.text.length
  const hostFrom = host.log.length
  writeFileSync(join(app, 'vite.config.js'), docFiles['vite.config.js'] + '// changed\n')
  await vite.waitFor(/mesh peer 'vite' ready/, from)
  await vite.waitFor(/server restarted\./, from) // listening again
  assert.doesNotMatch(vite.text.slice(from), /lost moonhost/, 'the old link closed on purpose, and says nothing')
  await host.waitForLogState((log) => /vite restarted \(1 in this process\)/.test(log.slice(hostFrom)), 'the restart event in Lua', WAIT_MS)
  const tab = await openPage(t)
  await sizeShown(tab.page)
  await editAndSeeBroadcast(tab)
})

test('after moonhost restarts on the same port the link reconnects by itself, sends what happened meanwhile, and the page still works', async (t) => {
  const from = vite.text.length
  await host.stop()
  await vite.waitFor(/lost moonhost \(close code \d+\); reconnecting/, from)
  writeFileSync(join(app, 'src/while-down.txt'), 'written while moonhost was down\n')
  await vite.waitFor(/keeping the dev server's events until moonhost is back/, from)
  host = await startHost()
  await vite.waitFor(/reconnected to moonhost[\s\S]*mesh peer 'vite' ready; events go to: vite_graph:on-vite-event, vite_probe:on-vite-event/, from)
  await host.waitForLog(/\[vite_probe\] heard vite:file-change \S*\/src\/while-down\.txt/, WAIT_MS)
  const tab = await openPage(t)
  await sizeShown(tab.page)
  await editAndSeeBroadcast(tab)
})

/** A client of moonhost that collects vite_probe:event broadcasts; next(pred) waits for one. */
async function probeEvents(t) {
  const events = []
  const waiters = []
  const client = await host.connect({
    'vite_probe:event': (event, data) => {
      events.push({ event, data })
      for (const w of [...waiters]) if (w.pred({ event, data })) w.resolve({ event, data })
    },
  })
  t.after(() => client.close())
  const next = (pred, what) =>
    new Promise((resolve, reject) => {
      const found = events.find(pred)
      if (found) return resolve(found)
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms; got ${JSON.stringify(events)}`)), WAIT_MS)
      waiters.push({ pred, resolve: (v) => (clearTimeout(timer), resolve(v)) })
    })
  return { rpc: client.rpc, next }
}

test('Lua calls vite:config, vite:transform and vite:invalidate, and hears vite:file-change and vite:error', async (t) => {
  const { rpc, next } = await probeEvents(t)
  assert.equal(await rpc['vite_probe:connected'](), true)
  const config = await rpc['vite_probe:call']('vite:config')
  assert.equal(config.root, app)
  assert.equal(config.server.port, vitePort)
  assert.ok(config.plugins.includes('moonhost'), `plugins: ${config.plugins}`)
  assert.deepEqual(config.envPrefix, ['VITE_'])
  assert.ok(config.server.proxy.includes('/__ws') && config.server.proxy.includes('/rpc'), `proxies: ${config.server.proxy}`)

  const out = await rpc['vite_probe:call']('vite:transform', '/src/msg.js')
  assert.match(out.code, /edit \d+/)
  assert.equal(out.size, out.code.length)
  assert.ok(out.id.endsWith('/src/msg.js'))
  assert.deepEqual(await rpc['vite_probe:call']('vite:invalidate', '/src/msg.js'), { invalidated: 1 })
  await assert.rejects(rpc['vite_probe:call']('vite:invalidate', '/nowhere.js'), (e) => {
    assert.equal(e.code, 'not_found') // Vite's error code, through the relay and Lua
    assert.match(e.message, /no module \/nowhere\.js in the graph/)
    return true
  })
  assert.match(await rpc['vite_probe:call']('vite:config').then(() => rpc['vite_probe:bad-on']()), /unknown event "vite:nope"/)

  writeFileSync(join(app, 'src/note.txt'), 'new file\n')
  const change = await next((e) => e.event === 'vite:file-change' && e.data.file.endsWith('/src/note.txt'), 'file-change for note.txt')
  assert.equal(change.data.kind, 'add')

  // A broken module: the page asks for it after the HMR update and Vite sends it the error.
  const broken = await openPage(t)
  writeFileSync(join(app, 'src/msg.js'), 'export const message = (\n')
  const error = await next((e) => e.event === 'vite:error', 'vite:error')
  assert.ok(error.data.message.length > 0 && /msg\.js/.test(JSON.stringify(error.data)), JSON.stringify(error.data))
  // Mended, in a fresh page (the broken one may take the fix as a full reload, which Vite decides).
  await broken.page.close()
  writeFileSync(join(app, 'src/msg.js'), msgSource(edits))
  await editAndSeeBroadcast(await openPage(t))
})

test('a reloaded plugin keeps its subscription: Vite reads the subscribers again and the new generation hears the events', async () => {
  const from = vite.text.length
  const hostFrom = host.log.length
  writeFileSync(join(app, 'plugins', 'vite_probe.lua'), PROBE_LUA + '-- reloaded\n')
  await host.waitForLogState((log) => /vite_probe: loaded \(generation 2\)/.test(log.slice(hostFrom)), 'the reload', WAIT_MS)
  await vite.waitFor(/mesh peer 'vite' ready; events go to: vite_graph:on-vite-event, vite_probe:on-vite-event/, from)
  writeFileSync(join(app, 'src/after-reload.txt'), 'after the reload\n')
  await host.waitForLog(/heard vite:file-change \S*\/src\/after-reload\.txt \(generation 2\)/, WAIT_MS)
})

test('a new Vite process is a new peer: the old one leaves the directory, Lua calls the new one', async (t) => {
  const peer = [...host.log.matchAll(/\[mesh\] (\S+) joined as vite/g)].at(-1)[1]
  await stopVite()
  await host.waitForLog(new RegExp(`\\[ws\\] ${peer} disconnected`), WAIT_MS) // out of the directory
  vite = await startVite()
  const tab = await openPage(t)
  await sizeShown(tab.page)
  await editAndSeeBroadcast(tab)
})

test('moonhost()\'s proxies pass /__moonhost and the oRPC prefix on to moonhost', async () => {
  const health = await (await fetch(`http://127.0.0.1:${vitePort}/__moonhost/health`)).json()
  assert.equal(health.ok, true)
  const res = await fetch(`http://127.0.0.1:${vitePort}/rpc/vite_graph/size`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
    body: '{}',
  })
  assert.equal(res.status, 200)
  assert.ok((await res.json()).json >= 3)
})

test('the package\'s types: moonhost() options and virtual:moonhost check with tsc, and a wrong use fails', async () => {
  const tsc = join(app, '..', 'node_modules', 'typescript', 'bin', 'tsc')
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'esnext', moduleResolution: 'bundler', strict: true, noEmit: true, skipLibCheck: true,
      types: ['vite-plugin-moonhost/virtual'] },
    files: ['check.ts'],
  }))
  const good = `import moonhost, { type ViteModuleGraph } from 'vite-plugin-moonhost'
import { rpc, token, RpcError } from 'virtual:moonhost'
export const plugin = moonhost({ tokenInPage: false, rpcPrefix: '/rpc', peer: true })
export const graph: ViteModuleGraph = { size: 0, modules: [] }
export const n: Promise<number> = rpc.call<number>('vite_graph:size')
export const t: string | undefined = token
export const e: typeof RpcError = RpcError
`
  writeFileSync(join(app, 'check.ts'), good)
  await run(process.execPath, [tsc, '-p', app])
  writeFileSync(join(app, 'check.ts'), good + `export const bad: number = token\nmoonhost({ tokenInPage: 'sometimes' })\n`)
  const err = await run(process.execPath, [tsc, '-p', app]).then(() => null, (e) => e)
  assert.match(err?.message ?? '', /check\.ts\(8,14\): error TS2322[\s\S]*check\.ts\(9,12\): error TS2322/)
})

test('virtual:moonhost carries the token only while Vite serves on loopback (never in a build), unless told', async () => {
  const { default: moonhost } = await import(pathToFileURL(join(repoRoot, 'npm/vite-plugin-moonhost/index.js')).href)
  const warnings = []
  const logger = { warn: (m) => warnings.push(m), info: () => {} }
  const tokenIn = (options, host, command = 'serve') => {
    const plugin = moonhost({ token: 'secret', peer: false, ...options })
    plugin.configResolved({ command, server: { host }, logger })
    return /export const token = "secret"/.test(plugin.load('\0virtual:moonhost'))
  }
  assert.equal(tokenIn({}, undefined), true)
  assert.equal(tokenIn({}, '127.0.0.1'), true)
  assert.equal(tokenIn({}, '0.0.0.0'), false)
  assert.match(warnings.join('\n'), /listens beyond loopback: virtual:moonhost carries no token/)
  assert.equal(tokenIn({}, true), false)
  assert.equal(tokenIn({ tokenInPage: true }, '0.0.0.0'), true)
  assert.equal(tokenIn({ tokenInPage: false }, undefined), false)
  assert.equal(tokenIn({}, undefined, 'build'), false) // vite build: files for others
  assert.match(warnings.at(-1), /a build: virtual:moonhost carries no token/)
  assert.equal(tokenIn({ tokenInPage: true }, undefined, 'build'), true)
})
