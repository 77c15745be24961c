// Host links: hosts listed in mesh.upstreams connect, merge their
// directories and relay calls and events across hosts; a restarted host
// heals; an identity that does not verify is refused at the next hop; ids
// of any length stay whole.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree, startHost } from './lib/host.mjs'
import { rejectionOf, testConfigSource, fixedPort } from './lib/util.mjs'
import { ANNOUNCE, RELAY, RELAY_EVENT, VERIFY, MAKE, meshPeer as peer } from './lib/mesh.mjs'

/** A host named `name` on `port`, linking to the given ports. */
function linkedHost(t, name, port, upstreams = [], extra = '') {
  const urls = upstreams.map((p) => `'ws://127.0.0.1:${p}/__ws?token=e2e-token'`).join(', ')
  const config = writeTree({
    '00-test.lua': testConfigSource(),
    '10-mesh.lua': `return { mesh = { host_id = '${name}', key = 'shared-key', upstreams = { ${urls} } ${extra} } }`,
  })
  return startHost({ config, plugins: '/nonexistent', args: ['--listen', `127.0.0.1:${port}`] }).then((h) => {
    t.after(() => h.stop().catch(() => {}))
    return h
  })
}

test('two linked hosts: a peer on one calls a peer on the other; the directory shows where each peer is', async (t) => {
  const [p1, p2] = [await fixedPort(), await fixedPort()]
  const h2 = await linkedHost(t, 'h2', p2)
  const h1 = await linkedHost(t, 'h1', p1, [p2])
  const a = await peer(h1, { 'a:hello': () => 'hello from h1' })
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const b = await peer(h2, { 'b:ping': (x) => `pong ${x} from h2` })
  const bInfo = await b.rpc[ANNOUNCE]({ role: 'iframe', meta: { side: 'h2' } })
  const added = await a.delta((d) => d.kind === 'added' && d.peer.role === 'iframe')
  assert.deepEqual([added.peer.host, added.peer.meta], ['h2', { side: 'h2' }])
  assert.match(added.peer.id, /^h2\//)
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [1] }), 'pong 1 from h2')
  assert.equal(await a.rpc[RELAY]({ to: added.peer.id, method: 'b:ping', args: [2] }), 'pong 2 from h2')
  // A client's own "hops" do not count: 2^63-1 overflowed the hops + 1 that h1 sends on.
  const bigHops = new Promise((r) => a.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.i === 'big-hops') r(msg)
  }))
  a.ws.send(`{"t":"q","i":"big-hops","m":"${RELAY}","a":[{"to":"iframe","method":"b:ping","args":[3],"hops":9223372036854775807}]}`)
  assert.equal((await bigHops).r, 'pong 3 from h2')
  // and the other way round: a is in b's first directory, or arrives as a delta
  // when h1's directory reaches h2 after b announced
  const aSeenFromB = bInfo.directory.find((p) => p.role === 'devtools') ??
    (await b.delta((d) => d.kind === 'added' && d.peer.role === 'devtools')).peer
  assert.equal(aSeenFromB?.host, 'h1')
  assert.equal(await b.rpc[RELAY]({ to: aSeenFromB.id, method: 'a:hello', args: [] }), 'hello from h1')
})

test('three hosts in a chain: host 1 reaches a provider on host 3; host 2 restarts and the mesh heals', async (t) => {
  const [p1, p2, p3] = [await fixedPort(), await fixedPort(), await fixedPort()]
  let h2 = await linkedHost(t, 'h2', p2)
  const h1 = await linkedHost(t, 'h1', p1, [p2])
  const h3 = await linkedHost(t, 'h3', p3, [p2])
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const provider = await peer(h3, { 'calc:double': (n) => n * 2 })
  await provider.rpc[ANNOUNCE]({ role: 'worker' })
  await provider.rpc['devtoolskit:internal:mesh:provide']({ name: 'calc:double' })
  await a.delta((d) => d.peer.role === 'worker' && d.peer.provides.includes('calc:double'))
  assert.equal(await a.rpc[MAKE]({ name: 'calc:double', args: [21] }), 42)
  assert.equal(await a.rpc[RELAY]({ to: 'worker', method: 'calc:double', args: [5] }), 10)

  a.forget()
  await h2.stop()
  await a.delta((d) => d.kind === 'removed' && d.peer.role === 'worker')
  assert.equal((await rejectionOf(a.rpc[MAKE]({ name: 'calc:double', args: [1] }))).code, 'not_found')

  h2 = await linkedHost(t, 'h2', p2)
  await a.delta((d) => d.kind === 'added' && d.peer.role === 'worker')
  assert.equal(await a.rpc[MAKE]({ name: 'calc:double', args: [4] }), 8)
})

test('a relayed identity that does not verify is refused by the next host', async (t) => {
  const p2 = await fixedPort()
  const h2 = await linkedHost(t, 'h2', p2)
  const b = await peer(h2, { 'b:ping': () => 'pong' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  // A raw connection makes the link handshake as host "fake", then relays
  // with an identity it made up.
  const fake = await h2.connect()
  const hello = await fake.rpc['devtoolskit:internal:mesh:link']({ host: 'fake', peers: [] })
  assert.equal(hello.host, 'h2')
  const forged = { from: { id: 'c1', role: 'admin', meta: {}, host: 'fake' }, sig: '0'.repeat(64) }
  const err = await rejectionOf(fake.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [], identity: forged, hops: 1 }))
  assert.equal(err.code, 'unauthorized')
  const unsigned = await rejectionOf(fake.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [], hops: 1 }))
  assert.equal(unsigned.code, 'unauthorized')
  // an ordinary client cannot smuggle an identity in: its own is used
  const plain = await peer(h2)
  await plain.rpc[ANNOUNCE]({ role: 'devtools' })
  assert.equal(await plain.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [], identity: forged }), 'pong')
})

test('a relayed event carries its first caller across hosts: the last host judges that caller, and its peer sees it, not the link', { timeout: 30000 }, async (t) => {
  const [p1, p2, p3] = [await fixedPort(), await fixedPort(), await fixedPort()]
  await linkedHost(t, 'h2', p2)
  const h1 = await linkedHost(t, 'h1', p1, [p2])
  // On h3 only devtools may reach ev:*. A link announces nothing, so as a
  // caller it is 'anonymous': judged as the link, devtools would be refused too.
  const h3 = await linkedHost(t, 'h3', p3, [p2],
    ", permissions = { { roles = { 'devtools' }, allow = { 'ev:*' } }, { roles = { '*' }, deny = { 'ev:*' } } }")
  const a = await peer(h1)
  const me = await a.rpc[ANNOUNCE]({ role: 'devtools', meta: { tab: 1 } })
  const guest = await peer(h1)
  await guest.rpc[ANNOUNCE]({ role: 'guest' })
  const provider = await peer(h3, { 'ev:note': (text) => `noted ${text}` })
  const events = [] // ev:note events (no id) as the provider received them, in order
  let wake = () => {}
  provider.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.m === 'ev:note' && msg.i == null) events.push(msg) && wake()
  })
  const nextEvent = () => (events.length ? Promise.resolve(events.shift()) : new Promise((r) => (wake = () => r(events.shift()))))
  await provider.rpc[ANNOUNCE]({ role: 'worker' })
  await provider.rpc['devtoolskit:internal:mesh:provide']({ name: 'ev:note' })
  await a.delta((d) => d.peer.role === 'worker' && d.peer.provides.includes('ev:note'))

  // Calls were judged by their first caller already; events now are too.
  assert.equal(await a.rpc[RELAY]({ to: 'worker', method: 'ev:note', args: ['call'] }), 'noted call')
  assert.equal((await rejectionOf(guest.rpc[RELAY]({ to: 'worker', method: 'ev:note', args: ['call'] }))).code, 'unauthorized')

  // The guest's event goes first, on the same links: had h3 delivered it,
  // the provider would see it before the devtools one.
  await guest.rpc[RELAY_EVENT]({ to: 'worker', method: 'ev:note', args: ['from guest'] })
  await a.rpc[RELAY_EVENT]({ to: 'worker', method: 'ev:note', args: ['from devtools'] })
  const ev = await nextEvent()
  assert.deepEqual(ev.a, ['from devtools'])
  assert.deepEqual(ev.x.from, { id: me.id, role: 'devtools', meta: { tab: 1 }, host: 'h1' })
  assert.deepEqual(await provider.rpc[VERIFY](ev.x), { valid: true })
  await h3.waitForLog(/event devtoolskit:internal:mesh:relay-event failed: role 'guest' may not call "ev:note"/)
})

test('host and peer ids of any length are kept whole: two hosts whose ids differ only after 500 bytes stay two peers', { timeout: 30000 }, async (t) => {
  const long = 'x'.repeat(500)
  const role = 'r'.repeat(1000)
  const [pHub, p1, pA, pB] = [await fixedPort(), await fixedPort(), await fixedPort(), await fixedPort()]
  await linkedHost(t, 'hub', pHub)
  const h1 = await linkedHost(t, 'h1', p1, [pHub])
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  for (const side of ['a', 'b']) {
    const h = await linkedHost(t, `${long}-${side}`, side === 'a' ? pA : pB, [pHub])
    const w = await peer(h, { 'calc:where': () => side })
    await w.rpc[ANNOUNCE]({ role: `${role}-${side}` })
    await w.rpc['devtoolskit:internal:mesh:provide']({ name: 'calc:where' })
  }
  const ids = {}
  for (const side of ['a', 'b'])
    ids[side] = (await a.delta((d) => d.peer.host === `${long}-${side}` && d.peer.provides.includes('calc:where'))).peer.id
  assert.ok(ids.a.startsWith(`${long}-a/`) && ids.b.startsWith(`${long}-b/`), JSON.stringify(ids))
  for (const side of ['a', 'b']) {
    assert.equal(await a.rpc[RELAY]({ to: ids[side], method: 'calc:where' }), side)
    assert.equal(await a.rpc[RELAY]({ to: `${role}-${side}`, method: 'calc:where' }), side)
  }
  // make remembers its providers by their whole ids too: both serve in turn
  const made = new Set()
  for (let i = 0; i < 4; i++) made.add(await a.rpc[MAKE]({ name: 'calc:where', args: [] }))
  assert.deepEqual([...made].sort(), ['a', 'b'])
})
