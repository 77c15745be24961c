// The inspector page (README "Inspector"). It talks to the host over the
// host's own WebSocket with the embedded moonhost client, using the trusted
// functions moonhost:inspect:* (host/app/inspect.h). Whatever the host sends
// (plugin errors, arguments, results, log lines) goes into the page as
// text: this file never assigns markup.
import { connect } from './client.js'

const TOKEN_KEY = 'moonhost-inspector-token'
const REFRESH_MS = 2000 // numbers (calls, clients, queues) while the tab is visible
const LOG_LINES_MAX = 500 // lines kept in the page
const CALL_TIMEOUT_MS = 30000

const $ = (id) => document.getElementById(id)

/** An element with children (nodes or strings, which become text) and properties. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v
    else if (k === 'data') Object.assign(node.dataset, v)
    else if (k === 'ariaLabel') node.setAttribute('aria-label', v)
    else node[k] = v
  }
  for (const c of children) if (c != null) node.append(c instanceof Node ? c : String(c))
  return node
}

/** The token: from ?token= once (then kept in this tab's sessionStorage and
 *  taken out of the address bar, so it is not bookmarked or shared), else
 *  the one kept. */
function takeToken() {
  const url = new URL(location.href)
  const fromUrl = url.searchParams.get('token')
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl)
    url.searchParams.delete('token')
    history.replaceState(null, '', url.pathname + url.search + url.hash)
    return fromUrl
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? ''
}

function setStatus(text, bad = false) {
  $('status').textContent = text
  $('status').className = bad ? 'bad' : ''
}

function setConn(text, cls) {
  $('conn').textContent = text
  $('conn').className = cls
}

const ms = (v) => (v == null ? '—' : v < 1 ? `≤ ${v.toFixed(2)} ms` : `≤ ${v} ms`)
const bytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`)

/** Replaces a table body's rows; cells: [[label, content, className?], ...] per row. */
function fillTable(table, rows, emptyText) {
  const body = table.tBodies[0]
  const cols = table.tHead.rows[0].cells.length
  body.replaceChildren()
  if (!rows.length) body.append(el('tr', {}, el('td', { class: 'empty', colSpan: cols }, emptyText)))
  for (const cells of rows) {
    body.append(el('tr', {}, ...cells.map(([label, content, cls]) =>
      el('td', { data: label ? { label } : {}, class: cls ?? '' }, content))))
  }
}

/** "FILE.lua:LINE: message" -> where (FILE.lua:LINE) and the text, both as text nodes. */
function errorCell(message) {
  if (!message) return el('span', { class: 'empty' }, 'none')
  const m = /([^\s:'"()]+\.lua):(\d+):/.exec(message)
  return el('span', { class: 'err' },
    m ? el('code', { class: 'where', title: 'file:line' }, `${m[1]}:${m[2]}`) : null,
    message)
}

// ---- rendering, each part only when its data changed ----

const shown = {}
function changed(part, data) {
  const json = JSON.stringify(data)
  if (shown[part] === json) return false
  shown[part] = json
  return true
}

function renderPlugins(plugins) {
  if (!changed('plugins', plugins)) return
  const focused = document.activeElement?.dataset?.reload
  fillTable($('plugins'), plugins.map((p) => [
    ['Plugin', p.name],
    ['Generation', p.serving ? String(p.generation) : 'not serving', 'num'],
    ['File', el('code', {}, p.file)],
    ['Last error', errorCell(p.error)],
    ['Memory', p.memory ? bytes(p.memory) : '—', 'num'],
    [null, el('button', { type: 'button', data: { reload: p.name }, ariaLabel: `Reload ${p.name}` }, 'Reload')],
  ]), 'no plugins')
  if (focused) document.querySelector(`button[data-reload="${CSS.escape(focused)}"]`)?.focus()
}

function renderFunctions(functions) {
  if (!changed('functions', functions)) return
  fillTable($('functions'), functions.map((f) => [
    ['Function', el('code', {}, f.name)],
    ['Type', f.stream ? `${f.type} (stream)` : f.type],
    ['Cache', f.cached ? 'cached' : '—'],
    ['Plugin', f.plugin ?? 'host'],
    ['Calls', String(f.calls), 'num'],
    ['Errors', String(f.errors), 'num'],
    ['Hits / misses', f.cached ? `${f.cache_hits} / ${f.cache_misses}` : '—', 'num'],
    ['p50', ms(f.p50_ms), 'num'],
    ['p99', ms(f.p99_ms), 'num'],
  ]), 'no functions')
  // The console lists what a WebSocket can call: not events, not streams (read those over HTTP).
  const select = $('fn')
  const keep = select.value
  const names = functions.filter((f) => f.type !== 'event' && !f.stream).map((f) => f.name)
  if (!changed('fn-names', names)) return
  select.replaceChildren(...names.map((n) => el('option', { value: n }, n)))
  if (names.includes(keep)) select.value = keep
}

function renderClients(clients) {
  if (!changed('clients', clients)) return
  fillTable($('clients'), clients.map((c) => [
    ['Client', c.you ? `${c.id} (this page)` : c.id],
    ['Codec', c.codec ?? '—'],
    ['Trusted', c.trusted ? 'yes' : 'no'],
    ['In flight', String(c.inflight), 'num'],
    ['Queue bytes', String(c.queue_bytes), 'num'],
    ['Peer', c.link ? 'host link' : c.peer ?? '—'],
  ]), 'no clients')
}

function renderList(list, items, emptyText) {
  list.replaceChildren(...(items.length ? items : [el('li', { class: 'empty' }, emptyText)]))
}

function renderRest({ peers, state, runs }) {
  if (changed('peers', peers)) {
    renderList($('peers'), peers.map((p) => el('li', {}, el('code', {}, p.id), ` ${p.role ?? ''}`,
      p.host ? ` on ${p.host}` : '')), 'no peers announced')
  }
  if (changed('state', state)) {
    $('state-section').hidden = state.length === 0
    renderList($('state'), state.map((k) => el('li', {}, el('code', {}, k))), 'none')
  }
  if (changed('runs', runs)) {
    $('runs-section').hidden = runs.length === 0
    fillTable($('runs'), runs.map((r) => [
      ['Function', el('code', {}, r.function)],
      ['Kind', r.stream ? (r.paused ? 'stream (waiting for its reader)' : 'stream') : r.type],
      ['Callers', String(r.callers), 'num'],
      ['Running', `${r.ms} ms`, 'num'],
    ]), 'none')
  }
}

function render(o) {
  $('host-info').textContent = `moonhost ${o.host.version} · ${o.host.id ?? ''} · ${o.host.clients} clients · ${o.host.inflight_calls} calls in flight`
  renderPlugins(o.plugins)
  renderFunctions(o.functions)
  renderClients(o.clients)
  renderRest(o)
}

// ---- the log tail ----

function addLogLines({ lines, skipped }) {
  const log = $('log')
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4
  if (skipped) log.append(el('li', { class: 'empty' }, `(${skipped} lines dropped before they could be shown)`))
  for (const l of lines) {
    const ts = new Date(l.ts).toISOString().slice(11, 23)
    log.append(el('li', { data: { seq: String(l.seq) } },
      el('span', { class: 'ts' }, ts), ' ',
      el('span', { class: `lvl lvl-${l.level}` }, l.level), ' ',
      el('span', { class: 'area' }, `[${l.area}]`), ' ',
      el('span', { class: 'msg' }, l.msg)))
  }
  while (log.childElementCount > LOG_LINES_MAX) log.firstElementChild.remove()
  if (atEnd) log.scrollTop = log.scrollHeight
}

// ---- the connection ----

let rpc = null
let refreshing = null
let timer = null
let refused = false // the host said unauthorized: no more calls until a token is given

function explain(err) {
  if (err?.code === 'unauthorized') {
    refused = true
    $('token-form').hidden = false
    return `The host refused the inspector's calls: ${err.message} Open this page with ?token=TOKEN ` +
      '(the token in the URL moonhost prints at start, or one of auth.tokens), or enter it below.'
  }
  return `${err?.code ?? 'error'}: ${err?.message ?? err}`
}

async function refresh() {
  if (refreshing) return refreshing
  refreshing = (async () => {
    try {
      render(await rpc.call('moonhost:inspect:overview'))
      if ($('status').classList.contains('bad')) setStatus('')
    } catch (err) {
      setStatus(explain(err), true)
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

async function subscribeLog() {
  try {
    $('log').replaceChildren()
    addLogLines(await rpc.call('moonhost:inspect:logs'))
  } catch (err) {
    if (err?.code !== 'unauthorized') setStatus(explain(err), true)
  }
}

function start() {
  rpc?.close()
  refused = false
  const token = takeToken()
  rpc = connect({ url: '/__ws', token, timeoutMs: CALL_TIMEOUT_MS })
  rpc.on('connect', () => {
    setConn('connected', 'open')
    refresh()
    subscribeLog()
  })
  rpc.on('disconnect', ({ code }) => setConn(`disconnected (${code}), reconnecting`, 'down'))
  rpc.on('event', (name, args) => {
    if (name === 'moonhost:inspect:log') addLogLines(args[0])
    else if (name === 'moonhost:functions-changed' || name === 'moonhost:plugin-error') refresh()
  })
  clearInterval(timer)
  timer = setInterval(() => {
    if (document.visibilityState === 'visible' && rpc.status === 'open' && !refused) refresh()
  }, REFRESH_MS)
}

// ---- controls ----

$('plugins').addEventListener('click', async (ev) => {
  const button = ev.target.closest('button[data-reload]')
  if (!button) return
  const name = button.dataset.reload
  button.disabled = true
  setStatus(`reloading ${name}…`)
  try {
    const r = await rpc.call('moonhost:inspect:reload', name)
    setStatus(r.ok ? `${name}: loaded (generation ${r.generation})` : `${name}: the reload failed: ${r.error}`, !r.ok)
  } catch (err) {
    setStatus(explain(err), true)
  } finally {
    button.disabled = false
    refresh()
  }
})

async function callFromConsole() {
  const name = $('fn').value
  const out = $('call-result')
  let args
  try {
    args = JSON.parse($('args').value.trim() || '[]')
    if (!Array.isArray(args)) throw new Error('the arguments must be a JSON array, e.g. [1, "two"]')
  } catch (err) {
    out.className = 'err'
    out.textContent = `bad arguments: ${err.message}`
    $('call-time').textContent = ''
    return
  }
  if (!name) return
  $('call').disabled = true
  const t0 = performance.now()
  try {
    const result = await rpc.call(name, ...args)
    out.className = ''
    out.textContent = result === undefined ? 'undefined' : JSON.stringify(result, null, 2)
  } catch (err) {
    out.className = 'err'
    out.textContent = `${err.code ?? 'error'}: ${err.message}`
  } finally {
    $('call-time').textContent = `${(performance.now() - t0).toFixed(1)} ms`
    $('call').disabled = false
  }
}

$('console').addEventListener('submit', (ev) => {
  ev.preventDefault()
  callFromConsole()
})
// Enter calls from the arguments box (Shift+Enter: a new line) and from the function picker.
$('args').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault()
    $('console').requestSubmit()
  }
})
$('fn').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') {
    ev.preventDefault()
    $('console').requestSubmit()
  }
})

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const token = $('token-input').value.trim()
  $('token-input').value = ''
  if (!token) return
  sessionStorage.setItem(TOKEN_KEY, token)
  $('token-form').hidden = true
  setStatus('')
  Object.keys(shown).forEach((k) => delete shown[k])
  start()
})

start()
