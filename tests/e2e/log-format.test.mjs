// log.format = 'json' (README "Operating moonhost"): one JSON object per
// stderr line with ts, level, area, plugin, msg and the event's fields; the
// text format stays as it was.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startHost, writeTree, E2E_TOKEN } from './lib/host.mjs'
import { rawClient } from './lib/util.mjs'

const files = {
  'plugins/broken.lua': `return require('moonhost').plugin { name = 'broken', setup = function(ctx) error('no "good" setup\\nsecond line') end }`,
  'plugins/chatty.lua': `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'chatty',
  setup = function(ctx)
    ctx.log.info('quotes " and \\\\ backslash,\\ttab,\\nnew line, é, \\1 control')
    ctx.rpc.register(moonhost.define_rpc_function { name = 'chatty:fail', type = 'action',
      handler = function() error('failing on purpose') end })
  end,
}`,
  'conf.d/00-test.lua': `return { auth = { tokens = { '${E2E_TOKEN}' }, generate_token = false } }`,
}

async function hostWith(t, format, args = []) {
  const dir = writeTree(files)
  const host = await startHost({ plugins: join(dir, 'plugins'), config: join(dir, 'conf.d'), args: [...args, ...format] })
  t.after(() => host.stop())
  host.stderr = ''
  host.child.stderr.on('data', (d) => (host.stderr += d))
  return host
}

function jsonLines(text) {
  const lines = text.split('\n')
  assert.equal(lines.pop(), '', 'every line ends with a line feed')
  return lines.map((line) => {
    try {
      return JSON.parse(line)
    } catch (e) {
      throw new Error(`not JSON: ${line}: ${e.message}`)
    }
  })
}

test("log.format = 'json': every line is one JSON object; plugin lines name the plugin", async (t) => {
  const host = await hostWith(t, ['--log-format', 'json'])
  await host.waitForLog(/chatty.*loaded \(generation 1\)/)
  await host.waitForLog(/broken.*load failed/)
  const conn = await host.connect()
  await assert.rejects(conn.rpc.$call('chatty:fail'), (e) => /failing on purpose/.test(e.message))
  await host.waitForLog(/chatty:fail: internal: .*failing on purpose/)
  conn.close()

  const lines = jsonLines(host.log) // stdout is empty: the log goes to stderr
  for (const l of lines) {
    assert.match(l.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.ok(['error', 'warn', 'info', 'debug', 'trace'].includes(l.level), l.level)
    assert.equal(typeof l.area, 'string')
    assert.equal(typeof l.msg, 'string')
  }
  const failed = lines.find((l) => /load failed/.test(l.msg))
  assert.equal(failed.level, 'error')
  assert.equal(failed.area, 'plugin')
  assert.equal(failed.plugin, 'broken')
  assert.equal(failed.code, 'internal')
  assert.match(failed.msg, /^load failed \(internal\): .*no "good" setup\nsecond line/)

  const loaded = lines.find((l) => l.plugin === 'chatty' && /^loaded/.test(l.msg))
  assert.equal(loaded.generation, '1')
  const said = lines.find((l) => l.plugin === 'chatty' && l.level === 'info' && l.area === 'chatty')
  assert.equal(said.msg, 'quotes " and \\ backslash,\ttab,\nnew line, é, \u0001 control')
  const handler = lines.find((l) => l.function === 'chatty:fail')
  assert.equal(handler.plugin, 'chatty')
  assert.equal(handler.code, 'internal')
  assert.match(handler.msg, /failing on purpose\nstack traceback:/, 'a traceback stays inside its one line')
  assert.ok(lines.some((l) => l.area === 'host' && /^listening on /.test(l.msg) && !('plugin' in l)))
})

test("log.format = 'text' (the default) is unchanged", async (t) => {
  const host = await hostWith(t, [])
  await host.waitForLog(/\[plugin\] broken: load failed \(internal\): .*no "good" setup\n {4}\| second line/)
  await host.waitForLog(/ info {2}\[chatty\] quotes " and \\ backslash,\ttab,\n {4}\| new line/)
  await host.waitForLog(/ info {2}\[plugin\] chatty: loaded \(generation 1\)\n/)
  assert.doesNotMatch(host.log, /^\{/m)
})

test('text format: control characters a client sends (escape sequences, BEL, C1 controls) reach the log as "?", line breaks as continuation lines', async (t) => {
  const host = await hostWith(t, [])
  const raw = await rawClient(host, '/__ws?no-token')
  // Clear the screen, set the title, write the clipboard (OSC 52), ring the bell, a C1 CSI.
  const name = 'x:y\u001b[2J\u001b]0;title\u0007\u001b]52;c;cHduZWQ=\u0007\u009b31m\rFORGED\nsecond'
  raw.send({ t: 'q', i: 'a', m: name, a: [] })
  assert.equal((await raw.next()).e.code, 'unauthorized')
  const [line] = await host.waitForLog(/untrusted call to x:y[^\n]*\n {4}\| second refused/)
  assert.match(line, /x:y\?\[2J\?\]0;title\?\?\]52;c;cHduZWQ=\?\?31mFORGED\n/)
  assert.doesNotMatch(host.log, /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]/, 'a control character reached the log')
})
