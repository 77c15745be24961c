// The plugin the stream tests read (streams.test.mjs over HTTP, streams-ws.test.mjs over the
// WebSocket): counts, typed chunks, a failure, a resumable stream, one that never ends (with a
// cleanup), an idle one, emit's refusals, and a state call that says what ran.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './host.mjs'
import { hostFor, tempTree } from './util.mjs'

export const TICKS = `
local moonhost = require 'moonhost'
local emitted, cleanups = 0, 0

return moonhost.plugin {
  name = 'ticks',
  setup = function(ctx)
    local function fn(def) ctx.rpc.register(moonhost.define_rpc_function(def)) end
    fn { name = 'ticks:count', type = 'action', stream = true, args = { 'integer' },
      handler = function(n)
        return moonhost.stream(function(emit)
          for i = 1, n do emit(i) end
          return { total = n }
        end)
      end }
    fn { name = 'ticks:typed', stream = true,
      handler = function()
        return moonhost.stream(function(emit)
          emit({ at = moonhost.date(1709210096789), big = moonhost.bigint('123456789012345678901234567890') })
          emit(moonhost.bigint('-42'))
          emit(moonhost.date('2024-02-29T12:34:56.789Z'))
        end)
      end }
    fn { name = 'ticks:fail', type = 'action', stream = true,
      handler = function()
        return moonhost.stream(function(emit)
          emit(1)
          emit(2)
          error(moonhost.error { code = 'CONFLICT', message = 'the build broke', data = { step = 3 } })
        end)
      end }
    fn { name = 'ticks:resumable', type = 'action', stream = true,
      handler = function()
        return moonhost.stream(function(emit, last_event_id)
          ctx.log.info('resumable: from %s', tostring(last_event_id))
          for i = (tonumber(last_event_id) or 0) + 1, 10 do
            emit({ n = i }, { id = i, retry = 5 })
            if i == 5 and not last_event_id then error('lost the connection on purpose') end
          end
          return 'all ten'
        end)
      end }
    fn { name = 'ticks:forever', type = 'action', stream = true, args = { 'integer?' },
      handler = function(size)
        return moonhost.stream(function(emit)
          moonhost.on_cancel(function()
            cleanups = cleanups + 1
            ctx.log.info('forever: cleanup ran (%d)', cleanups)
          end)
          local pad = string.rep('x', size or 1)
          while true do
            emitted = emitted + 1
            emit({ n = emitted, pad = pad })
            if not size then moonhost.sleep(0.005) end
          end
        end)
      end }
    fn { name = 'ticks:idle', type = 'action', stream = true,
      handler = function()
        return moonhost.stream(function() moonhost.sleep(0.3) return 'woke' end)
      end }
    fn { name = 'ticks:misuse', type = 'action', stream = true,
      handler = function()
        return moonhost.stream(function(emit)
          local function why(f) local ok, err = pcall(f) return ok and 'ok' or tostring(err) end
          emit(why(function() emit(1, { id = 'a\\nb' }) end))
          emit(why(function() emit(1, { id = 1.5 }) end))
          emit(why(function() emit(1, { retry = -1 }) end))
          emit(why(function() emit(print) end))
          emit(why(function() coroutine.wrap(function() emit(1) end)() end))
          emit(1, { id = 7, retry = 0 })
        end)
      end }
    fn { name = 'ticks:state', type = 'action',
      handler = function() return { emitted = emitted, cleanups = cleanups } end }
  end,
}
`

/** Reads an async iterator to its end with next(): its chunks, and the value it ends with. */
export async function drain(it) {
  const chunks = []
  for (;;) {
    const r = await it.next()
    if (r.done) return { chunks, final: r.value }
    chunks.push(r.value)
  }
}

/** A host with the `build` plugin of docs/plugins.md#streams, as the guide shows it. */
export async function buildHost(t) {
  const text = readFileSync(join(repoRoot, 'docs/plugins.md'), 'utf8')
  const block = [...text.matchAll(/^```lua plugin\n([\s\S]*?)^```$/gm)].map((m) => m[1]).find((c) => /name = 'build'/.test(c))
  const host = await hostFor(t, { plugins: tempTree(t, { 'build.lua': block }) })
  await host.waitForLog(/\[plugin\] build: loaded/)
  return host
}
