// The peer mesh over real sockets: birpc clients announce themselves, see
// directory deltas, call each other through the host's relay, provide
// functions for make(), and carry identities the host signs.
import test from 'node:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { writeTree, tempDir, runMoonhost, E2E_TOKEN } from './lib/host.mjs'
import { hostFor, deferred, rejectionOf, testConfigSource, servedClient } from './lib/util.mjs'
import { ANNOUNCE, RELAY, RELAY_EVENT, MAKE, meshPeer as peer } from './lib/mesh.mjs'

test('announce, directory deltas, relay to a role, and a disconnect that makes the next relay not_found', async (t) => {
  const host = await hostFor(t, {})
  const a = await peer(host)
  const me = await a.rpc[ANNOUNCE]({ role: 'devtools', capabilities: ['ui'] })
  assert.equal(me.directory.length, 1)
  assert.equal(me.directory[0].id, me.id)

  const b = await peer(host, { 'b:ping': (x) => `pong ${x}` })
  const bInfo = await b.rpc[ANNOUNCE]({ role: 'iframe', capabilities: ['ping'], meta: { frame: 'main' } })
  const added = await a.nextDelta()
  assert.equal(added.kind, 'added')
  assert.deepEqual({ id: added.peer.id, role: added.peer.role, meta: added.peer.meta }, { id: bInfo.id, role: 'iframe', meta: { frame: 'main' } })

  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [1] }), 'pong 1')
  assert.equal(await a.rpc[RELAY]({ to: bInfo.id, method: 'b:ping', args: [2] }), 'pong 2')
  assert.equal(await a.rpc[RELAY]({ to: { role: 'iframe', capability: 'ping', meta: { frame: 'main' } }, method: 'b:ping', args: [3] }), 'pong 3')
  assert.equal((await rejectionOf(a.rpc[RELAY]({ to: { role: 'iframe', meta: { frame: 'other' } }, method: 'b:ping', args: [] }))).code, 'not_found')

  b.close()
  const removed = await a.nextDelta()
  assert.deepEqual([removed.kind, removed.peer.id], ['removed', bInfo.id])
  const err = await rejectionOf(a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [1] }))
  assert.equal(err.code, 'not_found')
})

test('relay errors, timeouts and cancellation reach the caller with their codes; the target gets the cancel', async (t) => {
  const host = await hostFor(t, {})
  const a = await peer(host)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const slowStarted = deferred()
  const b = await peer(host, {
    'b:fail': () => {
      throw { code: 'bad_request', message: 'no thanks' }
    },
    'b:slow': () => {
      slowStarted.resolve()
      return new Promise(() => {})
    },
  })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  const cancelSeen = deferred()
  b.ws.on('message', (data) => {
    const msg = JSON.parse(data.toString())
    if (msg.t === 'c') cancelSeen.resolve(msg.i)
  })

  const failed = await rejectionOf(a.rpc[RELAY]({ to: 'iframe', method: 'b:fail', args: [] }))
  assert.deepEqual([failed.code, failed.message], ['bad_request', 'no thanks'])

  const timedOut = await rejectionOf(a.rpc[RELAY]({ to: 'iframe', method: 'b:slow', args: [], timeout: 50 }))
  assert.equal(timedOut.code, 'rpc_timeout')

  // Cancel: a raw frame from A with the moonhost cancel extension.
  const raw = await host.rawSocket()
  raw.send(JSON.stringify({ t: 'q', i: 'relay-1', m: RELAY, a: [{ to: 'iframe', method: 'b:slow', args: [] }] }))
  await slowStarted.promise
  const reply = new Promise((r) => raw.on('message', (d) => r(JSON.parse(d.toString()))))
  raw.send(JSON.stringify({ t: 'c', i: 'relay-1' }))
  const answer = await reply
  assert.deepEqual([answer.i, answer.e?.code], ['relay-1', 'rpc_cancelled'])
  assert.match(await cancelSeen.promise, /^s\d+$/, 'the target received a cancel frame for its call')
})

test('make spreads over three providers, a provider that rejects is skipped, and provide twice is refused', async (t) => {
  const host = await hostFor(t, {})
  const caller = await peer(host)
  await caller.rpc[ANNOUNCE]({ role: 'devtools' })
  const served = [0, 0, 0]
  const providers = []
  for (let i = 0; i < 3; i++) {
    const p = await peer(host, {
      'calc:who': () => {
        if (i === 1) throw { code: 'rejected', message: 'busy' }
        served[i]++
        return i
      },
    })
    await p.rpc[ANNOUNCE]({ role: 'worker' })
    assert.equal(await p.rpc['devtoolskit:internal:mesh:provide']({ name: 'calc:who' }), true)
    providers.push(p)
  }
  const twice = await rejectionOf(providers[0].rpc['devtoolskit:internal:mesh:provide']({ name: 'calc:who' }))
  assert.equal(twice.code, 'rpc_method_already_registered')

  const answers = []
  for (let k = 0; k < 9; k++) answers.push(await caller.rpc[MAKE]({ name: 'calc:who', args: [] }))
  assert.ok(!answers.includes(1), 'the rejecting provider never answers')
  assert.ok(served[0] > 0 && served[2] > 0, `both accepting providers served (${served})`)
  assert.equal(served[0] + served[2], 9)

  await providers[0].rpc['devtoolskit:internal:mesh:unprovide']({ name: 'calc:who' })
  for (let k = 0; k < 3; k++) assert.equal(await caller.rpc[MAKE]({ name: 'calc:who', args: [] }), 2)
  assert.equal((await rejectionOf(caller.rpc[MAKE]({ name: 'nobody:provides', args: [] }))).code, 'not_found')
})

test('relayed calls carry an identity the host signed; a forged one does not verify; requestor details reach providers', async (t) => {
  const conf = writeTree({
    '00-test.lua': testConfigSource(),
    '10-mesh.lua': "return { mesh = { requestor_details = true, key = 'test-mesh-key' } }",
  })
  const host = await hostFor(t, { config: conf })
  const caller = await peer(host)
  const me = await caller.rpc[ANNOUNCE]({ role: 'devtools', meta: { tab: 7 } })
  const seen = deferred()
  const target = await peer(host, { 'b:who': (...args) => args })
  await target.rpc[ANNOUNCE]({ role: 'iframe' })
  await target.rpc['devtoolskit:internal:mesh:provide']({ name: 'b:who' })
  target.ws.on('message', (data) => {
    const msg = JSON.parse(data.toString())
    if (msg.m === 'b:who') seen.resolve(msg.x)
  })

  const args = await caller.rpc[MAKE]({ name: 'b:who', args: ['hello'] })
  assert.equal(args[0], 'hello')
  assert.deepEqual(args[1], { requestor: { id: me.id, role: 'devtools', meta: { tab: 7 } } })
  const identity = await seen.promise
  assert.deepEqual([identity.from.id, identity.from.role], [me.id, 'devtools'])
  assert.match(identity.sig, /^[0-9a-f]{64}$/)

  const VERIFY = 'devtoolskit:internal:mesh:verify'
  assert.deepEqual(await target.rpc[VERIFY](identity), { valid: true })
  const forged = { ...identity, from: { ...identity.from, role: 'admin' } }
  assert.deepEqual(await target.rpc[VERIFY](forged), { valid: false })
  assert.deepEqual(await target.rpc[VERIFY]({ from: identity.from }), { valid: false })

  // A meta JSON cannot carry (1e999 is Infinity) is kept as JSON writes it (null), so the
  // identity that carries it still verifies at a JSON peer.
  const announced = new Promise((r) => caller.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.i === 'meta-inf') r(msg)
  }))
  caller.ws.send(`{"t":"q","i":"meta-inf","m":"${ANNOUNCE}","a":[{"role":"devtools","meta":{"tab":7,"far":1e999}}]}`)
  assert.equal((await announced).r.id, me.id)
  const seenAgain = deferred()
  target.ws.on('message', (data) => {
    const msg = JSON.parse(data.toString())
    if (msg.m === 'b:who' && msg.x.from.meta.far === null) seenAgain.resolve(msg.x)
  })
  await caller.rpc[MAKE]({ name: 'b:who', args: [] })
  assert.deepEqual(await target.rpc[VERIFY](await seenAgain.promise), { valid: true })
})

test('mesh.permissions: a role granted by a token may be kept from calling names through the relay', async (t) => {
  const conf = writeTree({
    '00-test.lua': testConfigSource(),
    '10-perm.lua': `return {
      auth = { tokens = { 'e2e-token', { token = 'guest-token', roles = { 'guest' } } } },
      mesh = { permissions = { { roles = { 'guest' }, allow = { 'b:ping' } }, { roles = { '*' }, deny = { 'b:admin*' } } } },
    }`,
  })
  const host = await hostFor(t, { config: conf })
  const guest = await peer(host, {}, { token: 'guest-token' })
  await guest.rpc[ANNOUNCE]({ role: 'devtools' }) // the announced role is a label: the grant decides
  const dev = await peer(host)
  await dev.rpc[ANNOUNCE]({ role: 'devtools' })
  const b = await peer(host, { 'b:ping': () => 'pong', 'b:other': () => 'other', 'b:admin-reset': () => 'reset' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })

  assert.equal(await guest.rpc[RELAY]({ to: 'iframe', method: 'b:ping' }), 'pong')
  assert.equal((await rejectionOf(guest.rpc[RELAY]({ to: 'iframe', method: 'b:other' }))).code, 'unauthorized')
  assert.equal(await dev.rpc[RELAY]({ to: 'iframe', method: 'b:other' }), 'other')
  assert.equal((await rejectionOf(dev.rpc[RELAY]({ to: 'iframe', method: 'b:admin-reset' }))).code, 'unauthorized')
})

test('a mesh.permissions rule that is not a table stops the start: exit 2 and the reason, never "listening"', { timeout: 30000 }, async () => {
  const conf = writeTree({
    '00-test.lua': testConfigSource(),
    '10-perm.lua': `return { mesh = { permissions = { { roles = { 'guest' }, allow = { 'b:ping' } }, 'deny everything' } } }`,
  })
  const r = await runMoonhost(['run', '--listen', '127.0.0.1:0', '--plugins', tempDir(), '--config', conf])
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /moonhost: mesh\.permissions\[2\]: must be a table \{roles=, allow=, deny=\}/)
  assert.doesNotMatch(r.stderr, /listening on/)
})

test('roles that grant permissions come from the token, not the announcement: re-announcing admin does not pass, a token granted admin does', async (t) => {
  const conf = writeTree({
    '00-test.lua': testConfigSource(),
    '10-grants.lua': `return {
      auth = { tokens = { 'e2e-token', { token = 'admin-token', roles = { 'admin', 'ops' } } } },
      mesh = { requestor_details = true,
               permissions = { { roles = { 'admin', 'host' }, allow = { 'b:*' } }, { roles = { '*' }, deny = { 'b:admin*' } } } },
    }`,
  })
  const host = await hostFor(t, { config: conf })
  const seen = []
  const b = await peer(host, { 'b:admin-reset': (...args) => (seen.push(args), 'reset') })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  b.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.m === 'b:admin-reset') seen.push(msg.x)
  })

  // A plain token: announcing admin (first, and again after another role) gets no further.
  const pretender = await peer(host)
  await pretender.rpc[ANNOUNCE]({ role: 'admin' })
  const refused = await rejectionOf(pretender.rpc[RELAY]({ to: 'iframe', method: 'b:admin-reset' }))
  assert.deepEqual([refused.code, refused.message], ['unauthorized', `role 'anonymous' may not call "b:admin-reset" through the mesh (mesh.permissions)`])
  await pretender.rpc[ANNOUNCE]({ role: 'guest' })
  await pretender.rpc[ANNOUNCE]({ role: 'admin', meta: { really: true } })
  assert.equal((await rejectionOf(pretender.rpc[RELAY]({ to: 'iframe', method: 'b:admin-reset' }))).code, 'unauthorized')
  await b.rpc['devtoolskit:internal:mesh:provide']({ name: 'b:admin-reset' })
  assert.equal((await rejectionOf(pretender.rpc[MAKE]({ name: 'b:admin-reset' }))).code, 'unauthorized')

  // The token granted admin passes, whatever it announces; the target sees the grant, signed.
  const admin = await peer(host, {}, { token: 'admin-token' })
  const me = await admin.rpc[ANNOUNCE]({ role: 'devtools' })
  assert.equal(await admin.rpc[RELAY]({ to: 'iframe', method: 'b:admin-reset', args: [1] }), 'reset')
  const x = seen.find((v) => v && v.from)
  assert.deepEqual(x.from, { id: me.id, role: 'devtools', meta: {}, host: me.host, roles: ['admin', 'ops'] })
  assert.deepEqual(await b.rpc['devtoolskit:internal:mesh:verify'](x), { valid: true })
  assert.deepEqual(await b.rpc['devtoolskit:internal:mesh:verify']({ ...x, from: { ...x.from, roles: ['admin'] } }), { valid: false })
  // make too, and the provider's requestor details carry the grant
  assert.equal(await admin.rpc[MAKE]({ name: 'b:admin-reset', args: [2] }), 'reset')
  assert.deepEqual(seen.findLast((v) => Array.isArray(v)), [2, { requestor: { id: me.id, role: 'devtools', meta: {}, roles: ['admin', 'ops'] } }])

  // The grant also comes with a token given in the handshake call (no token in the URL).
  const late = await peer(host, {}, { token: null })
  assert.deepEqual(await late.rpc['anonymous:devframe:auth']({ authToken: 'admin-token' }), { isTrusted: true })
  assert.equal(await late.rpc[RELAY]({ to: 'iframe', method: 'b:admin-reset', args: [3] }), 'reset')
  // revoking the trust drops the grant with it
  await late.rpc['devframe:auth:revoke']()
  await late.rpc['anonymous:devframe:auth']({ authToken: 'e2e-token' })
  assert.equal((await rejectionOf(late.rpc[RELAY]({ to: 'iframe', method: 'b:admin-reset' }))).code, 'unauthorized')
  await host.waitForLog(/granted 2 role\(s\) by its token/)

  // An oRPC request holds its token's roles: none for a plain token (not even 'host')...
  const overHttp = (token) => fetch(`http://127.0.0.1:${host.port}/rpc/devtoolskit/internal/mesh/relay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ json: { to: 'iframe', method: 'b:admin-reset', args: [4] } }),
  })
  const res = await overHttp(E2E_TOKEN)
  const body = await res.json()
  assert.deepEqual([res.status, body.json.message], [401, `role 'anonymous' may not call "b:admin-reset" through the mesh (mesh.permissions)`])
  // ...and admin for the token granted it, signed as an HTTP caller's
  const granted = await overHttp('admin-token')
  assert.deepEqual([granted.status, (await granted.json()).json], [200, 'reset'])
  const xHttp = seen.findLast((v) => v && v.from)
  assert.deepEqual(xHttp.from, { id: 'http', role: 'http', meta: {}, host: me.host, roles: ['admin', 'ops'] })
  assert.deepEqual(await b.rpc['devtoolskit:internal:mesh:verify'](xHttp), { valid: true })
  assert.equal(await admin.rpc[RELAY]({ to: 'iframe', method: 'b:admin-reset' }), 'reset')
})

test('a configuration reload changes token grants for new connections only; a removed token trusts no new connection', async (t) => {
  const grants = (roles, extra = '') => `return {
    auth = { tokens = { 'e2e-token', { token = 'admin-token', roles = { ${roles} } } ${extra} } },
    mesh = { permissions = { { roles = { 'admin' }, allow = { 'b:*' } }, { roles = { '*' }, deny = { 'b:*' } } } },
  }`
  const conf = writeTree({ '00-test.lua': testConfigSource(), '10-grants.lua': grants("'admin'") })
  const host = await hostFor(t, { config: conf })
  const b = await peer(host, { 'b:reset': () => 'reset' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  const before = await peer(host, {}, { token: 'admin-token' })
  await before.rpc[ANNOUNCE]({ role: 'devtools' })
  assert.equal(await before.rpc[RELAY]({ to: 'iframe', method: 'b:reset' }), 'reset')

  // admin-token no longer grants admin.
  writeFileSync(join(conf, '10-grants.lua'), grants(''))
  await host.waitForLog(/\[reload\] configuration reloaded/)
  const after = await peer(host, {}, { token: 'admin-token' })
  await after.rpc[ANNOUNCE]({ role: 'devtools' })
  assert.equal((await rejectionOf(after.rpc[RELAY]({ to: 'iframe', method: 'b:reset' }))).code, 'unauthorized')
  assert.equal(await before.rpc[RELAY]({ to: 'iframe', method: 'b:reset' }), 'reset', 'a grant is kept by the connection it was copied to')

  // admin-token removed: a new connection with it is not trusted at all.
  writeFileSync(join(conf, '10-grants.lua'), `return { auth = { tokens = { 'e2e-token' } } }`)
  await host.waitForLogCount(/\[reload\] configuration reloaded/, 2)
  const gone = await peer(host, {}, { token: 'admin-token' })
  assert.match((await rejectionOf(gone.rpc['http:echo'](1))).message, /the token is not valid/)
})

test('relay-event reaches the target without a reply; bad relay requests are bad_request and the host keeps serving', async (t) => {
  const host = await hostFor(t, {})
  const a = await peer(host)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const got = deferred()
  const b = await peer(host, { 'b:note': (x) => { got.resolve(x); return x } })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  await a.rpc[RELAY_EVENT]({ to: 'iframe', method: 'b:note', args: ['fire and forget'] })
  assert.equal(await got.promise, 'fire and forget')

  for (const bad of [undefined, 42, { to: 'iframe' }, { method: 'b:note' }, { to: 'iframe', method: 5 }, { to: 'iframe', method: 'b:note', args: 'x' }])
    assert.equal((await rejectionOf(a.rpc[RELAY](bad))).code, 'bad_request', JSON.stringify(bad))
  assert.equal((await rejectionOf(a.rpc[ANNOUNCE]({ role: 5 }))).code, 'bad_request')
  // A name that is not a (non-empty) string is the caller's mistake, not a name nobody provides.
  for (const fn of ['provide', 'unprovide'])
    for (const bad of [{ name: 5 }, { name: '' }, {}, 42, null, [['x']]]) {
      const e = await rejectionOf(a.rpc[`devtoolskit:internal:mesh:${fn}`](bad))
      assert.deepEqual([e.code, e.message], ['bad_request', `${fn} expects {name: string} (a non-empty name)`], `${fn}(${JSON.stringify(bad)})`)
    }
  assert.equal((await rejectionOf(a.rpc['devtoolskit:internal:mesh:unprovide']({ name: 'never:provided' }))).code, 'not_found')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:note', args: ['still serving'] }), 'still serving')
  // Infinity (1e999 in JSON) as a timeout is the longest one, not a double converted out of range
  const raw = await host.rawSocket()
  const reply = new Promise((r) => raw.on('message', (d) => r(JSON.parse(d.toString()))))
  raw.send(`{"t":"q","i":"inf","m":"${RELAY}","a":[{"to":"iframe","method":"b:note","args":["no limit"],"timeout":1e999}]}`)
  assert.deepEqual([(await reply).i, (await reply).r], ['inf', 'no limit'])
})

test('ctx.mesh from Lua: peers(), peer(role):call through the relay, on("change"), provide for make(), caller()', async (t) => {
  const { fixtures } = await import('./lib/host.mjs')
  const host = await hostFor(t, { plugins: `${fixtures}/mesh` })
  const a = await peer(host)
  const me = await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const b = await peer(host, { 'b:ping': (x) => `pong ${x}` })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  await a.nextDelta() // b added: the plugin's listener ran before this delta left the host
  assert.equal(await a.rpc['meshy:ask_iframe'](5), 'pong 5')
  assert.deepEqual(await a.rpc['meshy:peers'](), ['devtools', 'iframe'])
  assert.deepEqual(await a.rpc['meshy:changes'](), ['added:devtools', 'added:iframe'])
  assert.equal(await a.rpc[MAKE]({ name: 'meshy:square', args: [7] }), 49)
  assert.equal(await a.rpc['meshy:whoami'](), me.id)
})

test('an oRPC request that relays is presented to the target as "http", not as the host; a plugin\'s relay is the host', async (t) => {
  const { fixtures } = await import('./lib/host.mjs')
  const host = await hostFor(t, { plugins: `${fixtures}/mesh` })
  const seen = []
  const b = await peer(host, { 'b:ping': (x) => `pong ${x}` })
  const bInfo = await b.rpc[ANNOUNCE]({ role: 'iframe' })
  b.ws.on('message', (d) => {
    const msg = JSON.parse(d.toString())
    if (msg.m === 'b:ping') seen.push(msg.x)
  })
  const res = await fetch(`http://127.0.0.1:${host.port}/rpc/devtoolskit/internal/mesh/relay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ json: { to: 'iframe', method: 'b:ping', args: [1] } }),
  })
  assert.deepEqual([res.status, (await res.json()).json], [200, 'pong 1'])
  // the same relay asked by the host's own plugin (ctx.mesh), over a client's call
  const a = await peer(host)
  assert.equal(await a.rpc['meshy:ask_iframe'](2), 'pong 2')
  assert.equal(seen.length, 2)
  assert.deepEqual(seen[0].from, { id: 'http', role: 'http', meta: {}, host: bInfo.host })
  assert.deepEqual(seen[1].from, { id: bInfo.host, role: 'host', meta: {}, host: bInfo.host })
  for (const x of seen) assert.deepEqual(await b.rpc['devtoolskit:internal:mesh:verify'](x), { valid: true })
  // "http" is only a label: forging it onto the host's signature does not verify
  assert.deepEqual(await b.rpc['devtoolskit:internal:mesh:verify']({ ...seen[0], from: { ...seen[0].from, id: bInfo.host, role: 'host' } }), { valid: false })
})

test('the moonhost JS client: mesh.announce, peer(role).call, provide/make with meshReject, on("change"), identity in the handler', async (t) => {
  const WebSocket = (await import('ws')).default
  const host = await hostFor(t, {})
  const { connect, meshReject } = await servedClient(host)
  const open = () => connect({ url: host.url, token: E2E_TOKEN, WebSocket })
  const a = open()
  const b = open()
  const c = open()
  t.after(() => Promise.all([a.close(), b.close(), c.close()]))
  const changes = []
  const sawIframe = deferred()
  a.mesh.on('change', (d) => {
    changes.push(`${d.kind}:${d.peer.role}`)
    if (d.peer.role === 'iframe') sawIframe.resolve()
  })
  await a.mesh.announce({ role: 'devtools' })
  const asked = deferred()
  b.register({ name: 'b:ping', handler(x) { asked.resolve(this.identity); return `pong ${x}` } })
  await b.mesh.announce({ role: 'iframe' })
  await sawIframe.promise
  assert.equal(await a.mesh.peer('iframe').call('b:ping', 1), 'pong 1')
  const identity = await asked.promise
  assert.equal(identity.from.role, 'devtools')
  assert.deepEqual(await b.mesh.verify(identity), { valid: true })

  let rejected = 0
  await b.mesh.provide('calc:who', () => { rejected++; throw meshReject('busy') })
  await c.mesh.announce({ role: 'worker' })
  await c.mesh.provide('calc:who', () => 'c')
  for (let i = 0; i < 4; i++) assert.equal(await a.mesh.make('calc:who'), 'c')
  assert.ok(rejected > 0, 'the rejecting provider was tried and skipped')
  assert.deepEqual((await a.mesh.peers()).map((p) => p.role).sort(), ['devtools', 'iframe', 'worker'])
  assert.ok(changes.includes('added:iframe') && changes.includes('added:worker'))
})

test('the moonhost JS client: a relay-event handler sees this.identity, signed by the host; an event without "x" has none', async (t) => {
  const WebSocket = (await import('ws')).default
  const host = await hostFor(t, {})
  const { connect } = await servedClient(host)
  const open = () => connect({ url: host.url, token: E2E_TOKEN, WebSocket })
  const a = open()
  const b = open()
  t.after(() => Promise.all([a.close(), b.close()]))
  const me = await a.mesh.announce({ role: 'devtools', meta: { tab: 7 } })
  const bInfo = await b.mesh.announce({ role: 'iframe' })

  const seen = []
  const waiters = []
  b.register({
    name: 'b:note', type: 'event',
    handler: function (text) {
      const got = { text, identity: this.identity, signal: this.signal }
      const w = waiters.shift()
      if (w) w(got)
      else seen.push(got)
    },
  })
  const nextNote = () => (seen.length ? Promise.resolve(seen.shift()) : new Promise((r) => waiters.push(r)))

  // A relay-event from A, addressed by id: B's handler sees who sent it.
  assert.equal(await a.mesh.peer(bInfo.id).event('b:note', 'from a'), 1)
  const relayed = await nextNote()
  assert.equal(relayed.text, 'from a')
  const { identity } = relayed
  assert.deepEqual(identity.from, { id: me.id, role: 'devtools', meta: { tab: 7 }, host: me.host })
  assert.match(identity.sig, /^[0-9a-f]{64}$/)
  assert.ok(relayed.signal instanceof AbortSignal && !relayed.signal.aborted)

  // The host's verify accepts it, from the JS client and from a plain birpc peer; a changed one it refuses.
  const VERIFY = 'devtoolskit:internal:mesh:verify'
  assert.deepEqual(await b.mesh.verify(identity), { valid: true })
  const plain = await host.connect({})
  assert.deepEqual(await plain.rpc[VERIFY](identity), { valid: true })
  assert.deepEqual(await b.mesh.verify({ ...identity, from: { ...identity.from, role: 'admin' } }), { valid: false })
  assert.deepEqual(await b.mesh.verify({ from: identity.from }), { valid: false })

  // An event the host sends without "x" (a broadcast) runs the handler as before: no identity, no signal.
  assert.ok((await a.call('sem:broadcast', 'b:note', 'broadcast')) >= 2)
  const broadcast = await nextNote()
  assert.deepEqual([broadcast.text, broadcast.identity, broadcast.signal], ['broadcast', undefined, undefined])
})
