// Scale-out on NATS: hosts that share a nats-server (started here on a
// loopback port) form one mesh. Peers of every host appear in every
// directory; relayed calls, make, events, timeouts and cancels cross hosts with
// the caller's signed identity; a killed host's peers leave the others
// within 2 s; NATS stopped and restarted: hosts keep serving their own
// clients, log the outage once, and the directory heals.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree, startHost, fixtures } from './lib/host.mjs'
import { deferred, fixedPort, rejectionOf, runMoonhost, scratchDir } from './lib/util.mjs'
import { ANNOUNCE, DIRECTORY, MAKE, RELAY, RELAY_EVENT, VERIFY, meshPeer as peer } from './lib/mesh.mjs'
import { BROADCAST_PLUGIN, added, clusterConfig, frameCounter, removed, within } from './lib/cluster.mjs'
import { createServer, connect as tcpConnect } from 'node:net'
import { makeCerts, natsTap, natsTlsArgs, startNats } from './lib/nats.mjs'

/** A host in the cluster, connected to NATS (its log says so), stopped when t ends. */
async function clusterHost(t, name, nats, extra = '', plugins = '/nonexistent') {
  const h = await startHost({ config: clusterConfig(name, nats.url, extra), plugins })
  t.after(() => h.stop())
  await h.waitForLog(/NATS: connected to nats:\/\/127\.0\.0\.1:\d+ as host /)
  return h
}

/**
 * h1 and h2 in the cluster at nats (h1 with `plugins`), peer a ('devtools') on h1 and peer b
 * ('iframe', answering b:ping) on h2, once a has seen b.
 */
async function twoHosts(t, nats, plugins = '/nonexistent') {
  const h1 = await clusterHost(t, 'h1', nats, '', plugins)
  const h2 = await clusterHost(t, 'h2', nats)
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const b = await peer(h2, { 'b:ping': () => 'pong' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  await added(a, 'iframe')
  return { h1, h2, a, b }
}

test('three hosts through NATS: every directory shows every peer and where it is; calls, make (a rejecting provider skipped), events, timeouts and cancels cross hosts with a verifiable identity', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const [h1, h2, h3] = [await clusterHost(t, 'h1', nats), await clusterHost(t, 'h2', nats), await clusterHost(t, 'h3', nats)]
  const slowStarted = deferred()
  const a = await peer(h1, { 'a:hello': (who) => `hello ${who} from h1` })
  await a.rpc[ANNOUNCE]({ role: 'devtools', meta: { tab: 1 } })
  const b = await peer(h2, {
    'b:ping': (x) => `pong ${x} from h2`,
    'calc:twice': () => {
      throw { code: 'rejected', message: 'busy' }
    },
    'b:slow': () => {
      slowStarted.resolve()
      return new Promise(() => {})
    },
  })
  await b.rpc[ANNOUNCE]({ role: 'iframe', meta: { side: 'h2' } })
  const c = await peer(h3, { 'c:double': (n) => n * 2, 'calc:twice': (n) => n * 2 })
  const cInfo = await c.rpc[ANNOUNCE]({ role: 'worker' })

  // Convergence: each peer learns the two on the other hosts, named HOST/ID.
  const [iframe, worker] = [await added(a, 'iframe'), await added(a, 'worker')]
  assert.deepEqual([iframe.host, iframe.meta, worker.host], ['h2', { side: 'h2' }, 'h3'])
  assert.match(iframe.id, /^h2\//)
  assert.equal((await added(b, 'worker')).host, 'h3')
  // c may have had a in the directory its announce answered with, or meets it as a delta
  const aFromC = cInfo.directory.find((p) => p.role === 'devtools') ?? (await added(c, 'devtools'))
  assert.equal(aFromC.host, 'h1')
  const dir = await a.rpc[DIRECTORY]()
  assert.deepEqual(dir.map((p) => `${p.role}@${p.host}`).sort(), ['devtools@h1', 'iframe@h2', 'worker@h3'])

  // Calls, by role and by id, in every direction.
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [1] }), 'pong 1 from h2')
  assert.equal(await a.rpc[RELAY]({ to: worker.id, method: 'c:double', args: [21] }), 42)
  assert.equal(await c.rpc[RELAY]({ to: aFromC.id, method: 'a:hello', args: ['c'] }), 'hello c from h1')

  // make: providers on other hosts, a rejecting one skipped for the next.
  await b.rpc['devtoolskit:internal:mesh:provide']({ name: 'calc:twice' })
  await c.rpc['devtoolskit:internal:mesh:provide']({ name: 'calc:twice' })
  await a.delta((d) => d.peer.role === 'iframe' && d.peer.provides?.includes('calc:twice'))
  await a.delta((d) => d.peer.role === 'worker' && d.peer.provides?.includes('calc:twice'))
  const answers = []
  for (let i = 0; i < 4; i++) answers.push(await a.rpc[MAKE]({ name: 'calc:twice', args: [i] }))
  assert.deepEqual(answers, [0, 2, 4, 6]) // b rejects every time (below): c answers them all

  // The target sees the first caller's identity, signed by h1, and h2 verifies it with the shared mesh.key.
  const seen = deferred()
  b.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.m === 'b:ping' && msg.x?.from?.host === 'h1') seen.resolve(msg.x)
    if (msg.m === 'b:note') seen.resolve({ note: msg.a, x: msg.x })
  })
  await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [2] })
  const x = await seen.promise
  assert.deepEqual([x.from.role, x.from.host, x.from.meta], ['devtools', 'h1', { tab: 1 }])
  assert.deepEqual(await b.rpc[VERIFY](x), { valid: true })
  assert.deepEqual(await b.rpc[VERIFY]({ ...x, from: { ...x.from, role: 'admin' } }), { valid: false })

  // An event crosses too, with its identity.
  const note = deferred()
  b.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.m === 'b:note') note.resolve(msg)
  })
  assert.equal(await a.rpc[RELAY_EVENT]({ to: 'iframe', method: 'b:note', args: ['hi'] }), 1)
  const ev = await note.promise
  assert.deepEqual([ev.a, ev.x.from.host], [['hi'], 'h1'])

  // Our timeouts and cancels hold across hosts: the target gets the cancel.
  const timedOut = await rejectionOf(a.rpc[RELAY]({ to: 'iframe', method: 'b:slow', args: [], timeout: 100 }))
  assert.equal(timedOut.code, 'rpc_timeout')
  const cancelSeen = deferred()
  b.ws.on('message', (d) => {
    if (JSON.parse(d.toString()).t === 'c') cancelSeen.resolve()
  })
  const raw = await h1.rawSocket()
  const reply = new Promise((r) => raw.on('message', (d) => r(JSON.parse(d.toString()))))
  raw.send(JSON.stringify({ t: 'q', i: 'relay-1', m: RELAY, a: [{ to: iframe.id, method: 'b:slow', args: [] }] }))
  await slowStarted.promise
  raw.send(JSON.stringify({ t: 'c', i: 'relay-1' }))
  assert.deepEqual([(await reply).i, (await reply).e?.code], ['relay-1', 'rpc_cancelled'])
  await cancelSeen.promise
})

test('the other hosts are no clients of a plugin: ctx.rpc.clients, broadcast and broadcast_call reach this host\'s own', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const plugins = `${fixtures}/plugins`
  const h1 = await clusterHost(t, 'h1', nats, '', plugins)
  const h2 = await clusterHost(t, 'h2', nats, '', plugins)
  await h1.waitForLog(/NATS: host h2 joined the cluster/)
  await h2.waitForLog(/NATS: host h1 joined the cluster/)
  const c = await h1.connect({ 'c:x': () => 'mine' })
  assert.equal((await c.rpc['clients:list']()).length, 1)
  assert.equal(await c.rpc['clients:shout']('c:unknown', 1), 1)
  assert.deepEqual((await c.rpc['clients:gather']('c:x', [], {})).map((r) => r.value), ['mine'])
})

test('a host killed with SIGKILL: its peers leave the other hosts\' directories within 2 s', { timeout: 60000 }, async (t) => {
  const { h1, h2, a } = await twoHosts(t, await startNats(t))
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')

  const killedAt = Date.now()
  h2.child.kill('SIGKILL')
  const gone = await within(2000, removed(a, 'iframe'), 'h2\'s peer removed from h1')
  assert.equal(gone.host, 'h2')
  const tookMs = Date.now() - killedAt
  assert.ok(tookMs < 2000, `removed after ${tookMs} ms`)
  t.diagnostic(`h2's peer left h1 ${tookMs} ms after the SIGKILL`)
  await h1.waitForLog(/NATS: host h2 left the cluster \(no heartbeat\)/)
  assert.deepEqual((await a.rpc[DIRECTORY]()).map((p) => p.host), ['h1'])
  assert.equal((await rejectionOf(a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }))).code, 'not_found')
})

test('a host whose loop was blocked for longer than 3 heartbeats keeps the other hosts\' peers: what arrived meanwhile counts before silence is judged', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const plugins = writeTree({
    'busy.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'busy', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'busy:block', type = 'action',
    handler = function() os.execute('sleep 1.5') return 'done' end })
end }`,
  })
  const { a } = await twoHosts(t, nats, plugins)
  a.forget()
  assert.equal(await a.rpc['busy:block'](), 'done') // h1's loop stood still for 1.5 s; h2 kept beating
  // A round trip through h2 after the block: any delta the block caused on h1 was sent before its answer.
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')
  assert.equal(await a.rpc[DIRECTORY]().then((d) => d.length), 2)
  assert.deepEqual(a.forget().filter((d) => d.peer.role === 'iframe').map((d) => d.kind), [])
})

test('NATS stopped and restarted: hosts keep serving their own clients, log the outage once, and the directory heals', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const { h1, h2, a, b } = await twoHosts(t, nats)
  const local = await peer(h1, { 'l:echo': (x) => x, 'l:never': () => new Promise(() => {}) })
  await local.rpc[ANNOUNCE]({ role: 'local' })
  await added(b, 'local')

  await nats.stop()
  await removed(a, 'iframe') // h1 cannot reach h2 any more
  await removed(b, 'devtools')
  // Local calls go on, with their timeouts; meanwhile the hosts retry NATS (with backoff) and stay quiet.
  assert.equal(await a.rpc[RELAY]({ to: 'local', method: 'l:echo', args: ['still here'] }), 'still here')
  const timedOut = await rejectionOf(a.rpc[RELAY]({ to: 'local', method: 'l:never', args: [], timeout: 1500 }))
  assert.equal(timedOut.code, 'rpc_timeout')
  assert.deepEqual((await a.rpc[DIRECTORY]()).map((p) => p.role).sort(), ['devtools', 'local'])

  await nats.start()
  await h1.waitForLog(/NATS: back at nats:\/\/127\.0\.0\.1:\d+ as host h1/)
  await h2.waitForLog(/NATS: back at nats:\/\/127\.0\.0\.1:\d+ as host h2/)
  const iframe = await added(a, 'iframe')
  assert.equal(iframe.host, 'h2')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')
  assert.equal((await added(b, 'local')).host, 'h1')
  for (const h of [h1, h2]) {
    assert.equal(h.log.match(/NATS at nats:\/\/127\.0\.0\.1:\d+ lost/g)?.length, 1, h.log)
  }
})

test('a host with another mesh.key on the same NATS is not one of the cluster: its messages are dropped and logged, its peers never appear', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const { h1, a } = await twoHosts(t, nats)
  const stranger = await startHost({ config: clusterConfig('h3', nats.url, '', "key = 'another-key'"), plugins: '/nonexistent' })
  t.after(() => stranger.stop())
  const s = await peer(stranger, { 's:steal': () => 'stolen' })
  await s.rpc[ANNOUNCE]({ role: 'stranger' })
  await h1.waitForLog(/NATS: a message on moonhost\.dir from host h3 is not signed with this host's mesh\.key: dropped/)
  // and the other way round: h3 drops what h1 and h2 publish
  await stranger.waitForLog(/NATS: a message on moonhost\.dir from host h[12] is not signed with this host's mesh\.key: dropped/)
  assert.deepEqual((await a.rpc[DIRECTORY]()).map((p) => p.host).sort(), ['h1', 'h2'])
  assert.equal((await rejectionOf(a.rpc[RELAY]({ to: 'stranger', method: 's:steal', args: [] }))).code, 'not_found')
})

test('a message captured on NATS and published again is refused: a relayed call runs once; a changed sequence number breaks the signature', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const { h1, h2, a } = await twoHosts(t, nats)
  let count = 0
  const counter = await peer(h2, { 'b:count': () => ++count })
  await counter.rpc[ANNOUNCE]({ role: 'counter' })
  await added(a, 'counter')
  const tap = await natsTap(t, nats, 'moonhost.host.*')
  assert.equal(await a.rpc[RELAY]({ to: 'counter', method: 'b:count', args: [] }), 1)
  const call = await tap.next((m) => m.payload.includes('b:count'))
  assert.match(call.headers.toString(), /Moonhost-From: h1\r\n/)

  tap.publish(call) // byte for byte
  await h2.waitForLog(/NATS: a message on moonhost\.host\.[0-9a-f]{32} from host h1 dropped: a replay/)
  // with a later sequence number, the signature no longer matches
  const seq = /Moonhost-Seq: ([0-9a-f]{16}) (\d+) (\d+)/.exec(call.headers.toString())
  const later = call.headers.toString().replace(seq[0], `Moonhost-Seq: ${seq[1]} ${Number(seq[2]) + 1000} ${seq[3]}`)
  tap.publish({ ...call, headers: Buffer.from(later) })
  await h2.waitForLog(/NATS: a message on moonhost\.host\.[0-9a-f]{32} from host h1 is not signed with this host's mesh\.key/)
  assert.equal(await a.rpc[RELAY]({ to: 'counter', method: 'b:count', args: [] }), 2) // the replays ran nothing
  assert.ok(!h1.log.includes('dropped: a replay'))
})

test('NATS credentials: a token or a user and password log in, never reach the log, nor do credentials in nats.url', { timeout: 60000 }, async (t) => {
  const secret = 's3cret-token-value'
  const withToken = await startNats(t, ['--auth', secret])
  const h1 = await clusterHost(t, 'h1', withToken, `, token = '${secret}'`)
  assert.ok(!h1.log.includes(secret), 'the token is not logged')

  const withUser = await startNats(t, ['--user', 'moon', '--pass', 'pa55-word-value'])
  const h2 = await clusterHost(t, 'h2', withUser, ", user = 'moon', password = 'pa55-word-value'")
  assert.ok(!h2.log.includes('pa55-word-value'), 'the password is not logged')

  // Credentials in the URL are cut out of the log too (this password is wrong: the host serves alone, retrying).
  const url = withUser.url.replace('nats://', 'nats://moon:wrong-pass-value@')
  const h3 = await startHost({ config: clusterConfig('h3', url), plugins: '/nonexistent' })
  t.after(() => h3.stop())
  await h3.waitForLog(/NATS (at|: cannot connect to) nats:\/\/\*\*\*@127\.0\.0\.1:\d+/)
  assert.ok(!h3.log.includes('wrong-pass-value'), h3.log)

  // Nor does `moonhost config` print them.
  for (const [nats, hide] of [[`, token = '${secret}'`, 'token'], [", user = 'moon', password = 'pa55-word-value'", 'password']]) {
    const r = await runMoonhost(['config', '--config', clusterConfig('h4', url, nats)])
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stdout, /s3cret-token-value|pa55-word-value|wrong-pass-value/)
    const cfg = JSON.parse(r.stdout).nats
    assert.equal(cfg[hide], '<hidden>')
    assert.match(cfg.url, /^nats:\/\/\*\*\*@127\.0\.0\.1:\d+$/)
  }
})

test('a bad nats section stops the start with exit 2 and the reason', { timeout: 30000 }, async () => {
  const cases = [
    [clusterConfig('h1', 'nats://127.0.0.1:4222', '', "key = ''"), /nats\.url is set but mesh\.key is empty/],
    [clusterConfig('h1', 'nats://127.0.0.1:4222', ", token = 't', user = 'u', password = 'p'"), /give one way to log in/],
    [clusterConfig('h1', 'nats://127.0.0.1:4222', ", user = 'u'"), /nats\.user and nats\.password go together/],
    [clusterConfig('h1', 'nats://127.0.0.1:4222', ", subject_prefix = 'a..b'"), /nats\.subject_prefix: expected NATS subject tokens/],
    [clusterConfig('h1', 'nats://127.0.0.1:4222', ", subject_prefix = 'moon.*'"), /nats\.subject_prefix: expected NATS subject tokens/],
    [clusterConfig('h1', 'nats://127.0.0.1:4222', ', heartbeat_ms = 10'), /nats\.heartbeat_ms/],
    [clusterConfig('h1', 'http://127.0.0.1:4222'), /nats\.url: expected nats:\/\/HOST:PORT/],
    [clusterConfig('h1', 'nats://127.0.0.1:4222,nats://127.0.0.1:70000'), /nats\.url: expected/],
    [clusterConfig('h1', 'nats://:4222'), /nats\.url: expected/],
    [clusterConfig('h1', 'tls://127.0.0.1:4222'), /nats\.url is tls:\/\/ but nats\.tls\.ca is empty/],
    [clusterConfig('h1', 'nats://127.0.0.1:4222,tls://127.0.0.1:4223'), /nats\.url: mixes nats:\/\/ and tls:\/\//],
    [clusterConfig('h1', 'nats://127.0.0.1:4222', ", tls = { ca = '/etc/hostname' }"), /nats\.tls is set but nats\.url is nats:\/\//],
    [clusterConfig('h1', 'tls://127.0.0.1:4222', ", tls = { ca = '/nonexistent/ca.pem' }"), /nats\.tls\.ca: cannot read \/nonexistent\/ca\.pem: No such file/],
    [clusterConfig('h1', 'tls://127.0.0.1:4222', ", tls = { ca = '/etc/hostname' }"), /nats\.tls: .*\/etc\/hostname.*no certificate/],
    [clusterConfig('h1', 'tls://127.0.0.1:4222', ", tls = { ca = '/etc/hostname', cert = '/etc/hostname' }"), /nats\.tls\.cert and nats\.tls\.key go together/],
  ]
  for (const [config, why] of cases) {
    const run = await runMoonhost(['run', '--listen', '127.0.0.1:0', '--plugins', '/nonexistent', '--config', config])
    assert.equal(run.code, 2, run.stderr)
    assert.match(run.stderr, why)
    assert.doesNotMatch(run.stderr, /listening on/)
  }
})

test('ctx.rpc.broadcast { cluster = true } reaches every trusted client of every host exactly once, none of the host links; a local broadcast stays on its host', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const plugins = writeTree({ 'bc.lua': BROADCAST_PLUGIN })
  const hosts = [await clusterHost(t, 'h1', nats, '', plugins), await clusterHost(t, 'h2', nats, '', plugins), await clusterHost(t, 'h3', nats, '', plugins)]
  const names = ['h1', 'h2', 'h3']
  for (const [i, h] of hosts.entries()) {
    for (const other of names.filter((n) => n !== names[i])) await h.waitForLog(new RegExp(`NATS: host ${other} joined the cluster`))
  }
  const caller = await hosts[0].connect()
  // Per host: two plain clients; h2 has a mesh peer as well, h3 an untrusted client (no token).
  const clients = [[frameCounter(caller.ws)], [], []]
  for (let i = 0; i < 3; i++) for (let k = 0; k < 2; k++) clients[i].push(frameCounter(await hosts[i].rawSocket()))
  const meshPeer = await peer(hosts[1])
  await meshPeer.rpc[ANNOUNCE]({ role: 'devtools' })
  clients[1].push(frameCounter(meshPeer.ws))
  const untrusted = frameCounter(await hosts[2].rawSocket('/__ws', {}, null))
  const everyone = clients.flat()
  const allSeen = (name) => within(5000, Promise.all(everyone.map((c) => c.seen(name))), `${name} on every client`)

  // It returns how many of h1's own clients it went to (the caller and two others).
  assert.equal(await caller.rpc['bc:send']('ev:cluster', 1, true), 3)
  assert.equal(await caller.rpc['bc:send']('ev:end1', 0, true), 3)
  await allSeen('ev:end1') // NATS keeps one publisher's order: a second copy would have come before
  assert.deepEqual(clients.map((cs) => cs.map((c) => c.count('ev:cluster'))), [[1, 1, 1], [1, 1, 1], [1, 1]])
  assert.equal(untrusted.count('ev:cluster'), 0)

  // Without cluster: h1's clients only.
  assert.equal(await caller.rpc['bc:send']('ev:local', 2, false), 3)
  assert.equal(await caller.rpc['bc:send']('ev:end2', 0, true), 3)
  await allSeen('ev:end2')
  assert.deepEqual(clients.map((cs) => cs.map((c) => c.count('ev:local'))), [[1, 1, 1], [0, 0, 0], [0, 0]])
  assert.equal(untrusted.count('ev:end2'), 0)
})

/**
 * A TCP proxy on a loopback port in front of nats: one host's way to NATS that the test can cut
 * (every connection through it closed, new ones refused) and restore. Returns {url, cut(), restore()}.
 */
async function natsProxy(t, nats) {
  const open = new Set()
  let cut = false
  const server = createServer((inbound) => {
    if (cut) return inbound.destroy()
    const outbound = tcpConnect(nats.port, '127.0.0.1')
    const pair = [inbound, outbound]
    open.add(pair)
    const close = () => {
      open.delete(pair)
      inbound.destroy()
      outbound.destroy()
    }
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    for (const s of pair) s.on('error', close).on('close', close)
  })
  await new Promise((res) => server.listen(0, '127.0.0.1', res))
  t.after(() => {
    for (const [a, b] of open) a.destroy(), b.destroy()
    server.close()
  })
  return {
    url: `nats://127.0.0.1:${server.address().port}`,
    cut() {
      cut = true
      for (const [a, b] of open) a.destroy(), b.destroy()
    },
    restore() {
      cut = false
    },
  }
}

test('a partition: one host cut off from NATS has its peers leave the others within 2 s, keeps serving its own clients, and resyncs when the link is back', { timeout: 60000 }, async (t) => {
  const nats = await startNats(t)
  const proxy = await natsProxy(t, nats)
  const h1 = await clusterHost(t, 'h1', nats)
  const h2 = await clusterHost(t, 'h2', proxy)
  const h3 = await clusterHost(t, 'h3', nats)
  // a and c announce first, so they meet h2's peers as deltas.
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const c = await peer(h3, { 'c:ping': () => 'pong from h3' })
  await c.rpc[ANNOUNCE]({ role: 'worker' })
  await added(a, 'worker')
  await h2.waitForLog(/NATS: host h1 joined the cluster/)
  await h2.waitForLog(/NATS: host h3 joined the cluster/)
  const b = await peer(h2, { 'b:ping': () => 'pong' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  const local = await peer(h2, { 'l:echo': (x) => x })
  await local.rpc[ANNOUNCE]({ role: 'local' })
  await Promise.all([added(a, 'iframe'), added(a, 'local'), added(c, 'iframe'), added(c, 'local')])
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')
  assert.equal(await b.rpc[RELAY]({ to: 'worker', method: 'c:ping', args: [] }), 'pong from h3')
  // What each peer learnt so far, by its announce or by deltas, is known: only what follows counts.
  for (const p of [a, b, c]) p.forget()

  const cutAt = Date.now()
  proxy.cut()
  // No goodbye reaches h1 and h3: the heartbeat expiry removes h2's peers.
  await within(2000, Promise.all([removed(a, 'iframe'), removed(a, 'local'), removed(c, 'iframe')]), 'h2\'s peers removed from h1 and h3')
  const tookMs = Date.now() - cutAt
  await h1.waitForLog(/NATS: host h2 left the cluster \(no heartbeat\)/)
  await h2.waitForLog(/NATS at nats:\/\/127\.0\.0\.1:\d+ lost/)
  await removed(b, 'devtools')
  await removed(b, 'worker')
  // h2 serves its own; h1 and h3 still reach each other.
  assert.equal(await b.rpc[RELAY]({ to: 'local', method: 'l:echo', args: ['alone'] }), 'alone')
  assert.deepEqual((await b.rpc[DIRECTORY]()).map((p) => p.role).sort(), ['iframe', 'local'])
  assert.equal(await a.rpc[RELAY]({ to: 'worker', method: 'c:ping', args: [] }), 'pong from h3')
  assert.equal((await rejectionOf(a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }))).code, 'not_found')

  proxy.restore()
  await h2.waitForLog(/NATS: back at nats:\/\/127\.0\.0\.1:\d+ as host h2/)
  assert.equal((await added(a, 'iframe')).host, 'h2')
  assert.equal((await added(c, 'local')).host, 'h2')
  assert.equal((await added(b, 'devtools')).host, 'h1')
  assert.equal((await added(b, 'worker')).host, 'h3')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')
  assert.equal(await b.rpc[RELAY]({ to: 'worker', method: 'c:ping', args: [] }), 'pong from h3')
  t.diagnostic(`h2's peers left h1 and h3 ${tookMs} ms after the cut`)
})

test('TLS to NATS: hosts with tls:// and nats.tls (CA, client certificate) form the cluster through a server that verifies clients; a certificate of another CA is refused', { timeout: 60000 }, async (t) => {
  const certs = makeCerts(scratchDir('moonhost-nats-tls-'))
  const nats = await startNats(t, natsTlsArgs(certs))
  const url = nats.url.replace('nats://', 'tls://')
  const tls = (cert, key) => `, tls = { ca = '${certs.ca}', cert = '${cert}', key = '${key}' }`
  const start = async (name, cert, key) => {
    const h = await startHost({ config: clusterConfig(name, url, tls(cert, key)), plugins: '/nonexistent' })
    t.after(() => h.stop())
    return h
  }
  const h1 = await start('h1', certs.clientCert, certs.clientKey)
  const h2 = await start('h2', certs.clientCert, certs.clientKey)
  await h1.waitForLog(/NATS: connected to tls:\/\/127\.0\.0\.1:\d+ as host h1/)
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const b = await peer(h2, { 'b:ping': () => 'pong over tls' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  assert.equal((await added(a, 'iframe')).host, 'h2')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong over tls')

  // A client certificate the server does not trust: no connection, the host serves alone and says why.
  const h3 = await start('h3', certs.otherClientCert, certs.otherClientKey)
  await h3.waitForLog(/NATS at tls:\/\/127\.0\.0\.1:\d+ unreachable/)
  const c = await peer(h3)
  assert.deepEqual((await c.rpc[ANNOUNCE]({ role: 'outsider' })).directory.map((p) => p.role), ['outsider'])
  assert.ok(!h1.log.includes('host h3 joined'), h1.log)

  // A server whose certificate (from the same CA) names another host than the URL's: refused too.
  const wrongName = await startNats(t, ['--tls', '--tlscert', certs.wrongNameCert, '--tlskey', certs.wrongNameKey])
  const h4 = await startHost({ config: clusterConfig('h4', wrongName.url.replace('nats://', 'tls://'), tls(certs.clientCert, certs.clientKey)), plugins: '/nonexistent' })
  t.after(() => h4.stop())
  await h4.waitForLog(/NATS at tls:\/\/127\.0\.0\.1:\d+ unreachable/)
  assert.ok(!h4.log.includes('NATS: connected'), h4.log)
})

test('a cluster of two nats-servers: hosts on either server form one mesh; with its first server gone for good, a host reconnects to the other one its nats.url lists and resyncs', { timeout: 60000 }, async (t) => {
  const [routeA, routeB] = [await fixedPort(), await fixedPort()]
  const route = (own, other) => ['--cluster_name', 'moonhost-e2e', '--cluster', `nats://127.0.0.1:${own}`, '--routes', `nats://127.0.0.1:${other}`, '--no_advertise']
  const natsA = await startNats(t, route(routeA, routeB))
  const natsB = await startNats(t, route(routeB, routeA))
  const h1 = await clusterHost(t, 'h1', natsA)
  // h2 lists B first, then A (nats.c may try them in any order; B is killed below either way)
  const h2 = await startHost({ config: clusterConfig('h2', `${natsB.url},${natsA.url}`), plugins: '/nonexistent' })
  t.after(() => h2.stop())
  await h2.waitForLog(/NATS: connected to nats:\/\/127\.0\.0\.1:\d+,nats:\/\/127\.0\.0\.1:\d+ as host h2/)
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const b = await peer(h2, { 'b:ping': () => 'pong' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  assert.equal((await added(a, 'iframe')).host, 'h2')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')

  await natsB.stop()
  await natsA.stop() // both down, so h1 drops h2's peers whatever h2 does; only A comes back
  await removed(a, 'iframe')
  await natsA.start()
  await h2.waitForLog(/NATS: back at .* as host h2/)
  assert.equal((await added(a, 'iframe')).host, 'h2')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')
})
