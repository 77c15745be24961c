-- A file explorer over the project (ctx.root): files:list(dir) lists one
-- directory, directories first. Listings are cached; a file watch drops
-- them when anything under the root changes, and tells clients which file
-- did (files:changed). The watch starts with the first listing: watching a
-- whole project is not free, so a plugin nobody uses should not pay for it.
local moonhost = require 'moonhost'
local has_lfs, lfs = pcall(require, 'lfs') -- LuaFileSystem (Debian: lua-filesystem, which busted needs too)

return moonhost.plugin {
  name = 'files',
  types = { Entry = { name = 'string', type = '"file"|"dir"', size = 'integer' } },
  client_functions = {
    ['files:changed'] = { args = { 'string', '"add"|"change"|"unlink"' }, params = { 'path', 'kind' } },
  },
  setup = function(ctx)
    if not has_lfs then error('the files plugin needs LuaFileSystem (apt-get install lua-filesystem)') end
    local watching = false

    local function watch()
      if watching then return end
      watching = true
      ctx.watch('**', function(ev)
        ctx.rpc.invalidate('files:list') -- every listing: a new file may mean a new directory above it
        ctx.rpc.broadcast('files:changed', ev.path, ev.kind)
      end)
    end

    -- A path relative to the root that stays inside it.
    local function inside(dir)
      if dir:sub(1, 1) == '/' or ('/' .. dir .. '/'):find('/%.%./') then
        moonhost.error { code = 'bad_request', message = "'" .. dir .. "' is not a directory under the project root" }
      end
      return dir == '' and ctx.root or (ctx.root .. '/' .. dir)
    end

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'files:list',
      type = 'query',
      cache = { max = 500 },
      args = { 'string?' },
      returns = 'Entry[]',
      handler = function(dir)
        local base = inside(dir or '')
        watch()
        if lfs.attributes(base, 'mode') ~= 'directory' then
          moonhost.error { code = 'not_found', message = "no directory '" .. (dir or '') .. "'" }
        end
        local entries = {}
        for name in lfs.dir(base) do
          local attr = name ~= '.' and name ~= '..' and lfs.attributes(base .. '/' .. name)
          if attr then
            entries[#entries + 1] = { name = name, type = attr.mode == 'directory' and 'dir' or 'file', size = attr.size }
          end
        end
        table.sort(entries, function(a, b)
          if a.type ~= b.type then return a.type == 'dir' end
          return a.name < b.name
        end)
        return moonhost.array(entries)
      end,
    })
  end,
}
