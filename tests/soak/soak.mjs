// Soak: a real moonhost under churn for MINUTES: clients connect and leave,
// call, receive broadcasts, and a plugin is rewritten (hot reload) every few
// seconds. Prints the host's RSS and open fds once a minute; exits non-zero
// if a call fails or RSS after warm-up grows by more than the allowed slack.
// Not part of the test command: run it by hand (tests/soak/run MINUTES).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHost, writeTree, E2E_TOKEN } from '../e2e/lib/host.mjs'

const minutes = Number(process.argv[2] || 10)
const slackMiB = Number(process.env.SOAK_RSS_SLACK_MIB || 8)
const plugin = (n) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'soak', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'soak:version', handler = function() return ${n} end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'soak:echo', type = 'action', handler = function(x) return x end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'soak:cached', cache = { ttl = 0.5 }, handler = function(x) return { x = x, v = ${n} } end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'soak:shout', type = 'action', handler = function(s) return ctx.rpc.broadcast('soak:heard', s) end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'soak:nap', handler = function() moonhost.sleep(0.01) return 'up' end })
end }
`
const dir = writeTree({ 'soak.lua': plugin(0) })
const host = await startHost({ plugins: dir, logLevel: 'info' })
const pid = host.child.pid
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const fds = () => readdirSync(`/proc/${pid}/fd`).length

let calls = 0, failures = 0, reloads = 0, connects = 0, heard = 0
const deadline = Date.now() + minutes * 60000
const alive = () => Date.now() < deadline

async function worker(i) {
  while (alive()) {
    const c = await host.connect({ 'soak:heard': () => { heard++ } })
    connects++
    for (let k = 0; k < 200 && alive(); k++) {
      const name = ['soak:version', 'soak:echo', 'soak:cached', 'soak:shout', 'soak:nap'][k % 5]
      try {
        await c.rpc[name](`w${i}-${k % 7}`)
        calls++
      } catch (e) {
        // a call racing a reload may meet the old or the new version, never an error
        failures++
        console.error('call failed:', name, e)
      }
    }
    c.ws.terminate()
  }
}

async function reloader() {
  let n = 0
  while (alive()) {
    writeFileSync(join(dir, 'soak.lua'), plugin(++n))
    await host.waitForLog(new RegExp(`soak: loaded \\(generation ${n + 1}\\)`), 10000).catch(() => {})
    reloads++
    await new Promise((r) => setTimeout(r, 2000)) // pacing the churn, not synchronising anything
  }
}

const samples = []
const sampler = setInterval(() => {
  const s = { minute: samples.length + 1, rssMiB: rss().toFixed(1), fds: fds(), calls, failures, reloads, connects, heard }
  samples.push(s)
  console.log(JSON.stringify(s))
}, 60000)

await Promise.all([...Array.from({ length: 6 }, (_, i) => worker(i)), reloader()])
clearInterval(sampler)
const final = { rssMiB: rss().toFixed(1), fds: fds(), calls, failures, reloads, connects, heard }
console.log('final', JSON.stringify(final))
await host.stop()
const warm = samples.length > 2 ? Number(samples[1].rssMiB) : Number(final.rssMiB)
const grew = Number(final.rssMiB) - warm
console.log(`RSS after warm-up (minute 2): ${warm.toFixed(1)} MiB, at the end: ${final.rssMiB} MiB (${grew >= 0 ? '+' : ''}${grew.toFixed(1)})`)
process.exit(failures === 0 && grew <= slackMiB ? 0 : 1)
