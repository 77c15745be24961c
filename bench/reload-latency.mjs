// Save-to-serving latency of hot reload: write a plugin file, time until a
// connected client is told moonhost:functions-changed for the new generation
// and a call returns the new answer. Prints median / p90 / max over N saves.
//   node bench/reload-latency.mjs [N=100]   (uses build/moonhost, or MOONHOST_BIN)
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHost, writeTree } from '../tests/e2e/lib/host.mjs'

const n = Number(process.argv[2] || 100)
const source = (v) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'ver', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'ver:get', handler = function() return ${v} end })
end }
`
const dir = writeTree({ 'ver.lua': source(0) })
const host = await startHost({ plugins: dir, logLevel: 'info' })
let waiting = null
const client = await host.connect({
  'moonhost:functions-changed': (info) => waiting && info.plugin === 'ver' && waiting(info.generation),
})
const times = []
for (let v = 1; v <= n; v++) {
  const changed = new Promise((resolve) => (waiting = (gen) => gen === v + 1 && resolve()))
  const t0 = performance.now()
  writeFileSync(join(dir, 'ver.lua'), source(v))
  await changed
  const answer = await client.rpc['ver:get']()
  times.push(performance.now() - t0)
  if (answer !== v) throw new Error(`expected ${v}, got ${answer}`)
}
await host.stop()
times.sort((a, b) => a - b)
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1)
console.log(`save-to-serving over ${n} saves: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${times.at(-1).toFixed(1)} ms ` +
  '(the watcher debounces 20 ms of quiet before reloading)')
