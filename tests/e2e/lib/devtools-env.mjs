// The browser globals the real Vite DevTools clients read, for Node 20, and a
// record of what they put on the wire. Import this module before the clients.
//
//   import { openPage, closePage, frames, waitFrame } from './lib/devtools-env.mjs'
//   openPage(host.port)          // a fresh page at http://127.0.0.1:PORT/
//   ... a client connects ...
//   await waitFrame((f) => f.dir === 'in' && f.msg.m === 'client:notify')
//   closePage()                  // closes the page's sockets
//
// What the clients need (found by reading devframe 1.3 and devtools-rpc 0.1):
//   WebSocket               both clients call `new WebSocket(url)` (Node 20 has none):
//                           the `ws` package, sending the page's Origin as a browser does
//   location                devframe resolves the socket URL against it and sends
//                           location.origin in anonymous:devframe:auth
//   navigator.userAgent     sent as `ua` in anonymous:devframe:auth (Node 20 has no navigator)
//   Promise.withResolvers   devframe's live client mode uses it (Node 22+ has it)
//   fetch                   Node's, resolving relative URLs against location as a browser does
// BroadcastChannel is Node's own; localStorage, window and parent are read
// only inside try/catch, so they are left undefined (no persistence across pages).
import WS from 'ws'
import { parse } from 'structured-clone-es'

export const USER_AGENT = 'Node.js (moonhost e2e)'

let page = new URL('http://127.0.0.1/')
/** Every frame a page socket sent or received: { dir: 'out' | 'in', url, text, msg (decoded) }. */
export const frames = []
/** Every URL fetched through the global fetch. */
export const requests = []
const sockets = new Set()
const waiters = new Set()

/** Starts a fresh page at http://127.0.0.1:PORT/ (forgets what devframe stored on the last one). */
export function openPage(port) {
  page = new URL(`http://127.0.0.1:${port}/`)
  for (const key of ['__DEVFRAME_CONNECTION__', '__DEVFRAME_CONNECTION_META__', '__DEVFRAME_CONNECTION_AUTH_TOKEN__']) {
    delete globalThis[key]
  }
  frames.length = 0
  requests.length = 0
  return page
}

/** Closes the sockets the page opened. */
export function closePage() {
  for (const ws of sockets) ws.close()
  sockets.clear()
}

/** The first recorded frame matching pred, waiting for it if need be (the timeout only turns a hang into a failure). */
export function waitFrame(pred, timeoutMs = 10000) {
  const found = frames.find(pred)
  if (found) return Promise.resolve(found)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(check)
      reject(new Error(`no such frame within ${timeoutMs} ms; frames:\n${frames.map((f) => `${f.dir} ${f.text}`).join('\n')}`))
    }, timeoutMs)
    const check = (f) => {
      if (!pred(f)) return
      clearTimeout(timer)
      waiters.delete(check)
      resolve(f)
    }
    waiters.add(check)
  })
}

function record(dir, url, text) {
  let msg
  try {
    msg = decode(text)
  } catch {}
  const frame = { dir, url, text, msg }
  frames.push(frame)
  for (const check of [...waiters]) check(frame)
}

/** A recorded frame as a value ("s:" devframe form, record array, or JSON). */
export function decode(text) {
  if (text.startsWith('s:')) return parse(text.slice(2))
  return text.trimStart().startsWith('[') ? parse(text) : JSON.parse(text)
}

/** A WebSocket as a page would open it: with the page's Origin; frames recorded. */
class PageWebSocket extends WS {
  constructor(url, protocols) {
    super(url, protocols, { origin: page.origin })
    sockets.add(this)
    this.on('message', (data, isBinary) => {
      if (!isBinary) record('in', this.url, data.toString())
    })
  }

  send(data, ...rest) {
    record('out', this.url, String(data))
    return super.send(data, ...rest)
  }
}

const nodeFetch = globalThis.fetch
const define = (name, value) => Object.defineProperty(globalThis, name, { configurable: true, writable: true, value })

define('WebSocket', PageWebSocket)
Object.defineProperty(globalThis, 'location', { configurable: true, get: () => page })
define('navigator', { userAgent: USER_AGENT })
define('fetch', (input, init) => {
  const url = typeof input === 'string' || input instanceof URL ? new URL(input, page.href) : input
  requests.push(String(url.url ?? url))
  return nodeFetch(url, init)
})
if (!Promise.withResolvers) {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject
    const promise = new this((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}
