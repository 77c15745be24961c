-- vite_graph against an in-process client that plays the Vite peer (the
-- e2e test tests/e2e/vite-bridge.test.mjs runs it with a real Vite).
local testing = require 'moonhost.testing'

local ANNOUNCE = 'devtoolskit:internal:peer:announce'

--- A client announced as role 'vite' whose vite:module-graph answers a graph of n modules.
local function fake_vite(n)
  local vite = testing.connect_client { trusted = true }
  vite:register('vite:module-graph', function(opts)
    local modules = {}
    for i = 1, math.min(n, opts.limit or n) do modules[i] = { id = '/src/m' .. i .. '.js' } end
    return { size = n, modules = modules }
  end)
  vite:call(ANNOUNCE, { role = 'vite' })
  return vite
end

describe('vite_graph', function()
  before_each(function() testing.load_plugin('../vite_graph.lua') end)
  after_each(testing.reset)

  it('asks the vite peer for the size of its module graph', function()
    fake_vite(7)
    assert.are.equal(7, testing.call('vite_graph:size'))
    assert.are.equal(2, #testing.call('vite_graph:modules', 2).modules)
  end)

  it('answers not_found while no vite peer is there', function()
    assert.are.equal('not_found', testing.error_of(testing.call, 'vite_graph:size').code)
  end)

  it('subscribes by registering vite_graph:on-vite-event, and broadcasts each HMR update', function()
    local vite = fake_vite(3)
    local page = testing.connect_client()
    vite:event('vite_graph:on-vite-event',
      { event = 'vite:hmr-update', data = { type = 'update', updates = { { path = '/src/a.js' } } } })
    local hmr = page:wait_for('vite_graph:hmr')
    assert.are.same({ type = 'update', paths = { '/src/a.js' }, size = 3 }, hmr)
  end)

  it('passes on restarts and errors', function()
    local vite = fake_vite(1)
    local page = testing.connect_client()
    vite:event('vite_graph:on-vite-event', { event = 'vite:server-restart', data = { restarts = 2 } })
    assert.are.same({ restarts = 2 }, (page:wait_for('vite_graph:restart')))
    vite:event('vite_graph:on-vite-event', { event = 'vite:error', data = { message = 'boom' } })
    assert.are.equal('boom', (page:wait_for('vite_graph:error')).message)
  end)

  it('ctx.vite.on: a handler that raises does not keep the next one from running; an unknown event is refused', function()
    local file = testing.tmpdir() .. '/vite_two.lua'
    local f = assert(io.open(file, 'w'))
    f:write([[
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'vite_two',
  setup = function(ctx)
    ctx.vite.on('vite:file-change', function() error('first handler fails') end)
    ctx.vite.on('vite:file-change', function(ev) ctx.rpc.broadcast('vite_two:heard', ev.file) end)
    local ok, err = pcall(ctx.vite.on, 'vite:nope', print)
    ctx.rpc.register { name = 'vite_two:refusal', type = 'static', handler = function() return tostring(err) end }
  end,
}
]])
    f:close()
    testing.load_plugin(file)
    local vite, page = fake_vite(0), testing.connect_client()
    vite:event('vite_two:on-vite-event', { event = 'vite:file-change', data = { kind = 'change', file = '/p/a.js' } })
    assert.are.equal('/p/a.js', page:wait_for('vite_two:heard'))
    assert.matches('unknown event "vite:nope"', testing.call('vite_two:refusal'), 1, true)
  end)
end)
