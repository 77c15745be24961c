// Scale-out on NATS, measured: three hosts joined through a local nats-server
// (Debian's package), all on this machine.
//
// 1. Relayed calls (devtoolskit:internal:mesh:relay) from a peer on h1 to an
//    echo peer on h1 (same host) and to one on h2 (across NATS), closed loop
//    with `conc` calls in flight: calls/s, p50 and p99, and the ratio of the
//    two, taken in the same run, alternating, median over the repetitions.
// 2. Broadcast fan-out: `clients` WebSocket clients spread over the three
//    hosts; a plugin broadcasts a 1 KiB event with { cluster = true }; the
//    time from just before the trigger to the last client's copy (median and
//    max over the rounds), against a local broadcast to h1's third of them.
//
//   node bench/cluster.mjs [--duration S=3] [--reps N=3] [--conc C=16] [--clients N=300] [--rounds R=10]
// (uses build/moonhost, or MOONHOST_BIN; the e2e node_modules). Paste its lines into
// bench/results.md, section "cluster". The load generator is one Node process: the numbers
// are bounded by it as much as by the hosts, which is why only the ratios are compared.
import { parseArgs } from 'node:util'
import { startHost, writeTree } from '../tests/e2e/lib/host.mjs'
import { testConfigSource } from '../tests/e2e/lib/util.mjs'
import { ANNOUNCE, RELAY, meshPeer } from '../tests/e2e/lib/mesh.mjs'
import { startNats } from '../tests/e2e/lib/nats.mjs'

const DIRECTORY = 'devtoolskit:internal:peer:directory'

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    reps: { type: 'string', default: '3' },
    conc: { type: 'string', default: '16' },
    clients: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '10' },
  },
})
const duration = Number(opt.duration) * 1000
const reps = Number(opt.reps)
const conc = Number(opt.conc)
const nclients = Number(opt.clients)
const rounds = Number(opt.rounds)

const cleanups = []
const t = { after: (fn) => cleanups.push(fn) }
const plugins = writeTree({
  'bc.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'bc', setup = function(ctx)
  local payload = string.rep('x', 1024)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'bc:send', type = 'action',
    handler = function(round, cluster)
      return ctx.rpc.broadcast { method = 'bench:tick', args = { round, payload }, cluster = cluster }
    end })
end }`,
})

async function host(name, url) {
  const config = writeTree({
    '00-test.lua': testConfigSource(),
    '10-cluster.lua': `return { mesh = { host_id = '${name}', key = 'bench-key' }, nats = { url = '${url}' },
      limits = { max_connections = 20000 } }`,
  })
  const h = await startHost({ config, plugins, logLevel: 'info' })
  cleanups.push(() => h.stop())
  await h.waitForLog(/NATS: connected to /)
  return h
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Closed loop: conc relayed calls in flight to `role` for `duration` ms after a 500 ms warm-up. */
async function relayRun(caller, role) {
  const lat = []
  let measuring = false
  let stop = false
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now()
      const r = await caller.rpc[RELAY]({ to: role, method: 'e:echo', args: [123, 'abcdefghijklmnop'] })
      if (r?.[0] !== 123) throw new Error(`bad answer ${JSON.stringify(r)}`)
      if (measuring) lat.push(performance.now() - t0)
    }
  }
  const workers = Array.from({ length: conc }, worker)
  await new Promise((r) => setTimeout(r, 500))
  measuring = true
  const start = performance.now()
  await new Promise((r) => setTimeout(r, duration))
  measuring = false
  const secs = (performance.now() - start) / 1000
  stop = true
  await Promise.all(workers)
  lat.sort((a, b) => a - b)
  return { rate: lat.length / secs, p50: quantile(lat, 0.5) * 1000, p99: quantile(lat, 0.99) * 1000 }
}

/** A raw client that resolves waiters when bench:tick of a round arrives. */
function tickCounter(ws, arrivals) {
  ws.on('message', (d) => {
    const s = d.toString()
    if (!s.includes('bench:tick')) return
    const m = JSON.parse(s)
    arrivals.get(m.a[0])?.()
  })
}

/** Rounds of one broadcast each; returns the times (ms) until all `expected` clients had it. */
async function fanout(trigger, cluster, expected, arrivals, first) {
  const times = []
  for (let i = 0; i < rounds; i++) {
    const round = first + i
    let left = expected
    const all = new Promise((resolve) => arrivals.set(round, () => --left === 0 && resolve()))
    const t0 = performance.now()
    await trigger.rpc['bc:send'](round, cluster)
    await all
    times.push(performance.now() - t0)
    arrivals.delete(round)
  }
  return times
}

try {
  const nats = await startNats(t)
  const [h1, h2, h3] = [await host('h1', nats.url), await host('h2', nats.url), await host('h3', nats.url)]
  for (const [h, others] of [[h1, ['h2', 'h3']], [h2, ['h1', 'h3']], [h3, ['h1', 'h2']]])
    for (const o of others) await h.waitForLog(new RegExp(`NATS: host ${o} joined the cluster`))

  const echo = { 'e:echo': (a, b) => [a, b] }
  const local = await meshPeer(h1, echo)
  await local.rpc[ANNOUNCE]({ role: 'echo-local' })
  const remote = await meshPeer(h2, echo)
  await remote.rpc[ANNOUNCE]({ role: 'echo-remote' })
  const caller = await meshPeer(h1)
  await caller.rpc[ANNOUNCE]({ role: 'caller' })
  for (let i = 0; i < 100; i++) {
    const roles = (await caller.rpc[DIRECTORY]()).map((p) => p.role)
    if (roles.includes('echo-remote')) break
    await new Promise((r) => setTimeout(r, 50))
  }

  const same = []
  const cross = []
  for (let r = 0; r < reps; r++) {
    same.push(await relayRun(caller, 'echo-local'))
    cross.push(await relayRun(caller, 'echo-remote'))
  }
  const row = (name, runs) => {
    const m = (k) => median(runs.map((x) => x[k]))
    return { name, rate: m('rate'), p50: m('p50'), p99: m('p99') }
  }
  const rows = [row('same-host relay (h1 -> h1)', same), row('cross-host relay (h1 -> NATS -> h2)', cross)]
  console.log(`relayed calls, ${conc} in flight, ${reps} x ${duration / 1000} s, medians:`)
  console.log('| path | calls/s | p50 µs | p99 µs |\n|---|---|---|---|')
  for (const x of rows) console.log(`| ${x.name} | ${x.rate.toFixed(0)} | ${x.p50.toFixed(0)} | ${x.p99.toFixed(0)} |`)
  console.log(`cross / same: calls/s ${(rows[1].rate / rows[0].rate).toFixed(2)}x, p99 ${(rows[1].p99 / rows[0].p99).toFixed(2)}x`)

  const arrivals = new Map()
  const per = Math.floor(nclients / 3)
  for (const h of [h1, h2, h3])
    for (let i = 0; i < per; i++) tickCounter(await h.rawSocket(), arrivals)
  const trigger = await h1.connect() // gets the ticks too: not counted
  const localTimes = await fanout(trigger, false, per, arrivals, 1)
  const clusterTimes = await fanout(trigger, true, 3 * per, arrivals, 1 + rounds)
  const fmt = (xs) => `median ${median(xs).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`
  console.log(`1 KiB broadcast, ${rounds} rounds: local to ${per} clients on h1: ${fmt(localTimes)}; ` +
    `{ cluster = true } to ${3 * per} clients on 3 hosts: ${fmt(clusterTimes)}; ` +
    `ratio of medians ${(median(clusterTimes) / median(localTimes)).toFixed(2)}x`)
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
