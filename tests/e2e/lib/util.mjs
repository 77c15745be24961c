// Small helpers shared by the e2e tests (on top of lib/host.mjs).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import WebSocket from 'ws'
import { startHost, fixtures, closeOf, writeTree, tempDir } from './host.mjs'

/** Starts a host for test t and stops it (checking its exit) when t ends. */
export async function hostFor(t, opts = {}) {
  const host = await startHost(opts)
  t.after(() => host.stop())
  return host
}

/** A promise with its resolve/reject exposed. */
export function deferred() {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Awaits p expecting a rejection; returns the rejection value. */
export async function rejectionOf(p) {
  try {
    const v = await p
    throw new Error(`expected a rejection, got ${JSON.stringify(v)}`)
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('expected a rejection')) throw e
    return e
  }
}

/** The source of the test configuration fragment (conf.d/00-test.lua). */
export function testConfigSource() {
  return readFileSync(join(fixtures, 'conf.d', '00-test.lua'), 'utf8')
}

/**
 * Decodes a structured-clone-es record array (the host answers a frame that
 * starts with '[' in that codec): [tag, value] records, records[0] the root.
 * Enough for replies: primitives (0), undefined (-1), arrays (1), objects (2), errors (7).
 */
export function decodeRecords(records) {
  const resolve = (i) => {
    const [tag, value] = records[i]
    switch (tag) {
      case 0: return value
      case -1: return undefined
      case 1: return value.map(resolve)
      case 2: return Object.fromEntries(value.map(([k, v]) => [resolve(k), resolve(v)]))
      case 7: return Object.assign(new Error(value.message), { name: value.name })
      default: throw new Error(`record ${i}: tag ${JSON.stringify(tag)} not handled by the test decoder`)
    }
  }
  return resolve(0)
}

/** A frame from the host as a value: plain JSON, or "s:"/record-array frames decoded. */
export function decodeFrame(text) {
  if (text.startsWith('s:')) return decodeRecords(JSON.parse(text.slice(2)))
  const v = JSON.parse(text)
  // Envelopes are objects: an array frame is the structured-clone codec.
  return Array.isArray(v) ? decodeRecords(v) : v
}

/**
 * A raw ws with a message queue, so no frame is missed between reads.
 *   const raw = await rawClient(host)
 *   raw.send({ t: 'q', i: 'x', m: 'wire:sub', a: [2, 1] })
 *   const reply = await raw.next()            // decoded frame
 *   const reply2 = await raw.replyTo('x')     // first frame whose i is 'x'
 */
export async function rawClient(host, path = '/__ws') {
  const ws = await host.rawSocket(path)
  const queue = []
  const waiters = []
  const closed = closeOf(ws)
  ws.on('message', (data, isBinary) => {
    const item = { text: data.toString(), isBinary }
    const w = waiters.shift()
    if (w) w(item)
    else queue.push(item)
  })
  // The timeout only turns a missing frame into a failure instead of a hang.
  const nextItem = (timeoutMs = 10000) => {
    if (queue.length) return Promise.resolve(queue.shift())
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1)
        rej(new Error(`no frame from the host within ${timeoutMs} ms`))
      }, timeoutMs)
      const waiter = (item) => {
        clearTimeout(timer)
        res(item)
      }
      waiters.push(waiter)
    })
  }
  return {
    ws,
    closed,
    /** Sends a string as is, an object as JSON, a Buffer as a text frame. */
    send(frame) {
      if (Buffer.isBuffer(frame)) ws.send(frame, { binary: false })
      else ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
    },
    /** The next frame, decoded (see decodeFrame); a failure after timeoutMs without one. */
    async next(timeoutMs) {
      return decodeFrame((await nextItem(timeoutMs)).text)
    },
    /** The next frame as received (text). */
    async nextText() {
      return (await nextItem()).text
    },
    /** The next frame whose i equals id (frames before it are dropped). */
    async replyTo(id) {
      for (;;) {
        const msg = decodeFrame((await nextItem()).text)
        if (msg.i === id) return msg
      }
    },
  }
}

// Temp dirs are removed when the test process exits, after every host has
// stopped (a t.after hook could run before the host that reads them stops).
const tempDirs = []
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

/** writeTree into a fresh temp dir, removed when the test file's process exits. */
export function tempTree(t, files) {
  const dir = writeTree(files, tempDir())
  tempDirs.push(dir)
  return dir
}

/** A fresh empty temp dir, removed like tempTree's. */
export function scratchDir(prefix) {
  const dir = tempDir(prefix)
  tempDirs.push(dir)
  return dir
}

/** A conf.d directory: the test fragment (00-test.lua) plus extra fragments. */
export function configDir(t, extra = {}) {
  return tempTree(t, { '00-test.lua': testConfigSource(), ...extra })
}

export { writeTree, copyFixturePlugins, tempDir, runMoonhost, fixtures } from './host.mjs'

/**
 * A TCP port on 127.0.0.1 for a server that must come back on the same
 * port (host restarts, links, Vite's --strictPort). It is chosen below the
 * kernel's ephemeral range, so neither a `listen(0)` elsewhere nor the
 * source port of an outgoing connection in a concurrently running test can
 * take it between our check and the restart (which a port from
 * `listen(0)` could not promise: CI saw EADDRINUSE on a restart).
 */
export async function fixedPort() {
  let ephemeralLow = 32768
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
  } catch {}
  const low = 20000
  const high = Math.max(low + 1000, ephemeralLow) - 1
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low))
    if (claimPort(port) && (await canListen(port))) return port
  }
  throw new Error(`no free port in ${low}..${high}`)
}

// Test files run as separate processes, and a port stays free between the
// check and the bind, or while its host is down for a restart: a claim file
// per port (created exclusively, holding the owner's pid, removed when the
// process exits) keeps two test processes from choosing the same one.
const claimsDir = join(tmpdir(), 'moonhost-e2e-ports')
const claimed = []
process.on('exit', () => {
  for (const file of claimed) rmSync(file, { force: true })
})

function claimPort(port) {
  return claimFile(claimsDir, String(port))
}

/**
 * Claims `name` in dir for this test process (a file created exclusively,
 * holding our pid, removed when the process exits): false while another
 * live process holds it; a claim left by a dead one is taken over.
 */
export function claimFile(dir, name) {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, name)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' })
      claimed.push(file)
      return true
    } catch {
      let owner
      try {
        owner = readFileSync(file, 'utf8')
      } catch {
        continue // its owner just let it go
      }
      if (owner === '' || processAlive(Number(owner))) return false // '': being written
      rmSync(file, { force: true }) // left by a test process that died
    }
  }
  return false
}

/** Whether a process with this pid exists (ours to signal or not). */
export function processAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

function canListen(port) {
  return new Promise((res) => {
    const srv = createServer()
    srv.once('error', () => res(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)))
  })
}

/**
 * The moonhost JS client module exactly as the host serves it
 * (/__moonhost/client.js), written to a scratch file and imported.
 * check(res) may assert on the HTTP response first.
 */
export async function servedClient(host, check = () => {}) {
  const res = await fetch(`http://127.0.0.1:${host.port}/__moonhost/client.js`)
  check(res)
  const file = join(scratchDir('moonhost-client-'), 'client.mjs')
  writeFileSync(file, await res.text())
  return import(pathToFileURL(file).href)
}

/** The status of a WebSocket upgrade to path with these headers: 101 when accepted, else the HTTP status (or the socket error's code). */
export function upgradeStatus(host, path = '/__ws', headers = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}${path}`, { headers })
    ws.on('open', () => {
      ws.terminate()
      resolve(101)
    })
    ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode)
      req.destroy()
    })
    ws.on('error', (e) => resolve(e.code))
  })
}
