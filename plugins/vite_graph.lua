-- The Vite dev server's module graph for a panel, and a broadcast on every
-- HMR update, through vite-plugin-moonhost (docs/vite.md): Vite is the mesh
-- peer role 'vite', ctx.vite calls it and hears its events.
local moonhost = require 'moonhost'

return moonhost.plugin {
  name = 'vite_graph',
  setup = function(ctx)
    ctx.rpc.register {
      name = 'vite_graph:size', -- how many modules Vite's client graph holds
      type = 'action', -- asked of Vite every time: the graph changes under us
      handler = function() return ctx.vite.module_graph({ limit = 0 }).size end,
    }

    ctx.rpc.register {
      name = 'vite_graph:modules', -- the first `limit` modules (default 100), for a table in a panel
      type = 'action',
      handler = function(limit) return ctx.vite.module_graph({ limit = limit or 100 }) end,
    }

    -- Every HMR update Vite sends to pages, passed on to moonhost's clients
    -- with the graph's size after it.
    ctx.vite.on('vite:hmr-update', function(update)
      local paths = {}
      for _, u in ipairs(update.updates) do paths[#paths + 1] = u.path end
      if update.type == 'full-reload' then paths[#paths + 1] = update.path end
      ctx.log.info('vite %s: %s', update.type, table.concat(paths, ' '))
      ctx.rpc.broadcast('vite_graph:hmr', { type = update.type, paths = paths, size = ctx.vite.module_graph({ limit = 0 }).size })
    end)

    ctx.vite.on('vite:error', function(err)
      ctx.log.warn('vite error: %s', tostring(err.message))
      ctx.rpc.broadcast('vite_graph:error', err)
    end)

    ctx.vite.on('vite:server-restart', function(info)
      ctx.log.info('vite restarted (%d in this process)', info.restarts)
      ctx.rpc.broadcast('vite_graph:restart', info)
    end)
  end,
}
