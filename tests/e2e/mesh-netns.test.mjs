// Scale-out on NATS across real (virtual) network interfaces: three hosts,
// each in a Linux network namespace of its own with its own address on a
// bridge; nats-server and the clients in the root namespace, so every NATS
// message and every client frame crosses a veth pair and the bridge. The
// directory converges, relayed calls and cluster broadcasts cross, and a host
// whose interface goes down has its peers leave the others within 2 s and
// resyncs when its link is back, whether its NATS connection outlived the
// cut or it had to reconnect. Needs network namespaces (root): without
// them the test fails, unless MOONHOST_E2E_NO_NETNS=1 says to skip it.
//
// The hosts listen on their namespace's address (`--listen 10.77.X.1N:0`),
// not on loopback. Clients connect with the token of conf.d/00-test.lua
// (auth.tokens), as everywhere; the Host header they send is an IP address,
// which the Host check accepts without auth.allowed_hosts, and Node's ws
// sends no Origin, so no auth.allowed_origins either.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree } from './lib/host.mjs'
import { rejectionOf } from './lib/util.mjs'
import { ANNOUNCE, DIRECTORY, RELAY, meshPeer as peer } from './lib/mesh.mjs'
import { startNats } from './lib/nats.mjs'
import { netnsLab, requireNetns } from './lib/netns.mjs'
import { BROADCAST_PLUGIN, added, clusterConfig, frameCounter, removed, within } from './lib/cluster.mjs'

const NAMES = ['h1', 'h2', 'h3']

/** A regexp source matching s literally. */
const literal = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Three namespaces with a host each (h1, h2, h3, plugins from `plugins`), connected to a
 * nats-server on the bridge's address, once each has seen the other two join.
 */
async function namespacedCluster(t, plugins = '/nonexistent') {
  const lab = netnsLab(t, 3)
  const nats = await startNats(t, [], { host: lab.address })
  const hosts = []
  for (const [i, name] of NAMES.entries()) {
    const h = await lab.startHost(i, { config: clusterConfig(name, nats.url), plugins })
    await h.waitForLog(new RegExp(`NATS: connected to nats://${literal(lab.address)}:\\d+ as host ${name}`))
    hosts.push(h)
  }
  for (const [i, h] of hosts.entries()) {
    for (const other of NAMES.filter((n) => n !== NAMES[i])) await h.waitForLog(new RegExp(`NATS: host ${other} joined the cluster`))
  }
  return { lab, hosts }
}

/** p's directory once it lists n peers, re-read after each delta p receives. */
async function directoryOf(p, n) {
  for (;;) {
    const dir = await p.rpc[DIRECTORY]()
    if (dir.length === n) return dir.map((e) => `${e.role}@${e.host}`).sort()
    await p.nextDelta()
  }
}

test('three hosts in three network namespaces, NATS and the clients outside them: the directory converges, a peer on h1 calls one on h3 and back, a cluster broadcast reaches every client once', { timeout: 60000 }, async (t) => {
  if (!requireNetns(t)) return
  const { lab, hosts } = await namespacedCluster(t, writeTree({ 'bc.lua': BROADCAST_PLUGIN }))
  const [h1, h2, h3] = hosts
  // Each host listens on its own interface's address, and the clients connect there.
  assert.deepEqual(hosts.map((h) => h.address), lab.namespaces.map((ns) => ns.address))
  for (const h of hosts) assert.match(h.log, new RegExp(`listening on ws://${literal(h.address)}:\\d+/__ws`))

  const a = await peer(h1, { 'a:hello': (who) => `hello ${who} from h1` })
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const b = await peer(h2)
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  const c = await peer(h3, { 'c:double': (n) => n * 2 })
  await c.rpc[ANNOUNCE]({ role: 'worker' })

  // Convergence: every host's directory lists the three peers, each where it is.
  const everyone = ['devtools@h1', 'iframe@h2', 'worker@h3']
  for (const p of [a, b, c]) assert.deepEqual(await within(5000, directoryOf(p, 3), 'three peers in a directory'), everyone)

  // A relayed call from h1 to h3, by id, and one back by role.
  const worker = (await a.rpc[DIRECTORY]()).find((e) => e.role === 'worker')
  assert.equal(worker.host, 'h3')
  assert.equal(await a.rpc[RELAY]({ to: worker.id, method: 'c:double', args: [21] }), 42)
  assert.equal(await c.rpc[RELAY]({ to: 'devtools', method: 'a:hello', args: ['c'] }), 'hello c from h1')

  // A cluster broadcast from h1: once on each trusted client of each host, none on an untrusted one.
  const clients = [[frameCounter(a.ws)], [frameCounter(b.ws)], [frameCounter(c.ws)]]
  for (const [i, h] of hosts.entries()) clients[i].push(frameCounter(await h.rawSocket()))
  const untrusted = frameCounter(await h3.rawSocket('/__ws', {}, null))
  assert.equal(await a.rpc['bc:send']('ev:cluster', 1, true), 2) // h1's own: a and its raw client
  assert.equal(await a.rpc['bc:send']('ev:end', 0, true), 2)
  // NATS keeps one publisher's order: a second copy of ev:cluster would have come before ev:end.
  await within(5000, Promise.all(clients.flat().map((k) => k.seen('ev:end'))), 'ev:end on every client')
  assert.deepEqual(clients.map((ks) => ks.map((k) => k.count('ev:cluster'))), [[1, 1], [1, 1], [1, 1]])
  assert.equal(untrusted.count('ev:cluster'), 0)
})

test('a partition by `ip link set eth0 down` in h2\'s namespace: its peer leaves h1 and h3 within 2 s, h1 and h3 still reach each other, and with the link up again every directory resyncs and calls cross, after a short cut and after one long enough for h2 to reconnect to NATS', { timeout: 60000 }, async (t) => {
  if (!requireNetns(t)) return
  const { lab, hosts } = await namespacedCluster(t)
  const [h1, h2, h3] = hosts
  const a = await peer(h1)
  await a.rpc[ANNOUNCE]({ role: 'devtools' })
  const c = await peer(h3, { 'c:ping': () => 'pong from h3' })
  await c.rpc[ANNOUNCE]({ role: 'worker' })
  const b = await peer(h2, { 'b:ping': () => 'pong from h2' })
  await b.rpc[ANNOUNCE]({ role: 'iframe' })
  for (const p of [a, b, c]) await within(5000, directoryOf(p, 3), 'three peers in a directory')
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong from h2')
  assert.equal(await b.rpc[RELAY]({ to: 'worker', method: 'c:ping', args: [] }), 'pong from h3')
  for (const p of [a, b, c]) p.forget() // only what follows counts

  const downAt = Date.now()
  lab.namespaces[1].down()
  // Nothing says goodbye: h1 and h3 stop hearing h2's heartbeats.
  await within(2000, Promise.all([removed(a, 'iframe'), removed(c, 'iframe')]), 'h2\'s peer removed from h1 and h3')
  const goneMs = Date.now() - downAt
  await h1.waitForLog(/NATS: host h2 left the cluster \(no heartbeat\)/)
  await h3.waitForLog(/NATS: host h2 left the cluster \(no heartbeat\)/)
  // h2 meanwhile hears nobody (its log reaches us through a pipe, not the network).
  await h2.waitForLog(/NATS: host h1 left the cluster/)
  await h2.waitForLog(/NATS: host h3 left the cluster/)
  assert.equal(await a.rpc[RELAY]({ to: 'worker', method: 'c:ping', args: [] }), 'pong from h3')
  assert.equal((await rejectionOf(a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }))).code, 'not_found')
  assert.deepEqual(await a.rpc[DIRECTORY]().then((d) => d.map((e) => e.host).sort()), ['h1', 'h3'])

  const upAt = Date.now()
  lab.namespaces[1].up()
  // Whether h2's NATS connection survived the outage (TCP retransmits) or h2 reconnected, the
  // directories heal; b's frames were held up by the same link and arrive in order.
  await within(20000, Promise.all([added(a, 'iframe'), added(c, 'iframe'), added(b, 'devtools'), added(b, 'worker')]), 'the directories resynced')
  const resyncMs = Date.now() - upAt
  assert.deepEqual([(await removed(b, 'devtools')).host, (await removed(b, 'worker')).host], ['h1', 'h3'])
  for (const p of [a, b, c]) assert.deepEqual(await directoryOf(p, 3), ['devtools@h1', 'iframe@h2', 'worker@h3'])
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong from h2')
  assert.equal(await b.rpc[RELAY]({ to: 'worker', method: 'c:ping', args: [] }), 'pong from h3')
  const reconnected = /NATS: back at /.test(h2.log)
  t.diagnostic(`h2's peer left h1 and h3 ${goneMs} ms after its link went down; ` +
    `directories resynced ${resyncMs} ms after it came up (${reconnected ? 'h2 reconnected to NATS' : 'h2 kept its NATS connection'})`)

  // A longer cut: down until h2's NATS client gives the silent connection up (its pings go
  // unanswered), so that h2 must reconnect once the link is up, and then resyncs the same way.
  for (const p of [a, b, c]) p.forget()
  const [lost, back] = [/NATS at nats:\/\/\S+ lost/g, /NATS: back at nats:\/\/\S+ as host h2/g]
  const count = (re) => h2.log.match(re)?.length ?? 0 // the first cut may have had h2 reconnect already
  const [lostBefore, backBefore] = [count(lost), count(back)]
  lab.namespaces[1].down()
  await within(2000, removed(a, 'iframe'), 'h2\'s peer removed from h1 again')
  await h2.waitForLogCount(lost, lostBefore + 1, 20000)
  const upAgainAt = Date.now()
  lab.namespaces[1].up()
  await h2.waitForLogCount(back, backBefore + 1, 20000)
  await within(20000, Promise.all([added(a, 'iframe'), added(c, 'iframe'), added(b, 'devtools'), added(b, 'worker')]), 'the directories resynced after the reconnect')
  t.diagnostic(`after h2 gave up its NATS connection, directories resynced ${Date.now() - upAgainAt} ms after its link came up`)
  assert.equal(await a.rpc[RELAY]({ to: 'iframe', method: 'b:ping', args: [] }), 'pong from h2')
  assert.equal(await b.rpc[RELAY]({ to: 'worker', method: 'c:ping', args: [] }), 'pong from h3')
})
