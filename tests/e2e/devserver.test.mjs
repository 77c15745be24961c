// The dev server beside moonhost (issue #3): `moonhost run --root DIR --
// COMMAND ARGS` starts COMMAND in DIR without a shell, logs its output as
// [dev] lines, forwards SIGINT/SIGTERM, and shuts down when either side
// exits (clients get 1001 after their calls in flight finish); the exit code
// is the child's. Last, the real thing: Vite as the dev server, with a
// plugin's ctx.watch seeing the app's sources change.
//
// Synchronisation is by log lines, replies, pushed events and process
// exits, never by sleeping.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { scratchDir, tempTree, fixtures, fixedPort } from './lib/util.mjs'
import { startHost, moonhostBin } from './lib/host.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const reloadFixtures = join(fixtures, 'reload')
const viteBin = join(here, 'node_modules', 'vite', 'bin', 'vite.js')
const SANITIZER = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/

/** A promise with its resolve exposed. */
function deferred() {
  let resolve
  const promise = new Promise((res) => (resolve = res))
  return { promise, resolve }
}

/** Resolves with the value of p, or rejects after ms with message. */
function within(p, ms, message) {
  let timer
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms))),
  ])
}

const isRunning = (host) => host.child.exitCode === null && host.child.signalCode === null

/** A process's state letter from /proc/PID/stat ('S', 'R', 'Z', ...), or null when it is gone. */
function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0]
  } catch {
    return null
  }
}

/**
 * Whether a process runs: gone and zombie both count as stopped (where PID 1
 * does not reap orphans, a dead one stays a zombie and kill(pid, 0) still
 * succeeds on it).
 */
const running = (pid) => !['Z', 'X', null].includes(procState(pid))

/** The pids of running processes in process group pgid. */
function groupMembers(pgid) {
  const out = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') out.push(Number(name))
    } catch {} // gone meanwhile
  }
  return out
}

/** 'open' when a TCP connection to 127.0.0.1:port succeeds, else the error code. */
function probePort(port) {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1')
    sock.once('connect', () => {
      sock.destroy()
      resolve('open')
    })
    sock.once('error', (e) => resolve(e.code))
  })
}

/**
 * Starts `moonhost run` for test t with a dev server command. When t ends:
 * a host still running is stopped (SIGTERM, then SIGKILL after a while, which
 * fails the test), the dev server is not left behind, and a sanitizer report
 * fails the test. Tests that expect an exit await host.exited themselves.
 */
async function devHost(t, { command, root, plugins, env } = {}) {
  const host = await startHost({
    root,
    plugins: plugins || devinfoPlugins(t),
    args: command ? ['--', ...command] : [],
    env,
  })
  t.after(async () => {
    for (const ws of host.clients) ws.terminate()
    let hung = false
    if (isRunning(host)) {
      host.child.kill('SIGTERM')
      try {
        await within(host.exited, 8000, () => '')
      } catch {
        hung = true
        host.child.kill('SIGKILL')
        await host.exited
      }
    }
    const pid = devPid(host)
    if (pid && groupMembers(pid).length) process.kill(-pid, 'SIGKILL') // its whole process group
    if (hung) throw new Error(`moonhost did not exit within 8 s of SIGTERM (killed). Log:\n${host.log}`)
    if (SANITIZER.test(host.log)) throw new Error(`sanitizer report in moonhost output:\n${host.log}`)
  })
  return host
}

/** The dev server's pid from the log line "[dev] started '...' (pid N)". */
function devPid(host) {
  const m = /\[dev\] started '.*' \(pid (\d+)\)/.exec(host.log)
  return m ? Number(m[1]) : null
}

/** A plugins dir holding the devinfo fixture. */
function devinfoPlugins(t) {
  const dir = tempTree(t, {})
  copyFileSync(join(reloadFixtures, 'devinfo.lua'), join(dir, 'devinfo.lua'))
  return dir
}

/** A project root with devchild.js in it (so `node devchild.js` only works in that cwd). */
function childRoot() {
  const root = realpathSync(scratchDir('moonhost-e2e-devroot-'))
  copyFileSync(join(reloadFixtures, 'devchild.js'), join(root, 'devchild.js'))
  return root
}

/** A client's close ({code, reason}), with a timeout that turns a hang into a clear failure. */
function closeOf(client, host, ms = 10000) {
  const p = within(client.closed, ms, () => `the client was not closed within ${ms} ms. Log:\n${host.log}`)
  p.catch(() => {}) // awaited later; not an unhandled rejection meanwhile
  return p
}

/** The host's exit, with a timeout that turns a hang into a clear failure. */
function exitOf(host, ms = 10000) {
  return within(host.exited, ms, () => `moonhost did not exit within ${ms} ms. Log:\n${host.log}`)
}

// ---------------------------------------------------------------------------

test('the dev server runs in --root without a shell; its stdout and stderr are [dev] log lines; ctx.dev_server reports it', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const tricky = '$HOME; echo not-a-shell > pwned.txt'
  const host = await devHost(t, { command: ['node', 'devchild.js', 'handle', tricky], root, plugins: devinfoPlugins(t) })
  const m = await host.waitForLog(/info {2}\[dev\] devchild ready pid=(\d+) cwd=(.*) argv=(.*)\n/)
  const childPid = Number(m[1])
  assert.equal(m[2], root, 'the command runs in --root')
  assert.deepEqual(JSON.parse(m[3]), ['handle', tricky], 'arguments reach the command as they are: no shell')
  await host.waitForLog(/warn {2}\[dev\] devchild says hello on stderr/)
  assert.equal(devPid(host), childPid)

  const c = await host.connect()
  const info = await c.rpc['devinfo:server']()
  assert.deepEqual(info, { command: `node devchild.js handle ${tricky}`, pid: childPid, running: true })
})

test('ctx.dev_server is nil when moonhost runs without a command', { timeout: 60000 }, async (t) => {
  const host = await devHost(t, { plugins: devinfoPlugins(t) })
  const c = await host.connect()
  assert.equal(await c.rpc['devinfo:server'](), null)
})

test('a dev server that exits with code 3 makes moonhost shut down (clients get 1001) and exit 3', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const host = await devHost(t, { command: ['node', 'devchild.js', 'handle'], root, plugins: devinfoPlugins(t) })
  const m = await host.waitForLog(/\[dev\] devchild ready pid=(\d+)/)
  const c = await host.connect()
  assert.equal((await c.rpc['devinfo:server']()).running, true)
  const closed = closeOf(c, host)
  process.kill(Number(m[1]), 'SIGUSR1') // devchild: exit(3)
  const { code, signal } = await exitOf(host)
  assert.equal(signal, null)
  assert.equal(code, 3, host.log)
  assert.match(host.log, /\[dev\] exiting with 3/)
  assert.match(host.log, /\[dev\] 'node devchild\.js handle' exited with code 3/)
  assert.match(host.log, /shutting down \(the dev server exited\)/)
  assert.deepEqual(await closed, { code: 1001, reason: 'server shutting down' }, 'close code and reason the client saw')
})

test('a dev server killed by SIGTERM (not from moonhost) makes moonhost exit 128+15 = 143', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  // plain: no signal handlers, SIGTERM's default action ends the child.
  const host = await devHost(t, { command: ['node', 'devchild.js', 'plain'], root, plugins: devinfoPlugins(t) })
  const m = await host.waitForLog(/\[dev\] devchild ready pid=(\d+)/)
  const c = await host.connect()
  const closed = closeOf(c, host)
  process.kill(Number(m[1]), 'SIGTERM')
  const { code } = await exitOf(host)
  assert.equal(code, 143, host.log)
  assert.match(host.log, /exited with signal 15/)
  assert.equal((await closed).code, 1001, 'close code the client saw')
})

test('SIGTERM to moonhost is forwarded to the dev server ("got SIGTERM"), clients get 1001 and moonhost exits 0', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const host = await devHost(t, { command: ['node', 'devchild.js', 'handle'], root, plugins: devinfoPlugins(t) })
  const m = await host.waitForLog(/\[dev\] devchild ready pid=(\d+)/)
  const childPid = Number(m[1])
  const c = await host.connect()
  const closed = closeOf(c, host)
  host.child.kill('SIGTERM')
  const { code, signal } = await exitOf(host)
  assert.equal(signal, null)
  assert.equal(code, 0, host.log)
  assert.match(host.log, /\[dev\] got SIGTERM/)
  assert.match(host.log, /exited with code 0/)
  assert.equal(running(childPid), false)
  assert.deepEqual(await closed, { code: 1001, reason: 'server shutting down' }, 'close code and reason the client saw')
})

test('SIGINT to moonhost is forwarded to the dev server; a child ended by that SIGINT (130) still means exit 0', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const handled = await devHost(t, { command: ['node', 'devchild.js', 'handle'], root, plugins: devinfoPlugins(t) })
  await handled.waitForLog(/\[dev\] devchild ready/)
  handled.child.kill('SIGINT')
  assert.equal((await exitOf(handled)).code, 0, handled.log)
  assert.match(handled.log, /\[dev\] got SIGINT/)

  const plain = await devHost(t, { command: ['node', 'devchild.js', 'plain'], root, plugins: devinfoPlugins(t) })
  await plain.waitForLog(/\[dev\] devchild ready/)
  plain.child.kill('SIGINT')
  assert.equal((await exitOf(plain)).code, 0, plain.log)
  assert.match(plain.log, /exited with signal 2/)
})

test('a call in flight when SIGTERM arrives finishes with its value, then the socket closes with 1001', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const host = await devHost(t, { command: ['node', 'devchild.js', 'handle'], root, plugins: devinfoPlugins(t) })
  await host.waitForLog(/\[dev\] devchild ready/)
  const c = await host.connect()
  const order = []
  const closed = closeOf(c, host).finally(() => order.push('closed'))
  const call = c.rpc['devinfo:sleep'](0.2, 'inflight').then((v) => {
    order.push('answered')
    return v
  })
  await host.waitForLog(/devinfo:sleep inflight started/)
  host.child.kill('SIGTERM')
  assert.equal(await call, 'slept inflight')
  const { code } = await closed
  assert.deepEqual(order, ['answered', 'closed'])
  assert.equal((await exitOf(host)).code, 0, host.log)
  assert.equal(code, 1001, 'close code the client saw')
})

test('while shutting down, idle clients get 1001 at once and a busy one only after its call is answered', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const host = await devHost(t, { command: ['node', 'devchild.js', 'handle'], root, plugins: devinfoPlugins(t) })
  await host.waitForLog(/\[dev\] devchild ready/)
  const gate = deferred()
  const gateCalled = deferred()
  const busy = await host.connect({
    'test:gate': () => {
      gateCalled.resolve()
      return gate.promise
    },
  })
  const idle = await host.connect()
  let gateOpened = false
  let busyClosedEarly = false
  const busyClosed = closeOf(busy, host).finally(() => (busyClosedEarly = !gateOpened))
  const idleClosed = closeOf(idle, host)

  const call = busy.rpc['devinfo:gate']('held')
  await gateCalled.promise
  host.child.kill('SIGTERM')
  await idleClosed
  // The dev server is told to stop at once; moonhost waits for the busy call.
  await host.waitForLog(/\[dev\] got SIGTERM/)
  assert.equal(isRunning(host), true)
  gateOpened = true
  gate.resolve(true)
  assert.equal(await call, 'gated held')
  await busyClosed
  assert.equal(busyClosedEarly, false, 'the busy client was not closed before its call was answered')
  assert.equal((await exitOf(host)).code, 0, host.log)
  assert.deepEqual([(await idleClosed).code, (await busyClosed).code], [1001, 1001], 'close codes (idle, busy) the clients saw')
})

test('a second SIGTERM stops at once, without waiting for calls in flight', { timeout: 60000 }, async (t) => {
  const host = await devHost(t, { plugins: devinfoPlugins(t) })
  const gateCalled = deferred()
  const c = await host.connect({
    'test:gate': () => {
      gateCalled.resolve()
      return new Promise(() => {}) // never answers
    },
  })
  const closed = closeOf(c, host)
  c.rpc['devinfo:gate']('forever').catch(() => {})
  await gateCalled.promise
  host.child.kill('SIGTERM')
  await host.waitForLog(/shutting down \(SIGTERM\)/)
  host.child.kill('SIGTERM')
  await host.waitForLog(/second signal: stopping now/)
  assert.equal((await exitOf(host)).code, 0, host.log)
  assert.equal((await closed).code, 1001, 'close code the client saw')
})

test('a dev server that exits 0 by itself (stderr silent, last stdout line without a newline): the line is logged and moonhost exits 0', { timeout: 60000 }, async (t) => {
  const host = await devHost(t, {
    command: ['node', '-e', "process.stdout.write('last words, no newline')"],
    root: childRoot(),
    plugins: devinfoPlugins(t),
  })
  const { code, signal } = await exitOf(host)
  assert.equal(signal, null)
  assert.equal(code, 0, host.log)
  assert.match(host.log, /info {2}\[dev\] last words, no newline\n/)
  assert.match(host.log, /shutting down \(the dev server exited\)/)
  assert.doesNotMatch(host.log, SANITIZER)
})

test('a command that cannot be started: moonhost logs it and exits 127', { timeout: 60000 }, async (t) => {
  const host = await devHost(t, { command: ['moonhost-e2e-no-such-command'], root: childRoot(), plugins: devinfoPlugins(t) })
  const { code } = await exitOf(host)
  assert.equal(code, 127, host.log)
  assert.match(host.log, /\[dev\] cannot start 'moonhost-e2e-no-such-command'/)
  // The failed spawn's handle is closed too: nothing is left on the loop.
  assert.doesNotMatch(host.log, /handles still open/)
})

test('a real Vite dev server: [dev] shows its URL, it serves the app, ctx.watch sees src/main.js change, and SIGTERM stops Vite too', { timeout: 90000 }, async (t) => {
  const root = realpathSync(scratchDir('moonhost-e2e-vite-'))
  cpSync(join(fixtures, 'vite-app'), root, { recursive: true })
  const plugins = tempTree(t, {})
  copyFileSync(join(reloadFixtures, 'vite-plugins', 'srcwatch.lua'), join(plugins, 'srcwatch.lua'))
  const port = await fixedPort()
  const host = await devHost(t, {
    command: ['node', viteBin, '--port', String(port), '--strictPort', '--host', '127.0.0.1'],
    root,
    plugins,
    env: { NO_COLOR: '1', CI: '1' },
  })
  const events = []
  const wake = new Set()
  const c = await host.connect({
    'files:changed': (path, kind) => {
      events.push({ path, kind })
      for (const w of wake) w()
    },
  })
  const fileEvent = (pred, ms = 15000) =>
    within(
      new Promise((resolve) => {
        const check = () => {
          const e = events.find(pred)
          if (e) {
            wake.delete(check)
            resolve(e)
          }
        }
        wake.add(check)
        check()
      }),
      ms,
      () => `no files:changed event matched; got ${JSON.stringify(events)}`,
    )

  // eslint-disable-next-line no-control-regex
  const m = await host.waitForLog(/\[dev\].*Local:\s+(?:\x1b\[[0-9;]*m)*(http:\/\/127\.0\.0\.1:\d+\/)/, 30000)
  const url = m[1].replace(/\x1b\[[0-9;]*m/g, '')
  assert.equal(url, `http://127.0.0.1:${port}/`)

  const page = await fetch(url)
  assert.equal(page.status, 200)
  assert.match(await page.text(), /moonhost vite fixture/)
  const mainJs = await (await fetch(`${url}src/main.js`)).text()
  assert.match(mainJs, /main\.js v1/)

  const info = await c.rpc['srcwatch:dev']()
  assert.equal(info.running, true)
  assert.equal(info.pid, devPid(host))
  assert.match(info.command, /vite\.js --port \d+ --strictPort --host 127\.0\.0\.1$/)
  const vitePid = info.pid

  writeFileSync(join(root, 'src', 'main.js'), "document.querySelector('#app').textContent = 'main.js v2'\n")
  assert.deepEqual(await fileEvent((e) => e.path === 'src/main.js'), { path: 'src/main.js', kind: 'change' })
  // Vite serves the edit too.
  assert.match(await (await fetch(`${url}src/main.js`)).text(), /main\.js v2/)
  // Vite's own files (node_modules/.vite, config bundles) never show up.
  assert.deepEqual(events.filter((e) => !e.path.startsWith('src/')), [])

  const closed = closeOf(c, host)
  host.child.kill('SIGTERM')
  const { code } = await exitOf(host)
  assert.equal(code, 0, host.log)
  assert.equal(running(vitePid), false, 'Vite is gone after moonhost stopped')
  assert.equal((await closed).code, 1001, 'close code the client saw')
})

// ---------------------------------------------------------------------------
// Stopping the whole dev server (issue 13, item 15). `npx vite` is npm exec
// -> sh -> node vite -> esbuild: the server moonhost must stop is a
// grandchild. moonhost starts the command in a process group of its own and
// signals that group; tests signal moonhost's pid alone, as a process manager
// or an IDE's stop button does (no terminal sending Ctrl-C to every process).

/** A copy of the Vite fixture app whose node_modules/.bin/vite is the test's Vite, with `npm run dev`. */
function viteRoot(port) {
  const root = realpathSync(scratchDir('moonhost-e2e-vitetree-'))
  cpSync(join(fixtures, 'vite-app'), root, { recursive: true })
  mkdirSync(join(root, 'node_modules', '.bin'), { recursive: true })
  // Its own node_modules (Vite keeps its cache there), a link to the real Vite: npx finds it offline.
  symlinkSync(viteBin, join(root, 'node_modules', '.bin', 'vite'))
  writeFileSync(join(root, 'package.json'), JSON.stringify({ private: true, scripts: { dev: `vite --port ${port} --strictPort` } }))
  return root
}

for (const [how, command] of [
  ['npx vite', (port) => ['npx', 'vite', '--port', String(port), '--strictPort']],
  ['npm run dev', () => ['npm', 'run', 'dev']],
]) {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    test(`${sig} to moonhost's pid alone stops every process of \`${how}\` (Vite stops serving) and moonhost exits 0`, { timeout: 60000 }, async (t) => {
      const port = await fixedPort()
      const host = await devHost(t, { command: command(port), root: viteRoot(port), env: { NO_COLOR: '1', CI: '1' } })
      await host.waitForLog(/\[dev\].*Local:\s+http:\/\/127\.0\.0\.1:(\d+)\//, 30000)
      assert.equal(await probePort(port), 'open', 'Vite serves')
      const tree = groupMembers(devPid(host))
      assert.ok(tree.length >= 3, `npm, node vite and esbuild run in the dev server's group: ${tree}`)
      const t0 = performance.now()
      host.child.kill(sig)
      const { code, signal } = await exitOf(host)
      const ms = performance.now() - t0
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, host.log)
      assert.ok(ms < 5000, `moonhost exited within the 5 s grace period (took ${ms} ms)`)
      assert.deepEqual(tree.filter(running), [], 'no process of the dev server is left running')
      assert.equal(await probePort(port), 'ECONNREFUSED', 'nothing serves on the Vite port any more')
      assert.doesNotMatch(host.log, /SIGKILL/)
      t.diagnostic(`${how}, ${sig}: moonhost exited ${Math.round(ms)} ms after the signal; ${tree.length} processes stopped`)
    })
  }
}

test('a dev server whose processes ignore SIGTERM: its group gets SIGKILL after the 5 s grace period, moonhost exits 137', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const host = await devHost(t, { command: ['node', 'devchild.js', 'stubborn', '--grandchild', 'stubborn'], root })
  await host.waitForLog(/\[dev\] devchild ready/)
  const grandchild = Number((await host.waitForLog(/\[dev\] grandchild ready pid=(\d+)/))[1])
  const t0 = performance.now()
  host.child.kill('SIGTERM')
  await host.waitForLog(/\[dev\] grandchild ignoring SIGTERM/)
  await host.waitForLog(/\[dev\] ignoring SIGTERM/)
  const { code } = await exitOf(host)
  const ms = performance.now() - t0
  assert.equal(code, 137, host.log)
  assert.match(host.log, /still runs after the grace period: SIGKILL to its process group/)
  assert.match(host.log, /exited with signal 9/)
  assert.equal(running(grandchild), false, 'the grandchild got SIGKILL too')
  assert.ok(ms >= 5000 && ms < 7000, `exit between the grace period and a second after it (took ${ms} ms)`)
  t.diagnostic(`SIGTERM ignored: moonhost exited ${Math.round(ms)} ms after it`)
})

test('a dev server that exits by itself while a grandchild holds its stdout: the grandchild is told to stop and moonhost exits with the code', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const host = await devHost(t, { command: ['node', 'devchild.js', 'handle', '--grandchild', 'handle'], root })
  const child = Number((await host.waitForLog(/\[dev\] devchild ready pid=(\d+)/))[1])
  const grandchild = Number((await host.waitForLog(/\[dev\] grandchild ready pid=(\d+)/))[1])
  const t0 = performance.now()
  process.kill(child, 'SIGUSR1') // exit(3); the grandchild keeps running and holds the pipes
  const { code } = await exitOf(host)
  const ms = performance.now() - t0
  assert.equal(code, 3, host.log)
  assert.match(host.log, /\[dev\] grandchild got SIGTERM/, 'the rest of the group was told to stop')
  assert.equal(running(grandchild), false)
  assert.ok(ms < 5000, `no wait for the grace period (took ${ms} ms)`)
})

test('a process outside the dev server\'s group that holds its stdout open does not keep moonhost from exiting', { timeout: 60000 }, async (t) => {
  const root = childRoot()
  const host = await devHost(t, { command: ['node', 'devchild.js', 'handle', '--grandchild', 'stubborn', '--detached'], root })
  const child = Number((await host.waitForLog(/\[dev\] devchild ready pid=(\d+)/))[1])
  const orphan = Number((await host.waitForLog(/\[dev\] grandchild ready pid=(\d+)/))[1])
  t.after(() => running(orphan) && process.kill(orphan, 'SIGKILL'))
  const t0 = performance.now()
  process.kill(child, 'SIGUSR1') // exit(3)
  const { code } = await exitOf(host)
  const ms = performance.now() - t0
  assert.equal(code, 3, host.log)
  assert.match(host.log, /holds its output open; no longer reading it/)
  assert.equal(running(orphan), true, 'outside the group: moonhost never signalled it')
  assert.ok(ms < 2000, `exit after a short drain, not a hang (took ${ms} ms)`)
  t.diagnostic(`pipe held by a detached grandchild: moonhost exited ${Math.round(ms)} ms after the child`)
})

// Because the dev server has a session of its own, a terminal that closes
// sends SIGHUP to moonhost only; moonhost must then stop (and pass SIGHUP on)
// instead of reloading. `script` gives moonhost a pseudo-terminal that goes
// away when script is killed; moonhost's log comes back on fd 3.
test('closing the terminal stops moonhost and the dev server; SIGHUP while the terminal is there still reloads', { timeout: 60000 }, async (t) => {
  if (spawnSync('script', ['--version']).error) return t.skip('no script(1) to make a terminal')
  const root = childRoot()
  const plugins = devinfoPlugins(t)
  const cmd = `exec ${moonhostBin} run --listen 127.0.0.1:0 --log-level debug --plugins ${plugins} --config ${join(fixtures, 'conf.d')} --root ${root} -- node devchild.js handle 2>&3 3>&-`
  const script = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'ignore', 'ignore', 'pipe'] })
  const out = script.stdio[3]
  let log = ''
  const waits = new Set()
  out.on('data', (d) => {
    log += d
    for (const w of waits) w()
  })
  const ended = new Promise((resolve) => out.on('close', resolve))
  const waitFor = (re) =>
    within(
      new Promise((resolve) => {
        const check = () => {
          const m = re.exec(log)
          if (m) waits.delete(check), resolve(m)
        }
        waits.add(check)
        check()
      }),
      15000,
      () => `no line matching ${re}:\n${log}`,
    )
  const child = Number((await waitFor(/\[dev\] devchild ready pid=(\d+)/))[1])
  const moonhost = Number(readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1].split(' ')[1]) // its parent
  t.after(() => {
    for (const pid of [child, moonhost]) if (running(pid)) process.kill(pid, 'SIGKILL')
  })

  process.kill(moonhost, 'SIGHUP')
  await waitFor(/SIGHUP: reloading the configuration and every plugin/)
  await waitFor(/\[reload\] configuration reloaded/)
  assert.equal(running(child), true, 'a reload leaves the dev server alone')

  script.kill('SIGKILL') // the terminal goes away: the kernel sends SIGHUP
  // moonhost's stderr (fd 3) reaches end of file when moonhost exits: nothing else holds it.
  await within(ended, 10000, () => `moonhost did not exit after the terminal hung up:\n${log}`)
  assert.match(log, /shutting down \(the terminal hung up\)/)
  assert.match(log, /'node devchild\.js handle' exited with signal 1/, 'the dev server got SIGHUP')
  assert.equal(running(child), false)
  assert.doesNotMatch(log, SANITIZER)
})
