-- The dev server's status, for a panel that shows whether `moonhost run --
-- npx vite` still has its server up, and where: devserver:status().
local moonhost = require 'moonhost'

return moonhost.plugin {
  name = 'devserver',
  types = {
    Status = { running = 'boolean', ['command?'] = 'string', ['pid?'] = 'integer', ['url?'] = 'string' },
  },
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'devserver:status',
      type = 'query', -- not cached: ctx.dev_server is read fresh on every call
      args = {},
      returns = 'Status',
      handler = function()
        local d = ctx.dev_server -- nil unless moonhost runs one (moonhost run -- COMMAND)
        if not d then return { running = false } end
        return { running = d.running, command = d.command, pid = d.pid, url = d.url }
      end,
    })
  end,
}
