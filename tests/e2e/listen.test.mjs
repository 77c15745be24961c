// Where moonhost listens: --listen 127.0.0.1:PORT must mean that address
// only (libwebsockets 4.1 would otherwise open [::]:PORT, every interface),
// and "listening" must mean it.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { hostFor, fixedPort, fixtures, tempTree } from './lib/util.mjs'
import { moonhostBin } from './lib/host.mjs'

/** Local addresses listening on port (hex as in /proc/net/tcp*). */
function listeners(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const out = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length > 3 && f[3] === '0A' && f[1].endsWith(`:${hexPort}`)) out.push(`${file.endsWith('6') ? 'tcp6' : 'tcp'} ${f[1]}`)
    }
  }
  return out
}

test('--listen 127.0.0.1:0 listens on 127.0.0.1 only, not on every interface', async (t) => {
  const host = await hostFor(t, {})
  assert.deepEqual(listeners(host.port), [`tcp 0100007F:${host.port.toString(16).toUpperCase().padStart(4, '0')}`])
})

// ---------------------------------------------------------------------------
// A listen address moonhost cannot use (issue 13, item 16): "listening" is
// logged only once the port is bound, host names are resolved first, and a
// failure says why in words and exits (2: the name does not resolve; 1: the
// address cannot be listened on).

/**
 * Runs `moonhost run --listen ADDR` expecting it not to start: resolves with
 * {code, log} when it exits, or as soon as it logs "listening" (it is then
 * killed, and the test's assertions on the log fail).
 */
function failedStart(t, listen) {
  const plugins = tempTree(t, {})
  const child = spawn(moonhostBin, ['run', '--listen', listen, '--plugins', plugins, '--config', join(fixtures, 'conf.d')])
  let log = ''
  return new Promise((resolve) => {
    const onData = (d) => {
      log += d
      if (/listening on/.test(log)) child.kill('SIGKILL')
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code, signal) => resolve({ code, signal, log }))
  })
}

/** A TCP server on 127.0.0.1:port from this process, closed when t ends. */
async function occupy(t, port) {
  const srv = createServer()
  await new Promise((res, rej) => srv.once('error', rej).listen(port, '127.0.0.1', res))
  t.after(() => new Promise((res) => srv.close(res)))
  return srv.address().port
}

for (const which of ['localhost:0', 'localhost:PORT']) {
  test(`--listen ${which} resolves the name, really listens on 127.0.0.1 and says so`, async (t) => {
    const listen = which === 'localhost:PORT' ? `localhost:${await fixedPort()}` : which
    const host = await hostFor(t, { args: ['--listen', listen] })
    if (which === 'localhost:PORT') assert.equal(host.port, Number(listen.split(':')[1]))
    assert.notEqual(host.port, 0)
    assert.match(host.log, /\[server\] localhost resolves to 127\.0\.0\.1: listening there only/)
    assert.match(host.log, new RegExp(`listening on ws://127\\.0\\.0\\.1:${host.port}/__ws`))
    assert.doesNotMatch(host.log, /DOESN'T EXIST/)
    assert.deepEqual(listeners(host.port), [`tcp 0100007F:${host.port.toString(16).toUpperCase().padStart(4, '0')}`])
    const c = await host.connect()
    assert.equal(await c.rpc['sem:add'](2, 3), 5, 'a client connects and calls')
  })
}

for (const addr of ['127.0.0.1', 'localhost']) {
  test(`--listen ${addr}:PORT with PORT in use: "address already in use", exit 1, never "listening"`, async (t) => {
    const port = await occupy(t, await fixedPort())
    const { code, log } = await failedStart(t, `${addr}:${port}`)
    assert.equal(code, 1, log)
    assert.match(log, new RegExp(`error \\[server\\] cannot listen on 127\\.0\\.0\\.1 port ${port}: address already in use`))
    assert.doesNotMatch(log, /listening on|connect with/)
  })
}

test('--listen with a host name that does not resolve: exit 2 with the reason, never "listening"', { timeout: 60000 }, async (t) => {
  const { code, log } = await failedStart(t, 'moonhost-e2e-no-such-host.invalid:0')
  assert.equal(code, 2, log)
  assert.match(log, /cannot listen on moonhost-e2e-no-such-host\.invalid: the host name does not resolve/)
  assert.doesNotMatch(log, /listening on|connect with/)
})

test('--listen with an address this machine does not have: exit 1 with the reason, never "listening"', async (t) => {
  const { code, log } = await failedStart(t, '192.0.2.1:0') // TEST-NET-1, assigned to no one
  assert.equal(code, 1, log)
  assert.match(log, /cannot listen on 192\.0\.2\.1 port 0: address not available/)
  assert.doesNotMatch(log, /listening on|connect with/)
})
