// Hot reload (issue #3): plugins/ and conf.d/ are watched; a changed plugin
// is reloaded as a new generation while clients keep calling, a bad version
// never replaces a good one, a deleted plugin is unloaded; `moonhost reload`
// and SIGHUP reload on demand; ctx.watch reports project files.
//
// Synchronisation is by events pushed to the clients
// (moonhost:functions-changed, moonhost:plugin-error, files:changed), by
// replies and by log lines, never by sleeping.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { rejectionOf, deferred, tempTree, scratchDir, configDir, runMoonhost, fixtures } from './lib/util.mjs'
import { startHost, moonhostBin } from './lib/host.mjs'

const reloadFixtures = join(fixtures, 'reload')

/** A plugin file: name, and the Lua source of its setup body. */
const plugin = (name, body) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = '${name}', setup = function(ctx)
${body}
end }
`
/** A function answering the generation of the plugin version that runs it. */
const genFn = (name) =>
  `  ctx.rpc.register(moonhost.define_rpc_function { name = '${name}', type = 'action', handler = function() return ctx.generation end })`
const constFn = (name, value, type = 'query') =>
  `  ctx.rpc.register(moonhost.define_rpc_function { name = '${name}', type = '${type}', handler = function() return ${JSON.stringify(value)} end })`

/**
 * Records the events the host pushes to one client, per name, so none is
 * missed between two waits. `functions` goes to host.connect().
 */
class Events {
  constructor(names = []) {
    this.queues = new Map()
    this.counts = new Map()
    this.wake = new Set()
    /** plugin -> newest generation announced to this client */
    this.latest = {}
    this.functions = {}
    for (const name of ['moonhost:functions-changed', 'moonhost:plugin-error', 'devframe:rpc:cache:invalidate', ...names]) {
      this.functions[name] = (...args) => this.push(name, args)
    }
  }

  queue(name) {
    if (!this.queues.has(name)) this.queues.set(name, [])
    return this.queues.get(name)
  }

  count(name) {
    return this.counts.get(name) || 0
  }

  push(name, args) {
    if (name === 'moonhost:functions-changed' && args[0] && args[0].generation) {
      this.latest[args[0].plugin] = Math.max(this.latest[args[0].plugin] || 0, args[0].generation)
    }
    this.queue(name).push(args)
    this.counts.set(name, this.count(name) + 1)
    for (const w of [...this.wake]) w()
  }

  /**
   * The arguments of the oldest `name` event not taken yet for which
   * pred(...args) holds (it is taken; the others stay queued). With `unless: [name2, pred2]`
   * it fails as soon as such an event is received instead.
   */
  take(name, pred = () => true, { timeoutMs = 10000, unless } = {}) {
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer)
        this.wake.delete(check)
      }
      const check = () => {
        if (unless) {
          const bad = this.queue(unless[0]).find((args) => (unless[1] || (() => true))(...args))
          if (bad) {
            finish()
            reject(new Error(`${unless[0]} ${JSON.stringify(bad)} while waiting for ${name}`))
            return
          }
        }
        const q = this.queue(name)
        const i = q.findIndex((args) => pred(...args))
        if (i >= 0) {
          const [args] = q.splice(i, 1)
          finish()
          resolve(args)
        }
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`no matching ${name} event within ${timeoutMs} ms`))
      }, timeoutMs)
      this.wake.add(check)
      check()
    })
  }

  /** The next `name` event, whatever its arguments. */
  next(name, timeoutMs) {
    return this.take(name, () => true, { timeoutMs })
  }

  /** The next functions-changed event for plugin (with generation gen, when given). */
  changed(plugin, gen, opts) {
    return this.take('moonhost:functions-changed', (info) => info.plugin === plugin && (gen === undefined || info.generation === gen), opts)
  }
}

/** Connects a client that records pushed events. */
async function connectWithEvents(host, names) {
  const events = new Events(names)
  const client = await host.connect(events.functions)
  return { ...client, events }
}

/** Resident memory (KiB) and open file descriptors of a process. */
function processUsage(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1])
  return { rssKiB, fds: readdirSync(`/proc/${pid}/fd`).length }
}

/** The binary under test is the AddressSanitizer build. */
const sanitizerBuild = readFileSync(moonhostBin).includes('AddressSanitizer')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

// ---------------------------------------------------------------------------

/**
 * Stops a host like host.stop() does, but a host that does not exit within
 * a few seconds of SIGTERM is killed and reported as a failure instead of
 * hanging the test run.
 */
async function stopHost(host, graceMs = 8000) {
  for (const ws of host.clients) ws.terminate()
  const running = () => host.child.exitCode === null && host.child.signalCode === null
  if (running()) host.child.kill('SIGTERM')
  let timer
  const result = await Promise.race([host.exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs, null)))])
  clearTimeout(timer)
  if (!result) {
    host.child.kill('SIGKILL')
    await host.exited
    throw new Error(`moonhost did not exit within ${graceMs} ms of SIGTERM (killed). Log:\n${host.log}`)
  }
  if (result.code !== 0 && result.signal === null) throw new Error(`moonhost exited with code ${result.code}:\n${host.log}`)
  if (/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(host.log)) {
    throw new Error(`sanitizer report in moonhost output:\n${host.log}`)
  }
  return result
}

/** Starts a host for test t and stops it (see stopHost) when t ends. */
async function hostFor(t, opts) {
  const host = await startHost(opts)
  t.after(() => stopHost(host))
  return host
}

/** The versioned plugin of the main test: ver:get answers its version. */
const verSource = (v) => `local moonhost = require 'moonhost'
-- version ${v}
return moonhost.plugin { name = 'ver', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'ver:get', handler = function() return ${v} end })
end }
`

test('100 reloads under a continuous stream of calls from 4 clients: no failed call, answers never go backwards, no leak; then a syntax error keeps the old version and a delete unloads', { timeout: 60000 }, async (t) => {
  const dir = tempTree(t, { 'ver.lua': verSource(1) })
  // info: a debug line per call would only slow the host and the log scans down.
  const host = await hostFor(t, { plugins: dir, logLevel: 'info' })
  const clients = []
  for (let i = 0; i < 4; i++) clients.push(await connectWithEvents(host))
  const watcher = clients[0].events

  // The initial load is generation 1 and answers version 1; the k-th reload
  // writes version k+1 and must become generation k+1 (one save, one load).
  const written = new Set([1])
  let running = true
  const failures = []
  const backwards = []
  const stale = []
  const answers = clients.map(() => [])

  // Each client calls in a closed loop: the next call when the reply came.
  const loops = clients.map(async (c, i) => {
    let last = 0
    while (running) {
      // The newest generation announced to this client before the call is
      // sent: the call must be served by it or a newer one.
      const floor = c.events.latest.ver || 0
      try {
        const v = await c.rpc['ver:get']()
        answers[i].push(v)
        if (v < last) backwards.push({ client: i, after: last, got: v })
        if (v < floor) stale.push({ client: i, announced: floor, got: v })
        last = v
      } catch (e) {
        failures.push({ client: i, error: e && (e.code || e.message) })
      }
    }
  })

  const latencies = []
  let usageAt10
  for (let k = 1; k <= 100; k++) {
    const v = k + 1
    written.add(v)
    const saved = performance.now()
    writeFileSync(join(dir, 'ver.lua'), verSource(v))
    await watcher.changed('ver', v, { unless: ['moonhost:plugin-error'] })
    latencies.push(performance.now() - saved)
    if (k === 10) usageAt10 = processUsage(host.child.pid)
  }
  const usageAt100 = processUsage(host.child.pid)

  // Every client has been answering all along.
  const before = answers.map((a) => a.length)
  await Promise.all(clients.map((c) => c.rpc['ver:get']()))

  // A version with a syntax error: the old one keeps serving.
  writeFileSync(join(dir, 'ver.lua'), verSource(102).replace('return moonhost.plugin {', 'return moonhost.plugin {{'))
  const [perr] = await watcher.next('moonhost:plugin-error')
  assert.equal(perr.plugin, 'ver')
  assert.equal(typeof perr.code, 'string')
  assert.match(perr.message, /ver\.lua:\d+/)
  await host.waitForLog(/\[plugin\] ver: load failed/)
  for (const c of clients.slice(1)) assert.equal((await c.events.next('moonhost:plugin-error'))[0].plugin, 'ver')
  for (const c of clients) assert.equal(await c.rpc['ver:get'](), 101)

  running = false
  await Promise.all(loops)

  const all = answers.flat()
  const calls = all.length + failures.length
  console.log(`[reload] ${calls} calls during 100 reloads (per client: ${answers.map((a) => a.length).join(', ')}), ${failures.length} failed`)
  console.log(
    `[reload] save-to-serving latency (file write -> moonhost:functions-changed): median ${median(latencies).toFixed(1)} ms, ` +
      `min ${Math.min(...latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} reloads`,
  )
  console.log(
    `[reload] host after reload 10: VmRSS ${usageAt10.rssKiB} KiB, ${usageAt10.fds} fds; ` +
      `after reload 100: VmRSS ${usageAt100.rssKiB} KiB, ${usageAt100.fds} fds ` +
      `(RSS growth ${((usageAt100.rssKiB - usageAt10.rssKiB) / 1024).toFixed(2)} MiB)`,
  )

  assert.deepEqual(failures, [], 'no call failed during the reloads')
  assert.ok(before.every((n) => n > 0), 'every client got answers while reloading')
  // The calls really ran across the reloads: each client saw most versions.
  const seen = answers.map((a) => new Set(a).size)
  assert.ok(seen.every((n) => n >= 50), `distinct versions answered per client: ${seen.join(', ')}`)
  assert.ok(all.length >= 400, `a continuous stream of calls (${all.length} answers)`)
  const unknown = [...new Set(all)].filter((v) => !written.has(v))
  assert.deepEqual(unknown, [], 'every answer is a version that was written')
  assert.deepEqual(backwards, [], 'per client, answers never go backwards')
  assert.deepEqual(stale, [], 'a call sent after a client heard of generation N is answered by N or newer')
  // The clients saw the reloads: a functions-changed and a devframe cache
  // invalidation for each.
  assert.ok(watcher.count('devframe:rpc:cache:invalidate') >= 100)
  assert.ok(Math.abs(usageAt100.fds - usageAt10.fds) <= 2, `fds after reload 10: ${usageAt10.fds}, after 100: ${usageAt100.fds}`)
  if (sanitizerBuild) {
    // ASan keeps freed memory in quarantine (up to 256 MiB), so RSS grows
    // with every reload whether or not anything leaks; LeakSanitizer checks
    // leaks when the host exits (stopHost fails on its report).
    console.log('[reload] sanitizer build: RSS growth not asserted (ASan quarantine); LeakSanitizer checks at exit')
  } else {
    assert.ok(usageAt100.rssKiB - usageAt10.rssKiB < 8 * 1024, `RSS after reload 10: ${usageAt10.rssKiB} KiB, after 100: ${usageAt100.rssKiB} KiB`)
  }

  // Deleting the file unloads the plugin: every client hears generation null.
  unlinkSync(join(dir, 'ver.lua'))
  for (const c of clients) {
    const [info] = await c.events.take('moonhost:functions-changed', (i) => i.plugin === 'ver' && i.generation === null)
    assert.deepEqual(info, { plugin: 'ver', generation: null })
  }
  const err = await rejectionOf(clients[0].rpc['ver:get']())
  assert.equal(err.code, 'not_found')
  assert.ok(!(await clients[1].rpc['moonhost:functions']()).some((f) => f.name === 'ver:get'))
  await host.waitForLog(/\[plugin\] ver: unloaded/)
})

test('a call running on the old generation finishes with the old answer; calls after the reload get the new one', { timeout: 60000 }, async (t) => {
  // hold waits (moonhost.sleep between polls of the client) until the test
  // releases it; v2 answers at once.
  const holdV1 = `
  ctx.rpc.register(moonhost.define_rpc_function { name = 'slow:hold', type = 'action', handler = function(tag)
    ctx.log.info('slow:hold %s started on generation %d', tag, ctx.generation)
    while true do
      local r = ctx.rpc.broadcast_call('test:released', {}, { timeout = 30 })
      local released = false
      for _, one in ipairs(r) do released = released or (one.ok and one.value == true) end
      if released then break end
      moonhost.sleep(0.01)
    end
    return { answer = 'old', tag = tag, generation = ctx.generation }
  end })`
  const holdV2 = `
  ctx.rpc.register(moonhost.define_rpc_function { name = 'slow:hold', type = 'action', handler = function(tag)
    return { answer = 'new', tag = tag, generation = ctx.generation }
  end })`
  const dir = tempTree(t, { 'slow.lua': plugin('slow', holdV1) })
  const host = await hostFor(t, { plugins: dir })
  let released = false
  let polled = 0
  let pollWaiter = null
  const events = new Events()
  const c = await host.connect({
    ...events.functions,
    'test:released': () => {
      polled++
      if (pollWaiter && polled >= pollWaiter.at) pollWaiter.resolve()
      return released
    },
  })

  const old = c.rpc['slow:hold']('first')
  await host.waitForLog(/slow:hold first started on generation 1/)

  writeFileSync(join(dir, 'slow.lua'), plugin('slow', holdV2))
  await events.changed('slow', 2)
  assert.deepEqual(await c.rpc['slow:hold']('second'), { answer: 'new', tag: 'second', generation: 2 })
  // The old generation is still alive: its call holds it.
  assert.doesNotMatch(host.log, /slow: generation 1 released/)
  // It keeps polling (sleeping in between) after the reload.
  pollWaiter = { ...deferred(), at: polled + 3 }
  await pollWaiter.promise

  released = true
  assert.deepEqual(await old, { answer: 'old', tag: 'first', generation: 1 })
  // With its last call done, the retired generation is released.
  await host.waitForLog(/slow: generation 1 released/)
  assert.deepEqual(await c.rpc['slow:hold']('third'), { answer: 'new', tag: 'third', generation: 2 })
})

test('a new file in plugins/ loads; NAME/init.lua reloads when a module it requires (NAME/helper.lua) changes', { timeout: 60000 }, async (t) => {
  const dir = tempTree(t, { 'first.lua': plugin('first', `${constFn('first:x', 'first')}\n${genFn('first:gen')}`) })
  cpSync(join(reloadFixtures, 'pkg'), join(dir, 'pkg'), { recursive: true })
  const host = await hostFor(t, { plugins: dir })
  const c = await connectWithEvents(host)
  assert.equal(await c.rpc['pkg:answer'](), 'helper v1')
  assert.equal((await rejectionOf(c.rpc['fresh:x']())).code, 'not_found')

  writeFileSync(join(dir, 'fresh.lua'), plugin('fresh', constFn('fresh:x', 'fresh one')))
  assert.deepEqual((await c.events.changed('fresh'))[0], { plugin: 'fresh', generation: 1 })
  assert.equal(await c.rpc['fresh:x'](), 'fresh one')
  await host.waitForLog(/\[plugin\] fresh: loaded \(generation 1\)/)

  writeFileSync(join(dir, 'pkg', 'helper.lua'), "local M = {}\nfunction M.answer() return 'helper v2' end\nreturn M\n")
  assert.deepEqual((await c.events.changed('pkg'))[0], { plugin: 'pkg', generation: 2 })
  assert.equal(await c.rpc['pkg:answer'](), 'helper v2')

  // A new plugin directory (init.lua written into a directory created after start).
  mkdirSync(join(dir, 'later'))
  writeFileSync(join(dir, 'later', 'init.lua'), plugin('later', constFn('later:x', 'later dir')))
  assert.deepEqual((await c.events.changed('later'))[0], { plugin: 'later', generation: 1 })
  assert.equal(await c.rpc['later:x'](), 'later dir')

  // The other plugin was never touched.
  assert.equal(await c.rpc['first:x'](), 'first')
  assert.equal(await c.rpc['first:gen'](), 1)
  assert.doesNotMatch(host.log, /first: (reloading|loaded \(generation 2\))/)
})

test('a reload whose setup throws keeps the old version serving (nothing it registered is served) and tells clients moonhost:plugin-error', { timeout: 60000 }, async (t) => {
  const dir = tempTree(t, { 'tx.lua': plugin('tx', constFn('tx:get', 'v1')) })
  const host = await hostFor(t, { plugins: dir })
  const c = await connectWithEvents(host)
  assert.equal(await c.rpc['tx:get'](), 'v1')

  writeFileSync(join(dir, 'tx.lua'), plugin('tx', `${constFn('tx:get', 'v2')}\n${constFn('tx:extra', 'extra')}\n  error('setup-fails-on-purpose')`))
  const [perr] = await c.events.next('moonhost:plugin-error')
  assert.equal(perr.plugin, 'tx')
  assert.equal(perr.code, 'internal')
  assert.match(perr.message, /setup-fails-on-purpose/)
  await host.waitForLog(/\[plugin\] tx: load failed.*setup-fails-on-purpose.*previous version keeps serving/)
  assert.equal(await c.rpc['tx:get'](), 'v1')
  assert.equal((await rejectionOf(c.rpc['tx:extra']())).code, 'not_found')

  // A good save after the bad one is served (the failed load used generation 2).
  writeFileSync(join(dir, 'tx.lua'), plugin('tx', constFn('tx:get', 'v3')))
  const [info] = await c.events.changed('tx')
  assert.equal(info.generation, 3)
  assert.equal(await c.rpc['tx:get'](), 'v3')
})

test('`moonhost reload NAME` (POST /__moonhost/reload) reloads one plugin; a wrong token exits 1 (401), an unknown plugin exits 1 (404)', { timeout: 60000 }, async (t) => {
  const dir = tempTree(t, {
    'alpha.lua': plugin('alpha', genFn('alpha:gen')),
    'beta.lua': plugin('beta', genFn('beta:gen')),
  })
  const host = await hostFor(t, { plugins: dir })
  const c = await connectWithEvents(host)
  const listen = `127.0.0.1:${host.port}`
  const conf = join(fixtures, 'conf.d')

  const ok = await runMoonhost(['reload', 'alpha', '--listen', listen, '--token', 'e2e-token', '--config', conf])
  assert.equal(ok.code, 0, `stdout: ${ok.stdout}\nstderr: ${ok.stderr}`)
  const body = JSON.parse(ok.stdout)
  assert.equal(body.ok, true)
  assert.deepEqual(body.reloaded, [{ plugin: 'alpha', ok: true }])
  // The answer comes when the load is done: the event is already on its way.
  assert.deepEqual((await c.events.changed('alpha'))[0], { plugin: 'alpha', generation: 2 })
  await host.waitForLog(/\[plugin\] alpha: loaded \(generation 2\)/)
  assert.equal(await c.rpc['beta:gen'](), 1, 'only alpha was reloaded')

  const bad = await runMoonhost(['reload', 'alpha', '--listen', listen, '--token', 'not-the-token', '--config', conf])
  assert.equal(bad.code, 1, `stdout: ${bad.stdout}\nstderr: ${bad.stderr}`)
  assert.match(bad.stderr, /unauthorized/)
  assert.equal(JSON.parse(bad.stdout).ok, false)
  assert.equal(await c.rpc['alpha:gen'](), 2, 'an unauthorized request reloads nothing')

  // No --token: the first of auth.tokens in the configuration is used.
  const none = await runMoonhost(['reload', 'nosuch', '--listen', listen, '--config', conf])
  assert.equal(none.code, 1, `stdout: ${none.stdout}\nstderr: ${none.stderr}`)
  assert.match(none.stdout, /no such plugin/)

  // The endpoint itself, as any HTTP client sees it.
  const url = `http://127.0.0.1:${host.port}/__moonhost/reload`
  assert.equal((await fetch(`${url}?plugin=beta`, { method: 'POST' })).status, 401)
  const res = await fetch(`${url}?plugin=beta`, { method: 'POST', headers: { authorization: 'Bearer e2e-token' } })
  assert.equal(res.status, 200)
  assert.deepEqual(await res.json(), { ok: true, reloaded: [{ plugin: 'beta', ok: true }] })
  assert.deepEqual((await c.events.changed('beta'))[0], { plugin: 'beta', generation: 2 })
  // A name that is no plugin, however long or odd, reloads nothing (a name
  // too long for a buffer used to reload every plugin); nor does a GET.
  for (const name of ['x'.repeat(300), 'y'.repeat(1000), '../beta', 'beta/../alpha', '']) {
    const r = await fetch(`${url}?plugin=${name}`, { method: 'POST', headers: { authorization: 'Bearer e2e-token' } })
    assert.equal(r.status, 404, name.slice(0, 20))
    assert.deepEqual(await r.json(), { ok: false, error: 'no such plugin' })
  }
  assert.notEqual((await fetch(url, { headers: { authorization: 'Bearer e2e-token' } })).status, 200)
  assert.deepEqual([await c.rpc['alpha:gen'](), await c.rpc['beta:gen']()], [2, 2], 'nothing more was reloaded')

  // A reload that fails answers ok:false and the command exits 1.
  writeFileSync(join(dir, 'alpha.lua'), plugin('alpha', "  error('alpha broke')"))
  await c.events.take('moonhost:plugin-error', (e) => e.plugin === 'alpha') // the watcher's attempt
  const failed = await runMoonhost(['reload', 'alpha', '--listen', listen, '--token', 'e2e-token', '--config', conf])
  assert.equal(failed.code, 1, `stdout: ${failed.stdout}\nstderr: ${failed.stderr}`)
  const fbody = JSON.parse(failed.stdout)
  assert.equal(fbody.ok, false)
  assert.equal(fbody.reloaded[0].plugin, 'alpha')
  assert.equal(fbody.reloaded[0].ok, false)
  assert.match(JSON.stringify(fbody.reloaded[0].error), /alpha broke/)
  assert.equal(await c.rpc['alpha:gen'](), 2, 'the previous version keeps serving')
})

test('SIGHUP reloads the configuration and every plugin (new generations)', { timeout: 60000 }, async (t) => {
  const dir = tempTree(t, {
    'alpha.lua': plugin('alpha', constFn('alpha:x', 'a')),
    'beta/init.lua': plugin('beta', constFn('beta:x', 'b')),
  })
  const host = await hostFor(t, { plugins: dir })
  const c = await connectWithEvents(host)
  process.kill(host.child.pid, 'SIGHUP')
  assert.deepEqual((await c.events.changed('alpha'))[0], { plugin: 'alpha', generation: 2 })
  assert.deepEqual((await c.events.changed('beta'))[0], { plugin: 'beta', generation: 2 })
  await host.waitForLog(/\[plugin\] alpha: loaded \(generation 2\)/)
  await host.waitForLog(/\[plugin\] beta: loaded \(generation 2\)/)
  await host.waitForLog(/configuration reloaded/)
  assert.equal(await c.rpc['alpha:x'](), 'a')
  assert.equal(await c.rpc['beta:x'](), 'b')
  process.kill(host.child.pid, 'SIGHUP')
  await c.events.changed('alpha', 3)
  await c.events.changed('beta', 3)
})

test('conf.d: changing plugins.NAME reloads that plugin with the new ctx.config; a fragment with a syntax error keeps the old configuration', { timeout: 60000 }, async (t) => {
  const config = configDir(t, { '50-greeter.lua': "return { plugins = { greeter = { greeting = 'hi' } } }\n" })
  const dir = tempTree(t, { 'other.lua': plugin('other', genFn('other:gen')) })
  cpSync(join(reloadFixtures, 'greeter.lua'), join(dir, 'greeter.lua'))
  const host = await hostFor(t, { plugins: dir, config })
  const c = await connectWithEvents(host)
  assert.deepEqual(await c.rpc['greeter:hello'](), { greeting: 'hi', generation: 1 })

  writeFileSync(join(config, '50-greeter.lua'), "return { plugins = { greeter = { greeting = 'hello again' } } }\n")
  assert.deepEqual((await c.events.changed('greeter'))[0], { plugin: 'greeter', generation: 2 })
  assert.deepEqual(await c.rpc['greeter:hello'](), { greeting: 'hello again', generation: 2 })
  await host.waitForLog(/greeter: settings changed/)
  // Only the plugin whose settings changed was reloaded.
  assert.equal(await c.rpc['other:gen'](), 1)

  // A fragment with a syntax error: logged, the previous configuration stays.
  writeFileSync(join(config, '60-broken.lua'), "return { plugins = { greeter = { greeting = 'broken' } }\n")
  await host.waitForLog(/configuration not reloaded.*60-broken\.lua/)
  assert.deepEqual(await c.rpc['greeter:hello'](), { greeting: 'hello again', generation: 2 })

  // Fixing it (removing the bad fragment, changing the setting) applies again.
  rmSync(join(config, '60-broken.lua'))
  writeFileSync(join(config, '50-greeter.lua'), "return { plugins = { greeter = { greeting = 'third' } } }\n")
  const [info] = await c.events.changed('greeter')
  assert.ok(info.generation >= 3)
  assert.deepEqual(await c.rpc['greeter:hello'](), { greeting: 'third', generation: info.generation })
  assert.equal(await c.rpc['other:gen'](), 1)
})

test('conf.d at run time: a fragment that loops, eats memory, sets __gc or returns a bomb is refused with a log line; the old configuration keeps serving', { timeout: 60000 }, async (t) => {
  const config = configDir(t, { '50-greeter.lua': "return { plugins = { greeter = { greeting = 'kept' } } }\n" })
  const dir = tempTree(t, {})
  cpSync(join(reloadFixtures, 'greeter.lua'), join(dir, 'greeter.lua'))
  const host = await hostFor(t, { plugins: dir, config })
  const c = await connectWithEvents(host)
  assert.deepEqual(await c.rpc['greeter:hello'](), { greeting: 'kept', generation: 1 })
  const hostile = {
    'a loop': ['while true do end', /took too long/],
    'a memory bomb': ["local s = string.rep('x', 80 << 20)", /not enough memory/],
    'a __gc that loops': ['setmetatable({}, { __gc = function() while true do end end })', /cannot set __gc/],
    'a table of shared subtables': ["local t = { 'x' } for _ = 1, 22 do t = { t, t } end\ndo return { plugins = { greeter = { t = t } } } end", /over 64 MiB once converted/],
  }
  for (const [what, [code, why]] of Object.entries(hostile)) {
    const before = host.log.length
    writeFileSync(join(config, '60-hostile.lua'), `${code}\nreturn { plugins = { greeter = { greeting = 'hostile' } } }\n`)
    await host.waitForLogState((log) => /configuration not reloaded[^\n]*60-hostile\.lua/.test(log.slice(before)), `${what} refused`, 30000)
    assert.match(host.log.slice(before), why, what)
    assert.deepEqual(await c.rpc['greeter:hello'](), { greeting: 'kept', generation: 1 }, what)
  }
  rmSync(join(config, '60-hostile.lua'))
  writeFileSync(join(config, '50-greeter.lua'), "return { plugins = { greeter = { greeting = 'after' } } }\n")
  const [info] = await c.events.changed('greeter')
  assert.deepEqual(await c.rpc['greeter:hello'](), { greeting: 'after', generation: info.generation })
})

test('moonhost exits on SIGTERM while a plugin has an active ctx.watch', { timeout: 60000 }, async (t) => {
  const root = scratchDir('moonhost-e2e-watchroot-')
  const dir = tempTree(t, { 'w.lua': plugin('w', "  ctx.watch('**/*.txt', function() end)\n" + genFn('w:gen')) })
  const host = await hostFor(t, { plugins: dir, root })
  const c = await host.connect()
  assert.equal(await c.rpc['w:gen'](), 1)
  const { code, signal } = await stopHost(host)
  assert.equal(signal, null)
  assert.equal(code, 0)
})

test('ctx.watch reports add/change/unlink under ctx.root, ignores node_modules and .git, and stops when the plugin reloads or unloads', { timeout: 60000 }, async (t) => {
  const root = scratchDir('moonhost-e2e-watchroot-')
  mkdirSync(join(root, 'src', 'node_modules'), { recursive: true })
  mkdirSync(join(root, 'node_modules'))
  const dir = tempTree(t, {})
  cpSync(join(reloadFixtures, 'watcher.lua'), join(dir, 'watcher.lua'))
  cpSync(join(reloadFixtures, 'witness.lua'), join(dir, 'witness.lua'))
  const host = await hostFor(t, { plugins: dir, root })
  const c = await connectWithEvents(host, ['files:changed', 'witness:changed'])
  const ev = c.events
  const next = async () => (await ev.next('files:changed'))

  writeFileSync(join(root, 'src', 'a.txt'), 'a')
  assert.deepEqual(await next(), ['src/a.txt', 'add', 1])
  // The plugin kept no handle to its watch: collecting it stops nothing.
  assert.equal(await c.rpc['watcher:collect'](), true)
  writeFileSync(join(root, 'src', 'a.txt'), 'a, changed')
  assert.deepEqual(await next(), ['src/a.txt', 'change', 1])
  unlinkSync(join(root, 'src', 'a.txt'))
  assert.deepEqual(await next(), ['src/a.txt', 'unlink', 1])
  // Only files matching the pattern.
  writeFileSync(join(root, 'src', 'skip.md'), 'not a txt')
  mkdirSync(join(root, 'src', 'deep', 'er'), { recursive: true })
  writeFileSync(join(root, 'src', 'deep', 'er', 'n.txt'), 'nested')
  assert.deepEqual(await next(), ['src/deep/er/n.txt', 'add', 1])

  // Ignored: node_modules (existing or new, at the root or below src/) and .git.
  writeFileSync(join(root, 'node_modules', 'x.txt'), 'x')
  writeFileSync(join(root, 'src', 'node_modules', 'x.txt'), 'x')
  mkdirSync(join(root, 'src', '.git'))
  writeFileSync(join(root, 'src', '.git', 'x.txt'), 'x')
  mkdirSync(join(root, 'src', 'lib', 'node_modules', 'pkg'), { recursive: true })
  writeFileSync(join(root, 'src', 'lib', 'node_modules', 'pkg', 'y.txt'), 'y')
  writeFileSync(join(root, 'src', 'b.txt'), 'b')
  assert.deepEqual(await next(), ['src/b.txt', 'add', 1])
  // Anything from an ignored path sorted after b in the same batch would come now.
  writeFileSync(join(root, 'src', 'c.txt'), 'c')
  assert.deepEqual(await next(), ['src/c.txt', 'add', 1])

  // Reload the watching plugin: from now on only generation 2's watch fires.
  appendFileSync(join(dir, 'watcher.lua'), '-- touched\n')
  await ev.changed('watcher', 2)
  assert.equal(await c.rpc['watcher:generation'](), 2)
  writeFileSync(join(root, 'src', 'd.txt'), 'd')
  assert.deepEqual(await next(), ['src/d.txt', 'add', 2])
  writeFileSync(join(root, 'src', 'e.txt'), 'e')
  assert.deepEqual(await next(), ['src/e.txt', 'add', 2], 'exactly one broadcast per change')

  // Unload it: its watch stops too. The witness shows the change was seen.
  await ev.take('witness:changed', (p) => p === 'src/e.txt')
  unlinkSync(join(dir, 'watcher.lua'))
  await ev.changed('watcher', null)
  writeFileSync(join(root, 'src', 'f.txt'), 'f')
  assert.deepEqual(await ev.take('witness:changed', (p) => p === 'src/f.txt'), ['src/f.txt', 'add'])
  writeFileSync(join(root, 'src', 'g.txt'), 'g')
  await ev.take('witness:changed', (p) => p === 'src/g.txt')
  assert.deepEqual(ev.queue('files:changed'), [], 'an unloaded plugin\'s watch does not fire')
})
