// moonhost-client: birpc envelopes (plain JSON) over one WebSocket, with
// timeouts, cancellation, reconnect and buffering. One ES module, no
// dependencies, no build step; runs in browsers and in Node 20+ (pass
// `WebSocket` from the `ws` package where there is no global one). This
// directory (npm/moonhost-client) is the npm package and the only copy: the
// host embeds this file at build time and serves it at
// /__moonhost/client.js, its types at /__moonhost/client.d.ts.
//
//   import { connect } from 'moonhost-client'
//   const rpc = connect({ url: 'ws://127.0.0.1:7812/__ws', token })
//   await rpc.call('demo:add', 2, 3)            // 5
//   await rpc.typed().demo.add(2, 3)            // the same, through a Proxy
//   for await (const step of rpc.stream('build:run', 3)) console.log(step)
//
// connect() returns the client synchronously: calls made before the socket
// opens are buffered and sent once it does. `await rpc.ready` resolves at the
// first connection (it rejects only if close() comes first).

/** Error codes: the host's (docs/protocol.md "Error codes") and the ones this client makes. */
export const ERROR_CODES = Object.freeze([
  'not_found', 'bad_request', 'unauthorized', 'too_large', 'rpc_timeout', 'rpc_cancelled',
  'rpc_method_already_registered', 'overloaded', 'internal', 'buffer_overflow', 'disconnected',
])

/** Every failure a call reports: `.code` is one of ERROR_CODES, `.data` what the host attached. */
export class RpcError extends Error {
  constructor(code, message, data, remoteName) {
    super(message)
    this.name = 'RpcError'
    this.code = code
    if (data !== undefined) this.data = data
    // The error's name on the side that raised it ('Error', 'TypeError', ...).
    if (remoteName !== undefined) this.remoteName = remoteName
  }
}

const OPEN = 1 // WebSocket.OPEN, the same in browsers and in ws
const encoder = new TextEncoder()
const decoder = new TextDecoder()

// The host limits messages by bytes, not UTF-16 units; only count when it can matter.
function tooBig(text, max) {
  return max > 0 && text.length > max / 3 && encoder.encode(text).length > max
}

function fromWire(e) {
  if (e && typeof e === 'object') {
    return new RpcError(typeof e.code === 'string' ? e.code : 'internal', String(e.message ?? e.code ?? 'error'), e.data, e.name)
  }
  return new RpcError('internal', String(e))
}

function toWire(err) {
  const out = {
    name: typeof err?.name === 'string' ? err.name : 'Error',
    message: typeof err?.message === 'string' ? err.message : String(err),
    code: typeof err?.code === 'string' ? err.code : 'internal',
  }
  if (err?.data !== undefined) out.data = err.data
  return out
}

// The URL to dial: relative URLs (and none at all) resolve against the page,
// http(s) becomes ws(s), and the token travels as ?token= (the host trusts
// the socket from its upgrade on).
function socketUrl(url, token) {
  const base = globalThis.location?.href
  const u = new URL(url ?? '/__ws', base)
  if (u.protocol === 'http:') u.protocol = 'ws:'
  if (u.protocol === 'https:') u.protocol = 'wss:'
  if (token != null && token !== '') u.searchParams.set('token', token)
  return u.href
}

export function connect(options = {}) {
  return new MoonhostClient(options)
}

export class MoonhostClient {
  #WS
  #url
  #timeoutMs
  #pause
  #limit
  #maxMessage
  #backoff
  #ws = null
  #status = 'connecting' // 'connecting' (first attempt) | 'open' | 'reconnecting' | 'closed'
  #everOpened = false
  #attempt = 0
  #retryTimer = null
  #pending = new Map() // id -> call waiting for its reply (sent, or still in #buffer)
  #buffer = [] // frames waiting for a connection, in call order
  #bufferedBytes = 0
  #streams = new Map() // id -> stream being read (started; until its end is known)
  #functions = new Map() // client functions the host may call
  #serving = new Map() // id -> AbortController of a host call a handler is still working on
  #listeners = { connect: new Set(), disconnect: new Set(), event: new Set() }
  // Ids only have to be unique on one socket, but a random prefix keeps
  // replies meant for an earlier client (or socket) from ever matching.
  #idPrefix = Math.random().toString(36).slice(2, 8) + '-'
  #nextId = 0
  #closing = null
  #readyResolve
  #readyReject

  constructor({ url, token, timeoutMs = 10000, onDisconnect = 'fail', bufferLimitBytes = 65536, maxMessageBytes = 1048576,
    WebSocket = globalThis.WebSocket, reconnect = {} } = {}) {
    if (typeof WebSocket !== 'function') throw new TypeError('moonhost: no WebSocket here; pass connect({ WebSocket })')
    if (onDisconnect !== 'fail' && onDisconnect !== 'pause') throw new TypeError("moonhost: onDisconnect is 'fail' or 'pause'")
    this.#WS = WebSocket
    this.#url = socketUrl(url, token)
    this.#timeoutMs = timeoutMs
    this.#pause = onDisconnect === 'pause'
    this.#limit = bufferLimitBytes
    this.#maxMessage = maxMessageBytes
    this.#backoff = reconnect === false ? null : { initialMs: 250, maxMs: 10000, ...reconnect }
    this.ready = new Promise((res, rej) => ((this.#readyResolve = res), (this.#readyReject = rej)))
    this.ready.catch(() => {}) // nobody has to await it
    this.#dial()
  }

  get status() { return this.#status }

  /** Calls a host function; resolves with its result or rejects with an RpcError. */
  call(name, ...args) { return this.#request({}, name, args) }

  /** call() with per-call options: { timeoutMs, signal }. */
  callWith(opts, name, ...args) { return this.#request(opts ?? {}, name, args) }

  /** call() that never rejects. `reconnected` is true when the call was made while the
   *  connection was down (after the first attempt): it waited for, or failed for lack of, a reconnect. */
  tryCall(name, ...args) {
    const reconnected = this.#status === 'reconnecting'
    return this.#request({}, name, args).then(
      (value) => ({ ok: true, value, error: undefined, reconnected }),
      (error) => ({ ok: false, value: undefined, error, reconnected }))
  }

  /** Reads a stream function (`stream = true` in Lua): an async iterator of its chunks, whose
   *  `{ done: true, value }` carries the producer's final value. Nothing is sent before the first next(). */
  stream(name, ...args) { return this.streamWith({}, name, ...args) }

  /** stream() with options: { signal, lastEventId, window (1..1024, default 16), resume (default true) }. */
  streamWith({ signal, lastEventId, window = 16, resume = true } = {}, name, ...args) {
    if (!Number.isInteger(window) || window < 1 || window > 1024) {
      throw new TypeError('moonhost: a stream window is an integer from 1 to 1024')
    }
    if (lastEventId != null && typeof lastEventId !== 'string') throw new TypeError('moonhost: lastEventId is a string')
    // queue: chunks received and not taken, each with the socket (epoch) it came on, so that
    // only chunks of the current socket are acked. end: how it ended, once known.
    const s = { id: null, name, args, window, resume, signal, lastEventId: lastEventId ?? undefined, queue: [],
      end: null, waiters: [], started: false, sent: false, kept: false, resumable: true, epoch: 0, taken: 0 }
    return {
      next: () => this.#streamNext(s),
      return: (value) => {
        this.#streamStop(s, null)
        return Promise.resolve({ done: true, value })
      },
      [Symbol.asyncIterator]() { return this },
      /** The id of the last chunk received that had one (what a resume sends). */
      get lastEventId() { return s.lastEventId },
    }
  }

  /** A birpc event: no id, no reply. Returns false if it was dropped (no connection
   *  in 'fail' mode, a full buffer, too large, closed), true if sent or buffered. */
  event(name, ...args) {
    const frame = JSON.stringify({ t: 'q', m: name, a: args })
    if (this.#status === 'closed' || tooBig(frame, this.#maxMessage)) return false
    return this.#transmit({ frame, event: true })
  }

  /** Provides a function the host may call (ctx.rpc.call_client, broadcast_call, broadcast).
   *  Handlers are local, so they keep answering on every new socket after a reconnect.
   *  Returns a function that removes it. */
  register({ name, type = 'action', handler }) {
    if (typeof name !== 'string' || !name) throw new TypeError('moonhost: register needs a name')
    if (typeof handler !== 'function') throw new TypeError(`moonhost: register '${name}' needs a handler`)
    if (this.#functions.has(name)) {
      throw new RpcError('rpc_method_already_registered', `client function "${name}" is already registered`)
    }
    const entry = { name, type, handler }
    this.#functions.set(name, entry)
    return () => { if (this.#functions.get(name) === entry) this.#functions.delete(name) }
  }

  /** A Proxy for calling by property: rpc.typed()['demo:add'](1, 2), or
   *  rpc.typed().demo.add(1, 2): each property step adds a ':'-separated part.
   *  (A part named `then` is not reachable this way, so the proxy is never mistaken for a promise.) */
  typed() { return callPath(this, []) }

  /** on('connect', ({ reconnected }) => ...), on('disconnect', ({ code, reason }) => ...),
   *  on('event', (name, args) => ...) for every event frame the host sends. Returns an unsubscribe function. */
  on(type, fn) {
    const set = this.#listeners[type]
    if (!set) throw new TypeError(`moonhost: no '${type}' event (connect, disconnect, event)`)
    set.add(fn)
    return () => set.delete(fn)
  }

  /** The peer mesh (README "Peer mesh"): announce, peers, peer(target).call, provide, make. */
  get mesh() { return (this.#mesh ??= meshApi(this)) }
  #mesh

  /** Closes for good: pending and buffered calls reject with `disconnected`; no reconnect. */
  close() {
    if (this.#closing) return this.#closing
    const wasOpen = this.#status === 'open'
    this.#status = 'closed'
    clearTimeout(this.#retryTimer)
    const err = new RpcError('disconnected', 'the client was closed')
    for (const e of [...this.#pending.values()]) this.#finish(e, err)
    for (const st of [...this.#streams.values()]) this.#streamFinish(st, err)
    this.#stopServing()
    this.#buffer = []
    this.#bufferedBytes = 0
    this.#readyReject(err)
    const ws = this.#ws
    this.#ws = null
    this.#closing = new Promise((res) => {
      if (!ws || ws.readyState === 3) return res()
      ws.onclose = () => res()
      ws.close(1000)
    })
    if (wasOpen) this.#emit('disconnect', { code: 1000, reason: 'closed by the client' })
    return this.#closing
  }

  #request({ timeoutMs = this.#timeoutMs, signal } = {}, name, args) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new RpcError('rpc_cancelled', `call to "${name}" was cancelled before it was sent`))
      if (this.#status === 'closed') return reject(new RpcError('disconnected', 'the client was closed'))
      const id = this.#idPrefix + ++this.#nextId
      let frame
      try {
        frame = JSON.stringify({ t: 'q', i: id, m: name, a: args })
      } catch (err) {
        return reject(new RpcError('bad_request', `arguments of "${name}" cannot be sent: ${err.message}`))
      }
      // The host would close the socket with 1009 (failing every call in flight): refuse just this one.
      if (tooBig(frame, this.#maxMessage)) {
        return reject(new RpcError('too_large', `call to "${name}" is over ${this.#maxMessage} bytes`))
      }
      const e = { id, name, frame, resolve, reject, sent: false }
      this.#pending.set(id, e)
      // Wall clock from the call, so time spent in the buffer counts too.
      if (timeoutMs > 0 && timeoutMs < Infinity) {
        e.timer = setTimeout(() => this.#finish(e, new RpcError('rpc_timeout', `"${name}" got no answer within ${timeoutMs} ms`), undefined, true), timeoutMs)
      }
      if (signal) {
        e.signal = signal
        e.onAbort = () => this.#finish(e, new RpcError('rpc_cancelled', `call to "${name}" was cancelled`), undefined, true)
        signal.addEventListener('abort', e.onAbort, { once: true })
      }
      this.#transmit(e)
    })
  }

  // Sends now, or buffers while there is no connection. Calls that cannot be
  // buffered settle here; returns whether the frame was sent or buffered.
  #transmit(e) {
    if (this.#status === 'open' && this.#ws?.readyState === OPEN) {
      this.#ws.send(e.frame)
      e.sent = true
      return true
    }
    // Before the first attempt has settled we buffer in both modes: nobody
    // could have made the call "after connecting" yet.
    if (this.#status !== 'connecting' && !this.#pause) {
      if (!e.event) this.#finish(e, new RpcError('disconnected', `not connected: "${e.name}" was not sent`))
      return false
    }
    e.bytes = encoder.encode(e.frame).length
    if (this.#bufferedBytes + e.bytes > this.#limit) {
      if (!e.event) this.#finish(e, new RpcError('buffer_overflow', `"${e.name}" does not fit the ${this.#limit}-byte buffer`))
      return false
    }
    this.#buffer.push(e)
    this.#bufferedBytes += e.bytes
    return true
  }

  // Settles a call once. A call settled locally (timeout, abort) that the
  // host already has gets a cancel frame, so its handler stops too; one
  // still in the buffer is taken out and never sent.
  #finish(e, err, value, cancelRemote = false) {
    if (this.#pending.get(e.id) !== e) return
    this.#pending.delete(e.id)
    clearTimeout(e.timer)
    e.signal?.removeEventListener('abort', e.onAbort)
    if (!e.sent) {
      const at = this.#buffer.indexOf(e)
      if (at >= 0) {
        this.#buffer.splice(at, 1)
        this.#bufferedBytes -= e.bytes
      }
    } else if (cancelRemote && this.#ws?.readyState === OPEN) {
      this.#ws.send(JSON.stringify({ t: 'c', i: e.id }))
    }
    if (err) e.reject(err)
    else e.resolve(value)
  }

  #dial() {
    let ws
    try {
      ws = new this.#WS(this.#url)
    } catch (err) {
      this.#ws = null
      return this.#dropped(1006, String(err?.message ?? err))
    }
    this.#ws = ws
    ws.binaryType = 'arraybuffer'
    ws.onopen = () => ws === this.#ws && this.#onOpen(ws)
    ws.onmessage = (ev) => ws === this.#ws && this.#receive(ws, ev.data)
    ws.onclose = (ev) => {
      if (ws !== this.#ws) return
      this.#ws = null
      this.#dropped(ev.code, ev.reason)
    }
    ws.onerror = () => {} // a close event always follows, and says more
  }

  #onOpen(ws) {
    const reconnected = this.#everOpened
    this.#everOpened = true
    this.#attempt = 0
    this.#status = 'open'
    const buffered = this.#buffer
    this.#buffer = []
    this.#bufferedBytes = 0
    for (const e of buffered) {
      ws.send(e.frame)
      e.sent = true
    }
    for (const st of this.#streams.values()) if (!st.sent) this.#streamSend(st)
    this.#readyResolve()
    this.#emit('connect', { reconnected })
  }

  #dropped(code, reason) {
    if (this.#status === 'closed') return
    const wasOpen = this.#status === 'open'
    this.#status = this.#backoff ? 'reconnecting' : 'closed'
    // Calls the host had are gone with the socket (it cancels them). We do not
    // send them again: an action could run twice.
    const gone = new RpcError('disconnected', `connection lost${code ? ` (close ${code}${reason ? `: ${reason}` : ''})` : ''}`)
    for (const e of [...this.#pending.values()]) if (e.sent) this.#finish(e, gone)
    this.#streamsDropped(gone)
    this.#stopServing() // the host forgot its calls to us with the socket (and reuses their ids)
    if (!this.#pause || !this.#backoff) {
      for (const e of [...this.#buffer]) if (!e.event) this.#finish(e, gone)
      this.#buffer = []
      this.#bufferedBytes = 0
    }
    if (wasOpen) this.#emit('disconnect', { code, reason })
    if (!this.#backoff) return this.close()
    // Exponential backoff with jitter (half fixed, half random), so clients
    // of a restarted host do not all come back in the same millisecond.
    const { initialMs, maxMs } = this.#backoff
    const delay = Math.min(maxMs, initialMs * 2 ** this.#attempt++)
    this.#retryTimer = setTimeout(() => this.#status === 'reconnecting' && this.#dial(), delay / 2 + Math.random() * delay / 2)
  }

  #receive(ws, data) {
    let msg
    try {
      msg = JSON.parse(typeof data === 'string' ? data : decoder.decode(data))
    } catch {
      return // not ours to answer: the host only sends JSON envelopes to us
    }
    if (!msg || typeof msg !== 'object') return
    if (msg.t === 'd' || msg.t === 'e' || (msg.t === 's' && this.#streams.has(msg.i))) {
      const st = this.#streams.get(msg.i)
      if (st) this.#streamFrame(st, msg)
    } else if (msg.t === 's') {
      const e = this.#pending.get(msg.i)
      if (!e) return // settled already (timed out, cancelled): a late reply
      if (msg.e != null) this.#finish(e, fromWire(msg.e))
      else this.#finish(e, null, msg.r)
    } else if (msg.t === 'q' && typeof msg.m === 'string') {
      this.#serve(ws, msg)
    } else if (msg.t === 'c') {
      // The host gave up on a call it made to us: tell the handler; it wants no reply.
      this.#serving.get(msg.i)?.abort()
      this.#serving.delete(msg.i)
    }
  }

  // A call or event from the host to one of our functions.
  #serve(ws, msg) {
    const fn = this.#functions.get(msg.m)
    const args = Array.isArray(msg.a) ? msg.a : []
    if (msg.i == null) {
      this.#emit('event', msg.m, args)
      if (!fn) return
      // An event relayed through the mesh carries the sender's signed identity ("x"): the handler
      // sees it as `this.identity`, as for a call (its `this.signal` is never aborted: an event has
      // no reply to stop). Without "x" the handler runs as it always has (no identity, no signal).
      const run = msg.x === undefined
        ? () => fn.handler(...args)
        : () => fn.handler.apply({ signal: new AbortController().signal, identity: msg.x }, args)
      Promise.resolve().then(run).catch(() => {}) // no one to tell
      return
    }
    // Answer on the socket the call came on; a newer one does not know the id.
    const reply = (body) => {
      let text
      try {
        text = JSON.stringify({ t: 's', i: msg.i, ...body })
      } catch (err) {
        text = JSON.stringify({ t: 's', i: msg.i, e: toWire(new RpcError('internal', `result cannot be sent: ${err.message}`)) })
      }
      if (tooBig(text, this.#maxMessage)) {
        text = JSON.stringify({ t: 's', i: msg.i, e: toWire(new RpcError('too_large', `result of "${msg.m}" is too large`)) })
      }
      if (ws.readyState === OPEN) ws.send(text)
    }
    if (!fn) {
      // birpc's wording; an optional call ("o") to a missing function answers undefined.
      return reply(msg.o ? {} : { e: { name: 'Error', message: `[birpc] function "${msg.m}" not found`, code: 'not_found' } })
    }
    // Handlers see `this.signal`, aborted if the host cancels the call (or the socket goes).
    const ac = new AbortController()
    this.#serving.set(msg.i, ac)
    const done = (body) => {
      if (this.#serving.get(msg.i) === ac) this.#serving.delete(msg.i)
      if (!ac.signal.aborted) reply(body)
    }
    // `this.identity`: who asked, for a call relayed through the mesh ({from, sig}; see mesh.verify).
    // Events get it too (above).
    Promise.resolve().then(() => fn.handler.apply({ signal: ac.signal, identity: msg.x }, args))
      .then((r) => done({ r }), (err) => done({ e: toWire(err) }))
  }

  // ---- streams (docs/protocol.md "Streams over the WebSocket") ----

  #streamNext(s) {
    if (!s.started) this.#streamStart(s)
    if (s.queue.length) return Promise.resolve(this.#streamTake(s))
    if (s.end) return this.#streamEndResult(s)
    return new Promise((resolve, reject) => { s.waiters.push({ resolve, reject }) }) // in call order
  }

  #streamStart(s) {
    s.started = true
    if (s.signal?.aborted) return (s.end = { error: new RpcError('rpc_cancelled', `stream "${s.name}" was cancelled before it was sent`) })
    if (this.#status === 'closed') return (s.end = { error: new RpcError('disconnected', 'the client was closed') })
    s.id = this.#idPrefix + ++this.#nextId
    this.#streams.set(s.id, s)
    if (s.signal) {
      s.onAbort = () => this.#streamStop(s, new RpcError('rpc_cancelled', `stream "${s.name}" was cancelled`))
      s.signal.addEventListener('abort', s.onAbort, { once: true })
    }
    this.#streamSend(s)
  }

  // Sends the start (again, after a reconnect: with the last event id seen) or leaves it for #onOpen.
  #streamSend(s) {
    let frame
    try {
      const opts = { w: s.window }
      if (s.lastEventId !== undefined) opts.l = s.lastEventId
      frame = JSON.stringify({ t: 'q', i: s.id, m: s.name, a: s.args, s: opts })
    } catch (err) {
      return this.#streamFinish(s, new RpcError('bad_request', `arguments of "${s.name}" cannot be sent: ${err.message}`))
    }
    if (tooBig(frame, this.#maxMessage)) return this.#streamFinish(s, new RpcError('too_large', `stream "${s.name}" is over ${this.#maxMessage} bytes`))
    if (this.#status === 'open' && this.#ws?.readyState === OPEN) {
      s.epoch++
      s.taken = 0
      s.sent = true
      this.#ws.send(frame)
    } else if (this.#status !== 'connecting' && !this.#pause && !s.kept) {
      this.#streamFinish(s, new RpcError('disconnected', `not connected: stream "${s.name}" was not sent`))
    }
  }

  // The socket went: a stream resumes on the next one when it may (reconnects on, resume not turned
  // off, and its last chunk had an id, or none came yet: then nothing is lost or repeated).
  #streamsDropped(gone) {
    for (const s of [...this.#streams.values()]) {
      const wasSent = s.sent
      s.sent = false
      s.kept = Boolean(this.#backoff) && (wasSent ? s.resume && s.resumable : this.#pause || s.kept)
      if (!s.kept) this.#streamFinish(s, gone)
    }
  }

  #streamFrame(s, msg) {
    if (msg.t === 'd') {
      let value
      try {
        value = revive(msg.p)
      } catch (err) {
        return this.#streamStop(s, new RpcError('internal', `a chunk of "${s.name}" cannot be read: ${err.message}`))
      }
      s.lastEventId = typeof msg.l === 'string' ? msg.l : s.lastEventId
      s.resumable = typeof msg.l === 'string'
      s.queue.push({ value, epoch: s.epoch })
      if (s.waiters.length) s.waiters.shift().resolve(this.#streamTake(s))
    } else if (msg.t === 'e') {
      let value
      try {
        value = msg.p === undefined ? undefined : revive(msg.p)
      } catch (err) {
        return this.#streamFinish(s, new RpcError('internal', `the final value of "${s.name}" cannot be read: ${err.message}`))
      }
      this.#streamFinish(s, null, value)
    } else {
      this.#streamFinish(s, msg.e != null ? fromWire(msg.e) : null, msg.r) // "t":"s": an error, or a plain reply
    }
  }

  #streamTake(s) {
    const { value, epoch } = s.queue.shift()
    // Acks in batches of half the window: the producer never waits for one chunk's ack.
    if (epoch === s.epoch && s.sent && this.#streams.get(s.id) === s && ++s.taken >= Math.ceil(s.window / 2)) {
      if (this.#ws?.readyState === OPEN) this.#ws.send(JSON.stringify({ t: 'a', i: s.id, n: s.taken }))
      s.taken = 0
    }
    return { value, done: false }
  }

  #streamEndResult(s) {
    const { error, value } = s.end
    s.end = { value: undefined } // reported once; then the iterator is just done
    return error ? Promise.reject(error) : Promise.resolve({ done: true, value })
  }

  // The reader stops (return(), or its signal with err): the host gets a cancel, queued chunks go.
  #streamStop(s, err) {
    if (!s.started) {
      s.started = true
      s.end = err ? { error: err } : { value: undefined }
      return
    }
    if (this.#streams.get(s.id) === s && s.sent && this.#ws?.readyState === OPEN) {
      this.#ws.send(JSON.stringify({ t: 'c', i: s.id }))
    }
    s.queue = []
    this.#streamFinish(s, err, undefined)
    if (!err) s.end = { value: undefined }
  }

  #streamFinish(s, err, value) {
    if (this.#streams.get(s.id) === s) this.#streams.delete(s.id)
    s.signal?.removeEventListener('abort', s.onAbort)
    if (s.end) return
    s.end = err ? { error: err } : { value }
    // Waiters exist only while the queue is empty: the first gets the end, the others are done.
    for (const { resolve, reject } of s.waiters.splice(0)) this.#streamEndResult(s).then(resolve, reject)
  }

  #stopServing() {
    for (const ac of this.#serving.values()) ac.abort()
    this.#serving.clear()
  }

  #emit(type, ...args) {
    for (const fn of this.#listeners[type]) {
      try {
        fn(...args)
      } catch (err) {
        console.error(`moonhost: a '${type}' listener threw`, err) // the socket must not suffer for it
      }
    }
  }
}

// The mesh, on top of the host's functions. What this peer announced and
// provides is remembered and said again after a reconnect.
const M = 'devtoolskit:internal:'
function meshApi(client) {
  let announced = null
  const provided = new Set()
  const changes = new Set()
  client.register({ name: `${M}peer:directory-delta`, type: 'event', handler: (d) => changes.forEach((fn) => fn(d)) })
  client.on('connect', ({ reconnected }) => {
    if (!reconnected) return
    if (announced) client.call(`${M}peer:announce`, announced).catch(() => {})
    for (const name of provided) client.call(`${M}mesh:provide`, { name }).catch(() => {})
  })
  const relay = (opts, to, method, args) =>
    client.callWith(opts, `${M}mesh:relay`, { to, method, args, timeout: opts.timeoutMs })
  return {
    /** {role, capabilities?, meta?} -> {id, host, directory} */
    announce(info) {
      announced = info
      return client.call(`${M}peer:announce`, info)
    },
    peers: () => client.call(`${M}peer:directory`),
    /** target: a peer id, a role, 'role:*', or {role, capability, meta} */
    peer: (to) => ({
      call: (method, ...args) => relay({}, to, method, args),
      callWith: (opts, method, ...args) => relay(opts ?? {}, to, method, args),
      event: (method, ...args) => client.call(`${M}mesh:relay-event`, { to, method, args }),
    }),
    /** Serves `name` to make() callers; throw meshReject() to pass the call to another provider. */
    async provide(name, handler) {
      client.register({ name, type: 'action', handler })
      provided.add(name)
      await client.call(`${M}mesh:provide`, { name })
      return () => this.unprovide(name)
    },
    async unprovide(name) {
      provided.delete(name)
      await client.call(`${M}mesh:unprovide`, { name })
    },
    make: (name, ...args) => client.call(`${M}mesh:make`, { name, args }),
    /** on('change', ({kind, peer}) => ...) */
    on(type, fn) {
      if (type !== 'change') throw new TypeError("moonhost: the mesh's only event is 'change'")
      changes.add(fn)
      return () => changes.delete(fn)
    },
    verify: (identity) => client.call(`${M}mesh:verify`, identity),
  }
}

// A chunk or final value as oRPC serializes it, {json, meta}: meta lists [type, ...path] for the
// parts JSON has no type for, applied in order (as @orpc/client does).
function revive(p) {
  if (!p || typeof p !== 'object') throw new Error('no payload')
  const box = { v: p.json }
  for (const item of Array.isArray(p.meta) ? p.meta : []) {
    let parent = box
    let key = 'v'
    for (const seg of item.slice(1)) {
      parent = parent[key]
      key = seg
      if (parent == null || typeof parent !== 'object' || !Object.hasOwn(parent, key)) {
        throw new Error(`meta path ${JSON.stringify(item.slice(1))} is not in the value`)
      }
    }
    parent[key] = reviveOne(item[0], parent[key])
  }
  return box.v
}

function reviveOne(type, v) {
  switch (type) {
    case 0: return BigInt(v)
    case 1: return new Date(v ?? Number.NaN)
    case 2: return Number.NaN
    case 3: return undefined
    case 4: return new URL(v)
    case 5: {
      const m = /^\/(.*)\/([a-z]*)$/s.exec(v)
      if (!m) throw new Error(`not a RegExp: ${v}`)
      return new RegExp(m[1], m[2])
    }
    case 6: return new Set(v)
    case 7: return new Map(v)
    default: return v // a type this client does not know: left as JSON
  }
}

/** For a provider: throw meshReject() to let make() try the next provider. */
export function meshReject(message = 'rejected') {
  return new RpcError('rejected', message)
}

// rpc.typed(): a callable Proxy per name prefix. Property access extends the
// name ('demo' -> 'demo:add'); calling it calls that name.
function callPath(client, parts) {
  return new Proxy(function () {}, {
    get: (_, key) => (typeof key === 'string' && key !== 'then' ? callPath(client, [...parts, key]) : undefined),
    apply: (_, __, args) => client.call(parts.join(':'), ...args),
  })
}
