// devframe streaming channels (issue 16): the REAL devframe 1.3 client
// (@vitejs/devtools-kit 0.8's getDevToolsRpcClient, `rpc.streaming.subscribe`)
// reading Lua stream functions and ctx.rpc.streaming channels over
// devframe:streaming:*: order, resume after a reconnect (afterSeq), cancel
// running the producer's cleanup, a slow reader that stalls nobody else,
// reload, replay of a finished stream, and trust.
import { openPage, closePage, frames, waitFrame } from './lib/devtools-env.mjs'
import { test, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { getDevToolsRpcClient } from '@vitejs/devtools-kit/client'
import { kitClient } from './lib/kit-client.mjs'
import { startHost, E2E_TOKEN, repoRoot } from './lib/host.mjs'
import { scratchDir, rawClient, rejectionOf, hostFor, tempTree, configDir } from './lib/util.mjs'

const feedPlugin = (generation) => `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'feed',
  setup = function(ctx)
    local started, cleanups, emitted, held = 0, 0, 0, 0
    -- 1000 numbered chunks, then the end
    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'feed:count', type = 'query', stream = true,
      handler = function()
        started = started + 1
        return moonhost.stream(function(emit)
          for i = 1, 1000 do emit({ n = i, gen = ${generation} }) end
          return 'ignored by devframe'
        end)
      end,
    })
    -- 300 chunks, then (once feed:release was called) 700 more
    local released = false
    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'feed:gated', type = 'query', stream = true,
      handler = function()
        released = false
        return moonhost.stream(function(emit)
          for i = 1, 1000 do
            if i == 301 then
              while not released do moonhost.sleep(0.002) end
            end
            emit({ n = i })
          end
        end)
      end,
    })
    ctx.rpc.register { name = 'feed:release', type = 'action', handler = function() released = true end }
    -- chunks for as long as its readers take them, with a cleanup
    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'feed:forever', type = 'query', stream = true,
      handler = function()
        return moonhost.stream(function(emit)
          moonhost.on_cancel(function()
            cleanups = cleanups + 1
            ctx.log.info('feed:forever cleanup ran (' .. cleanups .. ')')
          end)
          local i = 0
          while true do
            i = i + 1
            emitted = emitted + 1
            emit({ n = i, pad = string.rep('x', 200) })
            -- emit waits only for a slow reader: a fast one would keep this
            -- loop from letting the host do anything else
            if i % 50 == 0 then moonhost.sleep(0.001) end
          end
        end)
      end,
    })
    -- three chunks, then it waits (for ever) with a cleanup
    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'feed:hold', type = 'query', stream = true,
      handler = function()
        held = held + 1
        return moonhost.stream(function(emit)
          moonhost.on_cancel(function() ctx.log.info('feed:hold cleanup ran') end)
          for i = 1, 3 do emit({ n = i }) end
          while true do moonhost.sleep(60) end
        end)
      end,
    })
    ctx.rpc.register { name = 'feed:stats', handler = function()
      return { started = started, cleanups = cleanups, emitted = emitted, held = held }
    end }
    -- a plugin's own channel, written by its functions
    local log = ctx.rpc.streaming.create('feed:log', { replay_window = 3 })
    local writers = {}
    ctx.rpc.register { name = 'feed:log-start', type = 'action', handler = function(id)
      writers[id] = log:start(id)
      return writers[id].id
    end }
    ctx.rpc.register { name = 'feed:log-write', type = 'action', handler = function(id, line)
      return (writers[id]:write(line))
    end }
    local flooded = 0
    ctx.rpc.register { name = 'feed:log-flood', type = 'action', handler = function(id, n)
      flooded = 0
      for i = 1, n do
        writers[id]:write({ i = i, pad = string.rep('y', 16000) })
        flooded = i
        -- Filling the kernel's buffers to the paused reader takes hundreds
        -- of writes, longer than lua.max_run_ms on a loaded ASan build; a
        -- pause now and then keeps this test about the writer's wait.
        if i % 64 == 0 then moonhost.sleep(0) end
      end
      return flooded
    end }
    ctx.rpc.register { name = 'feed:flooded', handler = function() return flooded end }
    ctx.rpc.register { name = 'feed:log-finish', type = 'action', handler = function(id, message)
      writers[id]:finish(message and { code = 'bad_request', name = 'BuildFailed', message = message })
    end }
    -- uploads: a client streams chunks in, a handler reads them as an iterator
    ctx.rpc.register { name = 'feed:upload-open', type = 'action', handler = function()
      return log:open_inbound().id
    end }
    local uploads = {}
    ctx.rpc.register { name = 'feed:upload-open-id', type = 'action', handler = function(id)
      uploads[id] = log:open_inbound(id)
      return id
    end }
    ctx.rpc.register { name = 'feed:upload-read', type = 'action', handler = function(id, stop_after)
      local up, got = uploads[id], moonhost.array {}
      for chunk in up do
        got[#got + 1] = chunk
        if #got == stop_after then up:cancel() break end
      end
      return got
    end }
    ctx.rpc.register { name = 'feed:gen', handler = function() return ${generation} end }
  end,
}
`

let host, dir
before(async () => {
  dir = scratchDir()
  writeFileSync(join(dir, 'feed.lua'), feedPlugin(1))
  host = await startHost({ plugins: dir })
})
afterEach(() => closePage())
after(() => host.stop())

// devframe's reader keeps at most highWaterMark chunks (256 by default) its
// consumer has not taken, dropping the oldest beyond: a socket read can hold
// more than that, so a fast stream's reader says how many it may hold.
const ROOMY = { highWaterMark: 1e6 }

const chunkFrames = (pred = () => true) =>
  frames.filter((f) => f.dir === 'in' && f.msg?.m === 'devframe:streaming:chunk' && pred(f.msg.a))

test('the real client reads a Lua stream function of 1000 chunks in order, then its end', async (t) => {
  openPage(host.port)
  const rpc = await kitClient(t)
  const got = []
  for await (const chunk of rpc.streaming.subscribe('feed:count', 'order-1', ROOMY)) got.push(chunk.n)
  assert.equal(got.length, 1000)
  assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i + 1))
  // The wire, as devframe numbers it: seq 1..1000 on [channel, id, seq, chunk].
  const seqs = chunkFrames((a) => a[1] === 'order-1').map((f) => f.msg.a[2])
  assert.deepEqual(seqs, got)
  const sub = frames.find((f) => f.dir === 'out' && f.msg?.m === 'devframe:streaming:subscribe')
  assert.deepEqual(sub.msg.a, ['feed:count', 'order-1', { afterSeq: 0 }])
})

/**
 * A WebSocket whose connection can be dropped under the client and dialed
 * again, the client keeping its object: what a page sees when its network
 * blips and a reconnecting transport takes over. Frames go through the
 * page's recording socket.
 */
function resumableSocketClass(PageSocket) {
  return class ResumableSocket extends EventTarget {
    static CONNECTING = 0
    static OPEN = 1
    static CLOSING = 2
    static CLOSED = 3
    constructor(url) {
      super()
      this.url = url
      this.readyState = 0
      ResumableSocket.last = this
      this.dial()
    }

    dial() {
      const ws = new PageSocket(this.url)
      this.ws = ws
      this.opened = new Promise((resolve) => ws.once('open', resolve)).then(() => {
        const first = this.readyState === 0
        this.readyState = 1
        if (first) this.dispatchEvent(new Event('open'))
      })
      ws.on('message', (data) => {
        if (ws === this.ws) this.dispatchEvent(new MessageEvent('message', { data: data.toString() }))
      })
      ws.on('close', () => {
        if (ws !== this.ws) return
        this.readyState = 3
        this.dispatchEvent(new Event('close'))
      })
    }

    send(data) {
      this.ws.send(data)
    }

    close() {
      this.ws.close()
    }

    /** Kills the connection (what it had not delivered is lost) and dials again. */
    async drop() {
      const old = this.ws
      const gone = new Promise((resolve) => old.once('close', resolve))
      this.dial()
      old.terminate()
      await gone
      await this.opened
    }
  }
}

test('a reconnect mid-stream resumes from afterSeq: no chunk lost, none twice', async (t) => {
  openPage(host.port)
  const PageSocket = globalThis.WebSocket
  const Resumable = resumableSocketClass(PageSocket)
  globalThis.WebSocket = Resumable
  let rpc
  try {
    rpc = await kitClient(t)
  } finally {
    globalThis.WebSocket = PageSocket
  }
  const socket = Resumable.last
  const got = []
  let dropped
  const disconnects = (host.log.match(/\] c\d+ disconnected/g) || []).length
  for await (const chunk of rpc.streaming.subscribe('feed:gated', 'resume-1', ROOMY)) {
    got.push(chunk.n)
    if (chunk.n === 300) {
      dropped = (async () => {
        // The connection dies under the client; a new one opens.
        await socket.drop()
        await host.waitForLogCount(/\] c\d+ disconnected/, disconnects + 1)
        // The producer goes on with nobody subscribed: it waits.
        await rpc.call('feed:release')
        await host.waitForLog(/feed:gated#resume-1 waits for a subscriber/)
        // The client's re-trust (rpc:is-trusted:updated) makes devframe
        // resubscribe with afterSeq = the last seq it saw.
        await rpc.requestTrustWithToken(E2E_TOKEN)
      })()
    }
  }
  await dropped
  assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i + 1))
  const subs = frames.filter((f) => f.dir === 'out' && f.msg?.m === 'devframe:streaming:subscribe')
  assert.equal(subs.length, 2)
  const afterSeq = subs[1].msg.a[2].afterSeq
  assert.equal(afterSeq, 300, 'resubscribed after what it had')
  // On the new connection the host sent afterSeq+1 .. 1000, each once.
  const resent = chunkFrames((a) => a[1] === 'resume-1').filter((f) => frames.indexOf(f) > frames.indexOf(subs[1]))
  assert.deepEqual(resent.map((f) => f.msg.a[2]), Array.from({ length: 1000 - afterSeq }, (_, i) => afterSeq + 1 + i))
})

test('cancel from the client stops the Lua coroutine and runs its cleanup', async (t) => {
  openPage(host.port)
  const rpc = await kitClient(t)
  const before = await rpc.call('feed:stats')
  let n = 0
  for await (const chunk of rpc.streaming.subscribe('feed:forever', 'cancel-1', ROOMY)) {
    assert.equal(chunk.n, ++n)
    if (n === 5) break // the iterator's return(): devframe:streaming:cancel
  }
  await host.waitForLog(/feed:forever#cancel-1: cancelled by its last reader/)
  await host.waitForLog(new RegExp(`feed:forever cleanup ran \\(${before.cleanups + 1}\\)`))
  const stats = await rpc.call('feed:stats')
  assert.equal(stats.cleanups, before.cleanups + 1)
  const cancel = frames.find((f) => f.dir === 'out' && f.msg?.m === 'devframe:streaming:cancel')
  assert.deepEqual(cancel.msg.a, ['feed:forever', 'cancel-1'])
})

test('a reader that reads nothing holds its own stream, not a second client\'s', async (t) => {
  // A raw client subscribes and stops reading its socket.
  const slow = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  t.after(() => slow.ws.terminate())
  slow.send({ m: 'devframe:streaming:subscribe', a: ['feed:forever', 'slow-1', { afterSeq: 0 }], t: 'q' })
  slow.ws._socket.pause()
  const wait = await host.waitForLog(/feed:forever#slow-1 waits for its slowest subscriber \((\d+) bytes unsent\)/)
  assert.ok(Number(wait[1]) > 65536)
  openPage(host.port)
  const rpc = await kitClient(t)
  const held = (await rpc.call('feed:stats')).emitted
  const got = []
  for await (const chunk of rpc.streaming.subscribe('feed:count', 'fast-1', ROOMY)) got.push(chunk.n)
  assert.equal(got.length, 1000)
  // The slow reader's producer did not move meanwhile: it waits for its reader.
  assert.equal((await rpc.call('feed:stats')).emitted, held)
  // It reads again: its stream goes on where it was, in order.
  const seqs = []
  slow.ws._socket.resume()
  while (seqs.length < 50) {
    const msg = await slow.next()
    if (msg.m === 'devframe:streaming:chunk') seqs.push(msg.a[2])
  }
  assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => i + 1))
  slow.send({ m: 'devframe:streaming:cancel', a: ['feed:forever', 'slow-1'], t: 'q', i: 'c' })
  await host.waitForLog(/feed:forever#slow-1: cancelled by its last reader/)
})

test('a plugin channel: chunks, an error end, and a replay of the last chunks for a late reader', async (t) => {
  openPage(host.port)
  const rpc = await kitClient(t)
  const id = await rpc.call('feed:log-start', 'build-1')
  assert.equal(id, 'build-1')
  const reader = rpc.streaming.subscribe('feed:log', 'build-1')
  const lines = []
  const read = rejectionOf((async () => { for await (const line of reader) lines.push(line) })())
  // The subscribe is an event: the call after it on the same socket comes after it.
  assert.equal(await rpc.call('feed:log-write', 'build-1', 'compiling'), 1)
  for (const line of ['linking', 'testing', 'packing']) await rpc.call('feed:log-write', 'build-1', line)
  await rpc.call('feed:log-finish', 'build-1', 'tests failed')
  const err = await read
  assert.equal(err.name, 'BuildFailed')
  assert.equal(err.message, 'tests failed')
  assert.deepEqual(lines, ['compiling', 'linking', 'testing', 'packing'])
  // A second client comes late: the last 3 (replay_window) and the end.
  openPage(host.port)
  const late = await kitClient(t)
  const replayed = []
  const lateErr = await rejectionOf((async () => {
    for await (const line of late.streaming.subscribe('feed:log', 'build-1')) replayed.push(line)
  })())
  assert.deepEqual(replayed, ['linking', 'testing', 'packing'])
  assert.equal(lateErr.message, 'tests failed')
  // Writing to a finished stream raises in the plugin.
  const w = await rejectionOf(late.call('feed:log-write', 'build-1', 'more'))
  assert.match(w.message, /stream 'build-1' is finished/)
})

test('a subscribe to nothing ends the reader with not_found; an untrusted client is refused', async (t) => {
  openPage(host.port)
  const rpc = await kitClient(t)
  const err = await rejectionOf((async () => { for await (const x of rpc.streaming.subscribe('feed:nope', 'x')) void x })())
  assert.equal(err.name, 'not_found')
  assert.match(err.message, /no streaming channel 'feed:nope'/)
  const err2 = await rejectionOf((async () => { for await (const x of rpc.streaming.subscribe('feed:log', 'never')) void x })())
  assert.match(err2.message, /streaming channel 'feed:log' has no stream 'never'/)

  const startedBefore = (await rpc.call('feed:stats')).started
  const stranger = await rawClient(host, '/__devtools/__ws?devframe_auth_token=wrong')
  t.after(() => stranger.ws.terminate())
  stranger.send({ m: 'devframe:streaming:subscribe', a: ['feed:count', 'u-1', { afterSeq: 0 }], t: 'q', i: 'u' })
  const reply = await stranger.replyTo('u')
  assert.equal(reply.e.code, 'unauthorized')
  // As an event (how devframe sends it): no answer, a log line.
  stranger.send({ m: 'devframe:streaming:subscribe', a: ['feed:count', 'u-2', { afterSeq: 0 }], t: 'q' })
  await host.waitForLogCount(/untrusted call to devframe:streaming:subscribe refused/, 2)
  assert.equal((await rpc.call('feed:stats')).started, startedBefore, 'no producer started for it')
})

test('a reload mid-stream ends the stream function and the plugin channel with the documented error', async (t) => {
  openPage(host.port)
  const rpc = await kitClient(t)
  await rpc.call('feed:log-start', 'reload-1')
  // The function stream: read one, keep it open.
  const reader = rpc.streaming.subscribe('feed:hold', 'reload-2')
  const it = reader[Symbol.asyncIterator]()
  assert.equal((await it.next()).value.n, 1)
  const chanEnd = rejectionOf((async () => { for await (const x of rpc.streaming.subscribe('feed:log', 'reload-1')) void x })())
  await rpc.call('feed:gen') // both subscribes were handled
  writeFileSync(join(dir, 'feed.lua'), feedPlugin(2))
  await host.waitForLog(/\[plugin\] feed: loaded \(generation 2\)/)
  const fnEnd = await rejectionOf((async () => { for (;;) if ((await it.next()).done) return })())
  assert.equal(fnEnd.name, 'rpc_cancelled')
  assert.match(fnEnd.message, /the stream ended: this version of the plugin was replaced or unloaded/)
  const ch = await chanEnd
  assert.equal(ch.name, 'rpc_cancelled')
  assert.match(ch.message, /streaming channel 'feed:log': this version of plugin feed was replaced or unloaded; subscribe again/)
  await host.waitForLog(/feed:hold cleanup ran/)
  // The new version serves: a new subscribe reads generation 2.
  for await (const chunk of rpc.streaming.subscribe('feed:count', 'after-reload')) {
    assert.equal(chunk.gen, 2)
    break
  }
})

test('an upload: the client streams chunks in, a Lua handler reads them as an iterator; errors and cancel', async (t) => {
  openPage(host.port)
  const rpc = await kitClient(t)
  // The handler waits for chunks as they come.
  await rpc.call('feed:upload-open-id', 'up-1')
  const read = rpc.call('feed:upload-read', 'up-1')
  const sink = rpc.streaming.upload('feed:log', 'up-1')
  sink.write({ line: 1 })
  sink.write({ line: 2, at: new Date(0) })
  sink.write('three')
  sink.close()
  assert.deepEqual(await read, [{ line: 1 }, { line: 2, at: new Date(0) }, 'three'])
  // The uploader fails: the reader raises its error.
  await rpc.call('feed:upload-open-id', 'up-2')
  const failing = rpc.streaming.upload('feed:log', 'up-2')
  failing.write('a')
  failing.error(new TypeError('disk full'))
  const err = await rejectionOf(rpc.call('feed:upload-read', 'up-2'))
  assert.match(err.message, /disk full/)
  // The handler stops after one: the uploader is told (upload-cancel), its sink aborts.
  await rpc.call('feed:upload-open-id', 'up-3')
  const reading = rpc.call('feed:upload-read', 'up-3', 1)
  const cancelled = rpc.streaming.upload('feed:log', 'up-3')
  cancelled.write('only')
  assert.deepEqual(await reading, ['only'])
  await waitFrame((f) => f.dir === 'in' && f.msg?.m === 'devframe:streaming:upload-cancel')
  assert.equal(cancelled.signal.aborted, true)
  // An id the plugin made (open_inbound with no id), and a chunk for nothing.
  const made = await rpc.call('feed:upload-open')
  assert.match(made, /^u[0-9a-f]+-\d+$/)
  rpc.streaming.upload('feed:log', 'nobody').write('lost')
  await host.waitForLog(/upload chunk for feed:log#nobody dropped: no such upload open/)
})

test('an uploader that disconnects ends its upload: the reader raises', async (t) => {
  openPage(host.port)
  const reader = await kitClient(t)
  await reader.call('feed:upload-open-id', 'up-gone')
  const read = rejectionOf(reader.call('feed:upload-read', 'up-gone'))
  const raw = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  raw.send({ m: 'devframe:streaming:upload-chunk', a: ['feed:log', 'up-gone', 1, 'x'], t: 'q' })
  raw.ws.terminate()
  const err = await read
  assert.match(err.message, /Uploader disconnected before completing the stream/)
})

test('docs/plugins.md: the builds channel and upload work as the guide shows', async (t) => {
  const text = readFileSync(join(repoRoot, 'docs/plugins.md'), 'utf8')
  const section = text.slice(text.indexOf('## Streaming channels'))
  const plugin = /^```lua plugin\n([\s\S]*?)^```$/m.exec(section)[1]
  assert.match(plugin, /name = 'builds'/)
  const client = /^```js\n([\s\S]*?)^```$/m.exec(section)[1]
  const plugins = tempTree(t, { 'builds.lua': plugin })
  const docHost = await hostFor(t, { plugins })
  await docHost.waitForLog(/\[plugin\] builds: loaded/)
  openPage(docHost.port)
  // The guide's client code, run as it is (its import supplied, for a page
  // under the host's /__devtools/), with the token.
  const body = client.replace(/^import .*$/m, '') + '\nrpc.close()\nreturn { steps, lines }'
  const AsyncFunction = (async () => {}).constructor
  const run = new AsyncFunction('getDevToolsRpcClient', 'authToken', body)
  const underDevtools = (opts) => getDevToolsRpcClient({ baseURL: '/__devtools/', ...opts })
  const { steps, lines } = await run(underDevtools, E2E_TOKEN)
  assert.deepEqual(steps, ['1/3', '2/3', '3/3'])
  assert.equal(lines, 3)
  // A failing build ends its readers with the plugin's error.
  const rpc = await getDevToolsRpcClient({ baseURL: '/__devtools/', authToken: E2E_TOKEN })
  t.after(() => rpc.close())
  const id = await rpc.call('builds:new')
  const got = []
  const reading = rejectionOf((async () => { for await (const s of rpc.streaming.subscribe('builds:log', id)) got.push(s.step) })())
  assert.equal(await rpc.call('builds:run', id, 4), false)
  const err = await reading
  assert.equal(err.name, 'BuildFailed')
  assert.equal(err.message, 'too many steps')
  assert.deepEqual(got, [1, 2, 3, 4])
})

test('a plugin\'s writer waits in its handler while a subscriber is over the bound', async (t) => {
  openPage(host.port)
  const rpc = await kitClient(t)
  await rpc.call('feed:log-start', 'flood-1')
  const slow = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  t.after(() => slow.ws.terminate())
  slow.send({ m: 'devframe:streaming:subscribe', a: ['feed:log', 'flood-1', { afterSeq: 0 }], t: 'q', i: 's' })
  assert.deepEqual(await slow.replyTo('s'), { t: 's', i: 's' })
  slow.ws._socket.pause()
  const flood = rpc.call('feed:log-flood', 'flood-1', 2000)
  await host.waitForLog(/feed:log#flood-1: its writer waits for the slowest subscriber \(\d+ bytes unsent\)/)
  const held = await rpc.call('feed:flooded')
  assert.ok(held < 2000, `the writer stopped at ${held}`)
  // The host serves calls meanwhile.
  assert.equal(await rpc.call('feed:gen'), (await rpc.call('feed:gen')))
  slow.ws._socket.resume()
  assert.equal(await flood, 2000)
  let last = 0
  while (last < 2000) {
    const msg = await slow.next()
    if (msg.m !== 'devframe:streaming:chunk') continue
    assert.equal(msg.a[2], last + 1)
    last = msg.a[2]
  }
})

// ---- runs started by subscribes count against max_inflight_per_client ----

/** A host serving the feed plugin that lets a client have `limit` calls, streams and runs in flight. */
const cappedHost = (t, limit) => hostFor(t, {
  plugins: dir,
  config: configDir(t, { '10-limits.lua': `return { limits = { max_inflight_per_client = ${limit} } }` }),
})

test('a subscribe that would start one run past max_inflight_per_client ends with overloaded; existing streams stay open to all', async (t) => {
  const capped = await cappedHost(t, 3)
  openPage(capped.port)
  const rpc = await kitClient(t)
  const readers = []
  for (const id of ['cap-1', 'cap-2', 'cap-3']) {
    const it = rpc.streaming.subscribe('feed:hold', id)[Symbol.asyncIterator]()
    assert.deepEqual((await it.next()).value, { n: 1 }, `${id} runs`)
    readers.push(it)
  }
  // Its first read is the end (a run would give { n: 1 } first).
  const err = await rejectionOf(rpc.streaming.subscribe('feed:hold', 'cap-4')[Symbol.asyncIterator]().next())
  assert.equal(err.name, 'overloaded')
  assert.match(err.message, /too many calls in flight \(limit 3\)/)
  await capped.waitForLog(/c\d+: subscribe to feed:hold#cap-4 refused: too many calls in flight \(limit 3\)/)
  openPage(capped.port)
  const other = await kitClient(t)
  assert.equal((await other.call('feed:stats')).held, 3, 'no run started for cap-4')

  // The runs fill its limit for its calls too (else a client could have
  // twice the limit running)...
  const busy = await rejectionOf(rpc.call('feed:stats'))
  assert.match(busy.message, /too many calls in flight \(limit 3\)/)

  // ...but not for devframe's own streaming events. Subscribing to what
  // runs already starts nothing: neither a second client joining one of
  // the runs, nor this one reading a plugin's channel.
  const joined = other.streaming.subscribe('feed:hold', 'cap-2')[Symbol.asyncIterator]()
  assert.deepEqual((await joined.next()).value, { n: 1 })
  await other.call('feed:log-start', 'cap-log')
  const log = rpc.streaming.subscribe('feed:log', 'cap-log')[Symbol.asyncIterator]()
  await other.call('feed:log-write', 'cap-log', 'hello')
  assert.equal((await log.next()).value, 'hello')

  // A cancel ends its run at once: its slot is free for a call, then for a fresh id.
  await readers[0].return()
  await capped.waitForLog(/feed:hold#cap-1: cancelled by its last reader/)
  assert.equal((await rpc.call('feed:stats')).held, 3, 'the call is served (held counts runs ever started)')
  const again = rpc.streaming.subscribe('feed:hold', 'cap-5')[Symbol.asyncIterator]()
  assert.deepEqual((await again.next()).value, { n: 1 })
  assert.equal((await other.call('feed:stats')).held, 4)
})

test('a run an unsubscribe left waiting for a reader still holds its starter\'s slot; a finished run holds none', async (t) => {
  const capped = await cappedHost(t, 3)
  const raw = await rawClient(capped, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  t.after(() => raw.ws.terminate())
  const subscribe = (channel, id) => raw.send({ m: 'devframe:streaming:subscribe', a: [channel, id, { afterSeq: 0 }], t: 'q' })
  // A refused subscribe is answered with its end while it is handled, so
  // an id whose end has not come before a later one's was not refused.
  const ends = new Map()
  /** The end payload (null: no error) of id, reading (and noting) frames up to it. */
  const endOf = async (id) => {
    while (!ends.has(id)) {
      const msg = await raw.next()
      if (msg.m === 'devframe:streaming:end') ends.set(msg.a[1], msg.a[2])
    }
    return ends.get(id)
  }
  // feed:count runs to its end at once: a finished run holds no slot.
  for (const id of ['done-1', 'done-2', 'done-3']) {
    subscribe('feed:count', id)
    assert.equal(await endOf(id), null, `${id} ended without an error`)
  }
  for (const id of ['r-1', 'r-2', 'r-3']) subscribe('feed:hold', id)
  // r-1's reader leaves: its run waits for another for 30 s, and counts.
  raw.send({ m: 'devframe:streaming:unsubscribe', a: ['feed:hold', 'r-1'], t: 'q' })
  subscribe('feed:hold', 'r-4')
  const refused = await endOf('r-4')
  assert.equal(refused.code, 'overloaded')
  assert.match(refused.message, /too many calls in flight \(limit 3\)/)
  // Cancelling r-2 frees one slot: r-1 still holds its own.
  raw.send({ m: 'devframe:streaming:cancel', a: ['feed:hold', 'r-2'], t: 'q' })
  subscribe('feed:hold', 'r-5')
  subscribe('feed:hold', 'r-6')
  assert.equal((await endOf('r-6')).code, 'overloaded')
  assert.equal(ends.has('r-5'), false, 'r-5 was not refused')
  assert.ok(!ends.has('r-1') && !ends.has('r-3'), 'the runs go on')
  await capped.waitForLog(/feed:hold#r-2: cancelled by its last reader/)
  await capped.waitForLogCount(/subscribe to feed:hold#r-\d refused: too many calls in flight \(limit 3\)/, 2)
})
