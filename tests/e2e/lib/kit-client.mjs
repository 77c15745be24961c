// The real devframe client as the Vite DevTools Kit builds it, trusted, for
// tests that talk to a moonhost page at /__devtools/ (the page globals come
// from devtools-env.mjs, imported first).
import './devtools-env.mjs'
import { getDevToolsRpcClient } from '@vitejs/devtools-kit/client'
import { E2E_TOKEN } from './host.mjs'

/** A real devframe client (the Vite DevTools Kit's), trusted; closed after test t. */
export async function kitClient(t) {
  const rpc = await getDevToolsRpcClient({ baseURL: '/__devtools/', authToken: E2E_TOKEN })
  t.after(() => rpc.close())
  if (!rpc.isTrusted) await new Promise((resolve) => rpc.events.on('rpc:is-trusted:updated', resolve))
  return rpc
}
