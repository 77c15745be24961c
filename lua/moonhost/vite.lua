--- ctx.vite: the Vite dev server, as the mesh peer role 'vite' that
-- vite-plugin-moonhost (npm/vite-plugin-moonhost) announces. docs/vite.md
-- is the guide.
--
--   ctx.vite.module_graph()        -- {size=, modules={{id=, url=, importers=, imported=, size=, ...}}}
--   ctx.vite.on('vite:hmr-update', function(update) ... end)   -- in setup
--
-- Calls go through the host's relay (ctx.mesh.peer('vite'):call). Events
-- come the other way: the first ctx.vite.on registers the event function
-- PLUGIN:on-vite-event, which the Vite side finds in moonhost:functions
-- whenever it connects or the host's functions change, and calls with
-- {event=, data=}. So a reload of this plugin, a restarted Vite and a
-- restarted moonhost all keep the subscriptions, with nothing to redo here.
local M = {}

M.SUBSCRIBER_SUFFIX = ':on-vite-event'
M.EVENTS = { 'vite:hmr-update', 'vite:file-change', 'vite:error', 'vite:server-restart' }

local known = {}
for _, name in ipairs(M.EVENTS) do known[name] = true end

function M.new(ctx)
  local vite = {}
  local peer = ctx.mesh.peer('vite')
  local handlers -- event name -> list of functions; nil until the first on()

  --- Any function the Vite peer provides: ctx.vite.call('vite:config').
  function vite.call(name, ...) return peer:call(name, ...) end
  --- The resolved config, the part JSON can carry.
  function vite.config() return peer:call('vite:config') end
  --- The client module graph; opts = {limit = n} keeps the first n modules (size counts all).
  function vite.module_graph(opts) return peer:call('vite:module-graph', opts) end
  --- The transform result of a module (URL or id): {url, id, code, size, deps, dynamicDeps, hasMap}.
  function vite.transform(ref) return peer:call('vite:transform', ref) end
  --- Invalidates one module (id, URL or file) or, without ref, the whole graph: {invalidated = n}.
  function vite.invalidate(ref) return peer:call('vite:invalidate', ref) end

  --- Whether a Vite peer is in the mesh directory now.
  function vite.connected()
    for _, p in ipairs(ctx.mesh.peers()) do
      if p.role == 'vite' then return true end
    end
    return false
  end

  local function dispatch(ev)
    local list = type(ev) == 'table' and handlers[ev.event]
    if not list then return end
    for _, fn in ipairs(list) do
      local ok, err = pcall(fn, ev.data)
      if not ok then ctx.log.error('ctx.vite.on(%q) handler failed: %s', ev.event, tostring(err)) end
    end
  end

  --- ctx.vite.on(event, fn): fn(data) for each event the dev server sends
  -- (vite:hmr-update, vite:file-change, vite:error, vite:server-restart).
  -- Call it from setup: it registers this plugin's event function.
  function vite.on(event, fn)
    if not known[event] then
      error(string.format("ctx.vite.on: unknown event %q (one of %s)", tostring(event), table.concat(M.EVENTS, ', ')), 2)
    end
    if type(fn) ~= 'function' then error('ctx.vite.on: expected a function', 2) end
    if not handlers then
      handlers = {}
      ctx.rpc.register { name = ctx.name .. M.SUBSCRIBER_SUFFIX, type = 'event', handler = dispatch }
    end
    handlers[event] = handlers[event] or {}
    table.insert(handlers[event], fn)
  end

  return vite
end

return M
