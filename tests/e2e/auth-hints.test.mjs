// Token troubles say what went wrong (issue 15 item 6): a token that was
// presented and refused is logged as such (never its value) and the refusal
// says "the token is not valid" rather than "no token", over WebSocket (URL
// and handshake) and HTTP; the start-up log says how to connect, and warns
// when no token can ever be trusted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hostFor, rejectionOf, tempTree } from './lib/util.mjs'
import { E2E_TOKEN } from './lib/host.mjs'

const WRONG = 'wrong-secret-4f1c9a'

test('WebSocket: a refused token and no token get different messages; the token never reaches the log', async (t) => {
  const host = await hostFor(t)
  const wrong = await host.connect({}, {}, { token: WRONG })
  await host.waitForLog(/\[auth\] c\d+: token presented and refused/)
  let err = await rejectionOf(wrong.rpc['http:echo'](1))
  assert.equal(err.message, 'RPC call to "http:echo" was rejected: the caller is not authorized (the token is not valid).')
  const none = await host.connect({}, {}, { token: null })
  err = await rejectionOf(none.rpc['http:echo'](1))
  assert.equal(err.message, 'RPC call to "http:echo" was rejected: the caller is not authorized (no token).')
  // The Vite DevTools handshake with a wrong token is refused the same way.
  assert.deepEqual(await none.rpc['anonymous:devframe:auth']({ authToken: `${WRONG}-2` }), { isTrusted: false })
  await host.waitForLogCount(/token presented and refused/, 2)
  err = await rejectionOf(none.rpc['http:echo'](1))
  assert.match(err.message, /\(the token is not valid\)\.$/)
  // The right token in the handshake trusts it after all.
  assert.deepEqual(await none.rpc['anonymous:devframe:auth']({ authToken: E2E_TOKEN }), { isTrusted: true })
  assert.equal(await none.rpc['http:echo'](1), 1)
  await host.waitForLog(/untrusted call to http:echo refused: no token/)
  assert.ok(!host.log.includes(WRONG), 'the refused token is not logged')
  wrong.close()
  none.close()
})

test('HTTP: Bearer with a refused token says the token is not valid; without one, how to send it', async (t) => {
  const host = await hostFor(t)
  const call = async (headers) => {
    const res = await fetch(`http://127.0.0.1:${host.port}/rpc/http/echo`, { method: 'POST', headers, body: '{"json":1}' })
    return { status: res.status, body: await res.json() }
  }
  let res = await call({ authorization: `Bearer ${WRONG}` })
  assert.equal(res.status, 401)
  assert.equal(res.body.json.message, 'RPC call to "http:echo" was rejected: the token is not valid')
  await host.waitForLog(/HTTP call to http:echo refused: token presented and refused/)
  res = await call({ cookie: `moonhost_token=${WRONG}` })
  assert.equal(res.body.json.message, 'RPC call to "http:echo" was rejected: the token is not valid')
  res = await call({})
  assert.equal(res.body.json.message, 'RPC call to "http:echo" was rejected: no token (send Authorization: Bearer TOKEN)')
  await host.waitForLog(/HTTP call to http:echo refused: no token/)
  res = await call({ authorization: `Bearer ${E2E_TOKEN}` })
  assert.deepEqual(res, { status: 200, body: { json: 1 } })
  const reload = await fetch(`http://127.0.0.1:${host.port}/__moonhost/reload`, {
    method: 'POST', headers: { authorization: `Bearer ${WRONG}` },
  })
  assert.equal(reload.status, 401)
  assert.deepEqual(await reload.json(), { ok: false, error: 'unauthorized: the token is not valid' })
  assert.ok(!host.log.includes(WRONG), 'the refused token is not logged')
})

/** The start-up log of a host run with only this auth configuration. */
async function startLog(t, auth) {
  const config = tempTree(t, { '00-auth.lua': `return { auth = ${auth} }` })
  const host = await hostFor(t, { config })
  await host.waitForLog(/\[host\] (connect with|no token can ever)/)
  return host.log
}

test('start-up: how to connect follows where tokens come from; no possible token is a warning', async (t) => {
  let log = await startLog(t, '{ tokens = {}, generate_token = false }')
  assert.match(log, /warn +\[host\] no token can ever be trusted: auth.tokens is empty and auth.generate_token is false/)
  assert.doesNotMatch(log, /connect with/)

  log = await startLog(t, "{ tokens = { 'a', { token = 'b', roles = { 'admin' } } }, generate_token = false }")
  assert.match(log, /connect with ws:\/\/127\.0\.0\.1:\d+\/__ws\?token=TOKEN, TOKEN one of the 2 in auth.tokens\n/)
  assert.doesNotMatch(log, /token made at start|no token can ever/)

  log = await startLog(t, "{ tokens = { 'a' } }")
  assert.match(log, /TOKEN one of the 1 in auth.tokens or [0-9a-f]{32} \(this start's;/)
  assert.doesNotMatch(log, /token made at start/)

  log = await startLog(t, '{ tokens = {} }')
  assert.match(log, /\?token=[0-9a-f]{32} \(token made at start; set auth.tokens to keep one\)/)
})
