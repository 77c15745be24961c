--- The host side of a plugin's life: runs the plugin file and builds its ctx.
-- Called by the engine (bindings/lua_engine.c), not by plugins.
local core = require 'moonhost.core'
local project = require 'moonhost.project'
local moonhost = require 'moonhost'
local options = require 'moonhost.options'

local R = {}

-- A read-only view: ctx.config cannot be changed by a plugin by accident.
local function readonly(t, path)
  if type(t) ~= 'table' then return t end
  local proxy = {}
  return setmetatable(proxy, {
    __index = function(_, k) return readonly(t[k], path .. '.' .. tostring(k)) end,
    __newindex = function(_, k) error(path .. ' is read-only (cannot set ' .. tostring(k) .. ')', 2) end,
    __pairs = function()
      return function(_, k)
        local nk, nv = next(t, k)
        return nk, readonly(nv, path .. '.' .. tostring(nk))
      end, proxy, nil
    end,
    __len = function() return #t end,
  })
end

local function make_log()
  local log = {}
  for _, level in ipairs { 'error', 'warn', 'info', 'debug', 'trace' } do
    log[level] = function(fmt, ...)
      local msg = select('#', ...) > 0 and string.format(fmt, ...) or tostring(fmt)
      core.log(level, msg)
    end
  end
  return log
end

local function resolve_handler(def, ctx)
  if def.handler then return def.handler end
  local got = def.setup(ctx)
  if type(got) == 'function' then return got end
  if type(got) == 'table' and type(got.handler) == 'function' then
    options.check_keys(got, { 'handler' }, "function '" .. def.name .. "': what setup(ctx) returned")
    return got.handler
  end
  options.raise("function '" .. def.name .. "': setup(ctx) must return { handler = function(...) end }")
end

local function raise(err)
  -- errors from the host come as tables {code, message}; keep them catchable as such
  error(err, 3)
end

-- What this plugin registered, for `moonhost types` (R.describe).
local described = { functions = {} }
-- Its static and query functions with their dump options, in the order
-- they were registered, for `moonhost build` (R.dump_plan).
local dumpable = {}

-- The handler's parameter names ("(a: number, b: number)" in the types).
local function param_names(handler, n)
  local names = {}
  for i = 1, n do
    local name = debug.getlocal(handler, i)
    if not name then break end
    names[i] = name
  end
  return names
end

-- Checks the names a schema uses and wraps the handler with the argument
-- check; a function without `args` keeps its handler as it is.
local function typed_handler(def, handler, type_nodes)
  if not def.arg_nodes and not def.returns_node then return handler end
  local schema = require 'moonhost.schema'
  local where = "function '" .. def.name .. "'"
  local ok, err = pcall(function()
    for i, node in ipairs(def.arg_nodes or {}) do schema.check_refs(node, type_nodes, where .. ' args[' .. i .. ']') end
    if def.returns_node then schema.check_refs(def.returns_node, type_nodes, where .. ' returns') end
  end)
  if not ok then options.raise(err) end
  return schema.wrap(handler, def.arg_nodes, type_nodes)
end

local function make_rpc(ctx, type_nodes)
  local rpc = {}

  function rpc.register(def)
    if type(def) ~= 'table' or not def.__moonhost_function then def = moonhost.define_rpc_function(def) end
    local handler = resolve_handler(def, ctx)
    local fns = described.functions
    fns[#fns + 1] = { name = def.name, type = def.type, args = def.args, returns = def.returns, stream = def.stream,
                      description = def.description, params = param_names(handler, def.args and #def.args or 0) }
    handler = typed_handler(def, handler, type_nodes) -- after it, the types args name exist
    local agent = def.agent and require('moonhost.agent').tool(def, type_nodes, fns[#fns].params) or nil
    if (def.type == 'static' or def.type == 'query') and not def.stream then
      dumpable[#dumpable + 1] = { name = def.name, type = def.type, dump = def.dump, snapshot = def.snapshot, ctx = ctx }
    end
    local cache = def.cache
    core.register {
      name = def.name, type = def.type, handler = handler,
      cached = cache ~= nil, ttl = cache and cache.ttl, max = cache and cache.max,
      arg_count = def.arg_nodes and #def.arg_nodes or 0, -- HTTP spreads an array input over 2+
      stream = def.stream, agent = agent,
    }
  end

  --- ctx.rpc.broadcast(name, ...), or as the Vite DevTools Kit writes it:
  -- ctx.rpc.broadcast { method = name, args = { ... }, optional = true }.
  -- A broadcast is never answered, so `optional` changes nothing.
  -- `cluster = true` (table form only: in the other every value is an
  -- argument) sends it to the clients of every host in the NATS cluster too.
  -- Returns how many of this host's clients it was sent to.
  function rpc.broadcast(name, ...)
    if type(name) == 'table' then
      local spec = name
      options.check_keys(spec, { 'method', 'args', 'optional', 'cluster' }, 'ctx.rpc.broadcast')
      if type(spec.method) ~= 'string' then
        options.raise('ctx.rpc.broadcast: method must be a function name (a string), got ' .. type(spec.method))
      end
      local args = spec.args or {}
      if type(args) ~= 'table' then options.raise('ctx.rpc.broadcast: args must be a list of arguments') end
      if spec.cluster ~= nil and type(spec.cluster) ~= 'boolean' then
        options.raise('ctx.rpc.broadcast: cluster must be true or false, got ' .. type(spec.cluster))
      end
      local send = spec.cluster and core.broadcast_cluster or core.broadcast
      return send(spec.method, table.unpack(args, 1, args.n or #args))
    end
    if type(name) ~= 'string' then
      options.raise('ctx.rpc.broadcast: expected a function name or { method =, args = }, got ' .. type(name))
    end
    return core.broadcast(name, ...)
  end

  function rpc.broadcast_call(name, args, opts)
    opts = opts or {}
    if type(name) ~= 'string' then options.raise('ctx.rpc.broadcast_call: expected a function name, got ' .. type(name)) end
    if args ~= nil and type(args) ~= 'table' then options.raise('ctx.rpc.broadcast_call: args must be a table of arguments') end
    options.check_keys(opts, { 'timeout', 'filter' }, 'ctx.rpc.broadcast_call options')
    local ok, results = core.broadcast_call(name, args or {}, opts.timeout, opts.filter)
    if not ok then raise(results) end
    return results
  end

  -- The checks core.call_client makes, raised at the plugin's line.
  local function check_target(what, id, name)
    if type(id) ~= 'string' then options.raise(what .. ': expected a client id (ctx.rpc.clients()), got ' .. type(id)) end
    if type(name) ~= 'string' then options.raise(what .. ': expected a function name, got ' .. type(name)) end
  end

  function rpc.call_client(id, name, ...)
    check_target('ctx.rpc.call_client', id, name)
    local ok, value = core.call_client(id, name, nil, ...)
    if not ok then raise(value) end
    return value
  end

  --- call_client with options: rpc.call_client_with({ timeout = seconds }, id, name, ...)
  function rpc.call_client_with(opts, id, name, ...)
    options.check_keys(opts or {}, { 'timeout' }, 'ctx.rpc.call_client_with options')
    check_target('ctx.rpc.call_client_with', id, name)
    local ok, value = core.call_client(id, name, opts and opts.timeout, ...)
    if not ok then raise(value) end
    return value
  end

  rpc.clients = core.clients
  rpc.invalidate = core.invalidate
  local shared_state = require 'moonhost.shared_state'
  rpc.shared_state = shared_state.open
  rpc.shared_state_keys = shared_state.keys
  rpc.streaming = { create = require('moonhost.streaming_channel').create }
  return rpc
end

local RELAY = 'devtoolskit:internal:mesh:relay'

local function make_mesh(ctx)
  local mesh = {}

  --- The directory: { {id=, role=, capabilities=, meta=, provides=, host=}, ... }
  function mesh.peers() return moonhost.call('devtoolskit:internal:peer:directory') end

  --- A target (an id, a role, 'role:*', or {role=, capability=, meta=}) to
  -- call through the host's relay, with the host's signed identity.
  function mesh.peer(target)
    local handle = {}
    function handle:call(name, ...)
      return moonhost.call(RELAY, { to = target, method = name, args = moonhost.array(table.pack(...)) })
    end
    function handle:call_with(opts, name, ...)
      options.check_keys(opts or {}, { 'timeout' }, 'ctx.mesh.peer(...):call_with options')
      return moonhost.call(RELAY, { to = target, method = name, args = moonhost.array(table.pack(...)),
                                    timeout = opts and opts.timeout and math.ceil(opts.timeout * 1000) })
    end
    function handle:event(name, ...)
      return moonhost.call('devtoolskit:internal:mesh:relay-event',
        { to = target, method = name, args = moonhost.array(table.pack(...)) })
    end
    return handle
  end

  --- Calls whichever peer (or plugin) provides `name` (deepstream's make).
  function mesh.make(name, ...)
    return moonhost.call('devtoolskit:internal:mesh:make', { name = name, args = moonhost.array(table.pack(...)) })
  end

  --- mesh.on('change', fn): fn({kind='added'|'updated'|'removed', peer={...}})
  function mesh.on(event, fn)
    if event ~= 'change' then error("ctx.mesh.on: the only event is 'change'", 2) end
    if type(fn) ~= 'function' then error('ctx.mesh.on: expected a function', 2) end
    project.on_mesh_change(fn)
  end

  --- This plugin provides `name` to make() callers (and as a function).
  function mesh.provide(name, handler)
    if type(name) ~= 'string' or type(handler) ~= 'function' then
      error('ctx.mesh.provide(name, handler): name must be a string and handler a function', 2)
    end
    core.register { name = name, type = 'action', handler = handler, mesh = true }
    described.functions[#described.functions + 1] = { name = name, type = 'action' }
  end

  return mesh
end

-- Where `require` looks after the plugins directory: the system's Lua 5.4
-- libraries (Debian's lua-dkjson, lua-penlight, ...; docs/plugins.md
-- "Libraries"). C modules only from the interpreter's own system
-- directories: never ./?.so, which would load whatever sits in the
-- directory the host was started from.
local SYSTEM_PATH = '/usr/local/share/lua/5.4/?.lua;/usr/local/share/lua/5.4/?/init.lua;'
  .. '/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua'

local function system_cpath(cpath)
  local dirs = {}
  for entry in cpath:gmatch('[^;]+') do
    if entry:sub(1, 1) == '/' and entry:match('/%?%.so$') then dirs[#dirs + 1] = entry end
  end
  return table.concat(dirs, ';')
end

local function add_system_paths()
  if not package.path:find(SYSTEM_PATH, 1, true) then package.path = package.path .. ';' .. SYSTEM_PATH end
  package.cpath = system_cpath(package.cpath)
end

function R.boot(chunk, info)
  add_system_paths()
  _G.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    core.log('info', table.concat(parts, '\t', 1, parts.n))
  end
  -- While the file and its setup run, a mistake whose line a tail call
  -- hid is found in this file (moonhost.options.raise). A failed load's
  -- state is dropped, so only success needs to reset it.
  options.loading = info.path
  local def = chunk()
  if type(def) ~= 'table' or not def.__moonhost_plugin then
    error(info.path .. ': the file must return moonhost.plugin { name = ..., setup = function(ctx) ... end }', 0)
  end
  if def.name and def.name ~= info.name then
    core.log('warn', string.format("%s: declares name '%s' but the host names a plugin after its file: logs, reloads "
      .. "and `moonhost reload` call it '%s' while ctx.name is '%s'; rename one so they agree", info.path, def.name,
      info.name, def.name))
  end
  local ctx = {
    name = def.name or info.name,
    mode = info.mode,
    root = info.root,
    generation = info.generation,
    config = readonly(info.config, 'ctx.config'),
    log = make_log(),
  }
  described.plugin, described.types, described.client_functions = ctx.name, def.types, def.client_functions
  ctx.rpc = make_rpc(ctx, def.type_nodes or {})
  ctx.mesh = make_mesh(ctx)

  --- ctx.watch(patterns, callback): callback({path=, kind='add'|'change'|'unlink'})
  -- for files under ctx.root matching a glob (or a list of globs); .git and
  -- node_modules are ignored. Returns a handle with :close(). Stops by
  -- itself when the plugin is reloaded.
  function ctx.watch(patterns, callback)
    if type(patterns) == 'string' then patterns = { patterns } end
    if type(patterns) ~= 'table' then error('ctx.watch: patterns must be a glob string or a list of them', 2) end
    if type(callback) ~= 'function' then error('ctx.watch: callback must be a function', 2) end
    return project.watch(patterns, callback)
  end

  -- ctx.dev_server is read fresh each time: {command, pid, running, url} or nil.
  -- ctx.vite (lua/moonhost/vite.lua) is made on first use.
  setmetatable(ctx, { __index = function(_, k)
    if k == 'dev_server' then return project.dev_server() end
    if k == 'vite' then
      local vite = require('moonhost.vite').new(ctx)
      rawset(ctx, 'vite', vite)
      return vite
    end
  end })
  def.setup(ctx)
  options.loading = nil
end

--- Plain data about the plugin's functions and types (raw schemas as
-- written), read by `moonhost types` from outside the plugin's state.
function R.describe() return described end

-- One query's dump as plain data: { inputs = {...}, fallback =, has_fallback = }
-- (a dump function runs here, now), or nil when it declares none.
local function query_dump(d)
  if d.snapshot then return { inputs = moonhost.array { moonhost.array() }, snapshot = true } end
  local spec = d.dump
  if spec == nil then return nil end
  local where = "function '" .. d.name .. "'"
  if type(spec) == 'function' then
    local ok, got = pcall(spec, d.ctx)
    if not ok then error(where .. ': dump(ctx) failed: ' .. tostring(type(got) == 'table' and got.message or got), 0) end
    local checked, err = pcall(moonhost._check_dump, got, where .. ': what dump(ctx) returned')
    if not checked then error(err, 0) end
    spec = got
  end
  local inputs = {}
  for i, input in ipairs(spec.inputs or {}) do inputs[i] = moonhost.array(table.move(input, 1, #input, 1, {})) end
  return { inputs = moonhost.array(inputs), fallback = spec.fallback, has_fallback = spec.fallback ~= nil }
end

--- What `moonhost build` records of this plugin: a list of { name =, type =,
-- and for a query: inputs = { {args...}, ... }, fallback =, has_fallback =,
-- snapshot =, or skipped = true when it declares no dump }. Dump functions
-- run now, in mode 'build' (they must not wait).
function R.dump_plan()
  local plan = {}
  for i, d in ipairs(dumpable) do
    local entry = { name = d.name, type = d.type }
    if d.type == 'query' then
      local q = query_dump(d)
      if q then
        for k, v in pairs(q) do entry[k] = v end
      else
        entry.skipped = true
      end
    end
    plan[i] = entry
  end
  return moonhost.array(plan)
end

return R
