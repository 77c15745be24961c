// Host links: hosts listed in mesh.upstreams connect, merge their
// directories and relay calls and events across hosts; a restarted host
// heals; an identity that does not verify is refused at the next hop; ids
// of any length stay whole.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree, startHost } from './lib/host.mjs'
import { rejectionOf, testConfigSource, fixedPort } from './lib/util.mjs'
import { ANNOUNCE, RELAY, RELAY_EVENT, VERIFY, MAKE, LINK, LINK_CHALLENGE, meshPeer as peer, linkAs, linkProof } from './lib/mesh.mjs'
import { randomBytes } from 'node:crypto'

/** A host named `name` on `port`, linking to the given ports; more conf.d files in `files`. */
function linkedHost(t, name, port, upstreams = [], extra = '', files = {}) {
  const urls = upstreams.map((p) => `'ws://127.0.0.1:${p}/__ws?token=e2e-token'`).join(', ')
  const config = writeTree({
    '00-test.lua': testConfigSource(),
    '10-mesh.lua': `return { mesh = { host_id = '${name}', key = 'shared-key', upstreams = { ${urls} } ${extra} } }`,
    ...files,
  })
  return startHost({ config, plugins: '/nonexistent', args: ['--listen', `127.0.0.1:${port}`] }).then((h) => {
    t.after(() => h.stop())
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
  // A connection that holds mesh.key links as host "fake", then relays
  // with an identity it made up.
  const { client: fake, hello } = await linkAs(h2, 'fake', 'shared-key')
  assert.equal(hello.host, 'h2')
  const forged = { from: { id: 'c1', role: 'admin', meta: {}, host: 'fake' }, sig: '0'.repeat(64) }
  const err = await rejectionOf(fake.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [], identity: forged, hops: 1 }))
  assert.equal(err.code, 'unauthorized')
  const unsigned = await rejectionOf(fake.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [], hops: 1 }))
  assert.equal(unsigned.code, 'unauthorized')
  // an ordinary client cannot smuggle an identity in: presenting one is refused
  const plain = await peer(h2)
  await plain.rpc[ANNOUNCE]({ role: 'devtools' })
  const smuggled = await rejectionOf(plain.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [], identity: forged }))
  assert.deepEqual([smuggled.code, smuggled.message], ['unauthorized', 'a client cannot present an identity: the host attaches its own (replay refused)'])
  assert.equal(await plain.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong')
})

test('host links prove mesh.key: a trusted client calling mesh:link is refused, a wrong key is refused both ways, the right one links', { timeout: 30000 }, async (t) => {
  const p2 = await fixedPort()
  const h2 = await linkedHost(t, 'h2', p2)
  const b = await peer(h2, { 'b:ping': () => 'pong' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })

  // A trusted client (it has the token) calling link straight away: refused, logged.
  const client = await h2.connect()
  const direct = await rejectionOf(client.rpc[LINK]({ host: 'evil', peers: [{ id: 'x', role: 'admin' }] }))
  assert.equal(direct.code, 'unauthorized')
  await h2.waitForLog(/host link refused: no link-challenge first/)
  // It is no link: an identity it presents is refused as any client's is.
  const x = { from: { id: 'c1', role: 'admin', meta: {}, host: 'h1' }, sig: '0'.repeat(64) }
  assert.equal((await rejectionOf(client.rpc[RELAY]({ to: 'iframe', method: 'b:ping', identity: x, hops: 1 }))).code, 'unauthorized')
  // and "evil"'s peers never entered the directory
  assert.deepEqual((await b.rpc['devtoolskit:internal:peer:directory']()).map((p) => p.host), ['h2'])

  // The wrong key: h2's proof does not check out for the dialer, and the dialer's is refused.
  const wrong = await rejectionOf(linkAs(h2, 'evil', 'not-the-key'))
  assert.equal(wrong.code, 'unauthorized')
  assert.equal(wrong.serverProofOk, false)
  await h2.waitForLog(/host link refused: its proof of mesh\.key is wrong/)
  // one guess per challenge: the same connection trying again without a new challenge is refused
  const again = await rejectionOf(wrong.client.rpc[LINK]({ host: 'evil', peers: [], proof: '0'.repeat(64) }))
  assert.match(again.message, /no link-challenge first/)

  // A real host with another mesh.key does not link (it finds h2's proof wrong and hangs up).
  const p1 = await fixedPort()
  const h1 = await startHost({
    config: writeTree({
      '00-test.lua': testConfigSource(),
      '10-mesh.lua': `return { mesh = { host_id = 'h1', key = 'other-key', upstreams = { 'ws://127.0.0.1:${p2}/__ws?token=e2e-token' } } }`,
    }),
    plugins: '/nonexistent',
    args: ['--listen', `127.0.0.1:${p1}`],
  })
  t.after(() => h1.stop())
  await h1.waitForLog(/link handshake with ws:\/\/127\.0\.0\.1:\d+\/__ws\?token=e2e-token failed: the host did not prove mesh\.key/)

  // A challenge taken and never answered goes with its connection.
  const leaver = await h2.connect()
  await leaver.rpc[LINK_CHALLENGE]({ host: 'gone', nonce: 'ab'.repeat(16) })
  leaver.close()

  // The right key links, and h2 still serves.
  const good = await linkAs(h2, 'fake', 'shared-key')
  assert.equal(good.serverProofOk, true)
  assert.equal(good.hello.host, 'h2')
  assert.equal(await client.rpc[RELAY]({ to: 'iframe', method: 'b:ping' }), 'pong')
})

test('a link proof is good for one connection: replayed on a new challenge (same dialer nonce), or by another connection, it is refused', { timeout: 30000 }, async (t) => {
  const h2 = await linkedHost(t, 'h2', await fixedPort())
  const nonce = randomBytes(16).toString('hex')
  const first = await h2.connect()
  const ch1 = await first.rpc[LINK_CHALLENGE]({ host: 'fake', nonce })
  const proof = linkProof('shared-key', 'dialer', nonce, ch1.nonce, 'fake', ch1.host)
  // A second connection with the same nonce gets a fresh server nonce, so the captured proof does not fit.
  const second = await h2.connect()
  const ch2 = await second.rpc[LINK_CHALLENGE]({ host: 'fake', nonce })
  assert.notEqual(ch2.nonce, ch1.nonce)
  assert.equal((await rejectionOf(second.rpc[LINK]({ host: 'fake', peers: [], proof }))).code, 'unauthorized')
  // Nor does a connection that took no challenge of its own.
  const third = await h2.connect()
  assert.equal((await rejectionOf(third.rpc[LINK]({ host: 'fake', peers: [], proof }))).code, 'unauthorized')
  // The proof made for the first connection links it, once.
  assert.equal((await first.rpc[LINK]({ host: 'fake', peers: [], proof })).host, 'h2')
  assert.equal((await rejectionOf(first.rpc[LINK]({ host: 'fake', peers: [], proof }))).code, 'unauthorized')
})

test('without a configured mesh.key a host neither takes nor makes links, and says so', async (t) => {
  const [p1, p2] = [await fixedPort(), await fixedPort()]
  const noKey = (port, extra) => startHost({
    config: writeTree({ '00-test.lua': testConfigSource(), '10-mesh.lua': `return { mesh = { host_id = 'nokey' ${extra} } }` }),
    plugins: '/nonexistent',
    args: ['--listen', `127.0.0.1:${port}`],
  }).then((h) => (t.after(() => h.stop()), h))
  const h2 = await noKey(p2, '')
  const c = await h2.connect()
  const err = await rejectionOf(c.rpc[LINK_CHALLENGE]({ host: 'h1', nonce: 'ab'.repeat(16) }))
  assert.deepEqual([err.code, err.message], ['unauthorized', 'host link refused: this host has no mesh.key configured, so it takes no host links'])
  const h1 = await noKey(p1, `, upstreams = { 'ws://127.0.0.1:${p2}/__ws?token=e2e-token' }`)
  await h1.waitForLog(/mesh\.upstreams is set but mesh\.key is not: no host links are made/)
  assert.equal((await rejectionOf(c.rpc[LINK_CHALLENGE]({ host: 'h1', nonce: 'short' }))).code, 'bad_request')
  assert.equal(await c.rpc['devtoolskit:internal:mesh:verify']({}).then((r) => r.valid), false) // still serving
})

test('a captured identity is refused when replayed: by a client, and over a link that did not issue it', { timeout: 30000 }, async (t) => {
  const [p1, p2] = [await fixedPort(), await fixedPort()]
  const h2 = await linkedHost(t, 'h2', p2)
  const h1 = await linkedHost(t, 'h1', p1, [p2])
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  let captured
  const b = await peer(h2, { 'b:ping': () => 'pong' })
  b.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.m === 'b:ping' && msg.x) captured ??= msg.x
  })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  const target = await peer(h2, { 't:secret': () => 'secret' })
  await target.rpc[ANNOUNCE]({ role: 'vault' })
  await a.delta((d) => d.kind === 'added' && d.peer.role === 'vault')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping' }), 'pong')
  assert.equal(captured.from.host, 'h1')
  assert.deepEqual(await b.rpc[VERIFY](captured), { valid: true }) // a genuine identity

  // b replays it as a client: refused, logged.
  const asClient = await rejectionOf(b.rpc[RELAY]({ to: 'vault', method: 't:secret', identity: captured }))
  assert.equal(asClient.code, 'unauthorized')
  await h2.waitForLog(/presented an identity in a relay: refused/)
  // b tries to become a link to present it: refused.
  assert.equal((await rejectionOf(b.rpc[LINK]({ host: 'h1', peers: [] }))).code, 'unauthorized')
  assert.equal((await rejectionOf(b.rpc[RELAY]({ to: 'vault', method: 't:secret', identity: captured, hops: 1 }))).code, 'unauthorized')
  // Over a link that holds mesh.key but is not h1, the first hop must be the linked host's own identity.
  const { client: other } = await linkAs(h2, 'h9', 'shared-key')
  const wrongLink = await rejectionOf(other.rpc[RELAY]({ to: 'vault', method: 't:secret', identity: captured, hops: 1 }))
  assert.equal(wrongLink.code, 'unauthorized')
  await h2.waitForLog(/identity signed by host 'h1', at the first hop it must be the linked host's own/)
  // and an identity h2 issued itself never comes back over a link
  const own = await new Promise((resolve) => {
    target.ws.on('message', (d) => {
      const msg = JSON.parse(d.toString())
      if (msg.m === 't:secret' && msg.x) resolve(msg.x)
    })
    b.rpc[RELAY]({ to: 'vault', method: 't:secret' })
  })
  assert.equal(own.from.host, 'h2')
  const back = await rejectionOf(other.rpc[RELAY]({ to: 'vault', method: 't:secret', identity: own, hops: 2 }))
  assert.match(back.message, /one this host issued/)
  // the mesh still serves
  assert.equal(await a.rpc[RELAY]({ to: 'vault', method: 't:secret' }), 'secret')
})

test('a relayed event carries its first caller across hosts: the last host judges that caller, and its peer sees it, not the link', { timeout: 30000 }, async (t) => {
  const [p1, p2, p3] = [await fixedPort(), await fixedPort(), await fixedPort()]
  await linkedHost(t, 'h2', p2)
  const h1 = await linkedHost(t, 'h1', p1, [p2], '', {
    '20-grants.lua': "return { auth = { tokens = { 'e2e-token', { token = 'devtools-token', roles = { 'devtools' } } } } }",
  })
  // On h3 only devtools may reach ev:*. A link announces nothing, so as a
  // caller it is 'anonymous': judged as the link, devtools would be refused too.
  const h3 = await linkedHost(t, 'h3', p3, [p2],
    ", permissions = { { roles = { 'devtools' }, allow = { 'ev:*' } }, { roles = { '*' }, deny = { 'ev:*' } } }")
  // h1 grants 'devtools' to a's token; the guest only announces it (a label, not a grant).
  const a = await peer(h1, {}, { token: 'devtools-token' })
  const me = await a.rpc[ANNOUNCE]({ role: 'devtools', meta: { tab: 1 } })
  const guest = await peer(h1)
  await guest.rpc[ANNOUNCE]({ role: 'devtools' })
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
  assert.deepEqual(ev.x.from, { id: me.id, role: 'devtools', meta: { tab: 1 }, host: 'h1', roles: ['devtools'] })
  assert.deepEqual(await provider.rpc[VERIFY](ev.x), { valid: true })
  await h3.waitForLog(/event devtoolskit:internal:mesh:relay-event failed: role 'anonymous' may not call "ev:note"/)
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
