--- moonhost.testing: specs for plugins, run by `moonhost test` (busted with
-- moonhost itself as the Lua interpreter). docs/plugins.md "Testing".
--
--   local testing = require 'moonhost.testing'
--   local plugin = testing.load_plugin('../counter.lua')   -- relative to this spec file
--   local client = testing.connect_client()
--   testing.call('counter:increment')                      -- through the dispatcher
--   assert.are.equal(1, client:wait_for('counter:changed'))
--
-- Plugins load as real generations in a real host (no server); waiting
-- (calls, wait_for, sleep, await) turns the real libuv loop. Everything a
-- spec file starts is undone when the file ends (testing.reset).
local core = require 'moonhost.testing.core'
local clients = require 'moonhost.test_client'
local options = require 'moonhost.options'

local T = {}

--- Seconds that call, await and wait_for wait before failing with rpc_timeout.
T.timeout = 5
--- Seconds touch and remove run the loop, so file watches (30 ms debounce) see the change.
T.settle = 0.15

local state = {
  plugins = {}, -- name -> true: loaded by specs
  configs = {}, -- name -> true: ctx.config set by a spec
  root0 = core.root(),
  hooked = false,
}

-- Errors are raised at the spec's line, not at a line of this file.
local function fail(code, message)
  clients.raise({ code = code, message = message, name = 'Error' })
end

-- busted publishes 'file end' after each spec file: undo what it started.
-- Subscribed on first use, from inside a running file (outside busted, as
-- in `moonhost types`, there is nothing to subscribe to).
local function hook()
  if state.hooked then return end
  state.hooked = true
  local ok, busted = pcall(require, 'busted')
  local subscribe = ok and type(busted) == 'table' and busted.subscribe
  if subscribe then subscribe({ 'file', 'end' }, function() T.reset() return nil, true end) end
end

-- ---- the loop -------------------------------------------------------------

local pump = clients.pump -- takes client frames and answers client-function calls

--- Turns the loop until cond() returns a true value (and returns it), or
-- fails with rpc_timeout after `timeout` seconds (default T.timeout).
function T.await(cond, timeout)
  timeout = timeout or T.timeout
  local deadline = core.now() + math.ceil(timeout * 1000)
  while true do
    pump()
    local v = cond()
    if v then return v end
    local left = deadline - core.now()
    if left <= 0 then fail('rpc_timeout', string.format('moonhost.testing.await: not done within %g s', timeout)) end
    core.run_once(left)
  end
end

--- Turns the loop for `seconds` (timers, watches and calls make progress).
function T.sleep(seconds)
  local deadline = core.now() + math.ceil((seconds or 0) * 1000)
  repeat
    pump()
    local left = deadline - core.now()
    if left > 0 then core.run_once(left) end
  until left <= 0
  pump()
end

local function finish(op, what, timeout)
  local ok = pcall(T.await, function() return op:done() end, timeout)
  if not ok then fail('rpc_timeout', string.format('%s: no answer within %g s', what, timeout or T.timeout)) end
  return op:result()
end

--- ok, value | false, error: a call through the dispatcher (moonhost.call in a spec uses it).
function T._dispatch(name, ...)
  return finish(core.dispatch(name, ...), "call to '" .. tostring(name) .. "'", nil)
end

--- Calls a function through the dispatcher (caching and sharing apply, as
-- for a client); returns its value or raises its error table {code=, message=, data=}.
function T.call(name, ...)
  local ok, v = finish(core.dispatch(name, ...), "call to '" .. tostring(name) .. "'", nil)
  if not ok then clients.raise(v) end
  return v
end

--- T.call with options: T.call_with({ timeout = seconds }, name, ...).
function T.call_with(opts, name, ...)
  options.check_keys(opts or {}, { 'timeout' }, 'moonhost.testing.call_with options')
  local ok, v = finish(core.dispatch(name, ...), "call to '" .. tostring(name) .. "'", opts and opts.timeout)
  if not ok then clients.raise(v) end
  return v
end

--- Reads a stream function whole through the dispatcher (as an HTTP reader
-- would): returns the list of its chunks and its final value, or raises its
-- error table (its `chunks` field: what came before the error).
function T.stream(name, ...)
  return T.stream_with({}, name, ...)
end

--- T.stream with options: { last_event_id = 'ID' } resumes (the producer
-- gets it as its second argument); { timeout = seconds }.
function T.stream_with(opts, name, ...)
  options.check_keys(opts or {}, { 'timeout', 'last_event_id' }, 'moonhost.testing.stream_with options')
  opts = opts or {}
  if opts.last_event_id ~= nil and type(opts.last_event_id) ~= 'string' then
    options.raise('moonhost.testing.stream_with: last_event_id must be a string')
  end
  local op = core.stream(name, opts.last_event_id, ...)
  local ok, v = finish(op, "stream '" .. tostring(name) .. "'", opts.timeout)
  local chunks = op:chunks()
  if not ok then
    if type(v) == 'table' then v.chunks = chunks end
    clients.raise(v)
  end
  return chunks, v
end

--- The error fn(...) raises (a test fails if it raises none).
function T.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then options.raise('moonhost.testing.error_of: expected an error, but the call succeeded') end
  return err
end

-- ---- plugins ----------------------------------------------------------------

-- The directory of the spec file that called: the first Lua function up the
-- stack that comes from a file other than this one.
local function caller_dir()
  local me = debug.getinfo(1, 'S').source
  for level = 3, 20 do
    local info = debug.getinfo(level, 'S')
    if not info then break end
    local src = info.source
    if src:sub(1, 1) == '@' and src ~= me then return src:sub(2):match('^(.*)/[^/]*$') or '.' end
  end
  return '.'
end

local function normalize(path)
  local abs = path:sub(1, 1) == '/'
  local parts = {}
  for part in path:gmatch('[^/]+') do
    if part == '..' and #parts > 0 and parts[#parts] ~= '..' then
      parts[#parts] = nil
    elseif part ~= '.' then
      parts[#parts + 1] = part
    end
  end
  local out = table.concat(parts, '/')
  return abs and '/' .. out or (out == '' and '.' or out)
end

-- NAME.lua -> NAME (require looks next to it); NAME/init.lua -> NAME (require looks in NAME/).
local function plugin_parts(path)
  if not path:match('%.lua$') then path = path .. '/init.lua' end
  local dir, file = path:match('^(.*)/([^/]+)$')
  if not dir then dir, file = '.', path end
  if file == 'init.lua' then return dir:match('([^/]+)$'), path, dir end
  return file:sub(1, -5), path, dir
end

local Plugin = {}
Plugin.__index = Plugin

-- A load of plugin `name`; config nil keeps the ctx.config it had (a
-- reload) unless `fresh`, which goes back to conf.d's.
local function load_gen(name, path, dir, config, fresh)
  hook()
  local f = io.open(path, 'r')
  if not f then options.raise('moonhost.testing.load_plugin: no plugin file ' .. path) end
  f:close()
  if config ~= nil then state.configs[name] = true end
  if config ~= nil or fresh then core.set_config(name, config) end
  local ok, gen = finish(core.load(name, path, dir), "loading plugin '" .. name .. "'", nil)
  if not ok then clients.raise(gen) end
  state.plugins[name] = true
  return gen
end

--- Loads a plugin file (NAME.lua, or a NAME/ directory with init.lua) as a
-- new generation; config is its ctx.config (default: conf.d's). A relative
-- path is relative to the spec file that calls. Raises the load error (a
-- table {code=, message=}) when the file or its setup fails.
function T.load_plugin(path, config)
  if type(path) ~= 'string' then options.raise('moonhost.testing.load_plugin: expected a path') end
  if path:sub(1, 1) ~= '/' then path = normalize(caller_dir() .. '/' .. path) end
  local name, file, dir = plugin_parts(path)
  local gen = load_gen(name, file, dir, config, true)
  return setmetatable({ name = name, path = file, dir = dir, generation = gen }, Plugin)
end

--- Loads a plugin by its parts (`moonhost types` finds them as `run` does).
function T._load(name, path, dir) return load_gen(name, path, dir, nil, false) end

--- Loads the plugin again (a reload): the new generation serves from now on;
-- a failing reload raises and the old one keeps serving. config as in load_plugin.
function Plugin:reload(config)
  self.generation = load_gen(self.name, self.path, self.dir, config, false)
  return self
end

function Plugin:unload()
  core.unload(self.name)
  state.plugins[self.name] = nil
end

function Plugin:call(name, ...) return T.call(name, ...) end

--- Names of the functions this plugin has registered now, sorted.
function Plugin:functions()
  local names = {}
  for _, f in ipairs(T.call('moonhost:functions')) do
    if f.plugin == self.name then names[#names + 1] = f.name end
  end
  return names
end

-- ---- clients -----------------------------------------------------------------

--- An in-process client: a real host client whose frames stay in the
-- runner (moonhost.test_client). opts: trusted (default true), codec
-- ('json' default, 'structured-clone', 'devframe'), functions ({ name = fn }:
-- client functions the plugin may call with ctx.rpc.call_client/broadcast_call).
function T.connect_client(opts)
  hook()
  options.check_keys(opts or {}, { 'trusted', 'codec', 'functions' }, 'moonhost.testing.connect_client')
  if opts and opts.codec ~= nil then
    options.check_one_of(opts.codec, { 'json', 'structured-clone', 'devframe' }, 'moonhost.testing.connect_client', 'codec')
  end
  return clients.connect(opts)
end

-- ---- files and the dev server ---------------------------------------------

--- ctx.root of plugins loaded from now on (and of touch/remove); returns it.
function T.root(dir)
  if dir ~= nil then core.set_root(dir) end
  return core.root()
end

--- A new empty directory, deleted when `moonhost test` ends.
function T.tmpdir() return core.mkdtemp() end

local function under_root(path)
  if path:sub(1, 1) == '/' then return path end
  return core.root() .. '/' .. path
end

--- Writes a file under ctx.root (content, or what it held, or ''), creating
-- directories, then runs the loop T.settle seconds so ctx.watch sees it.
function T.touch(path, content)
  local full = under_root(path)
  local dir = full:match('^(.*)/[^/]*$')
  if dir and dir ~= '' then core.mkdirs(dir) end
  if content == nil then
    local f = io.open(full, 'rb')
    content = f and f:read('a') or ''
    if f then f:close() end
  end
  local f = assert(io.open(full, 'wb'))
  f:write(content)
  f:close()
  T.sleep(T.settle)
  return full
end

--- Deletes a file under ctx.root, then runs the loop T.settle seconds.
function T.remove(path)
  local full = under_root(path)
  assert(os.remove(full))
  T.sleep(T.settle)
end

--- Starts a real process as the dev server plugins see in ctx.dev_server
-- (argv: { 'sleep', '30' }); opts.url sets ctx.dev_server.url. Returns
-- { pid =, stop = function }.
function T.dev_server(argv, opts)
  hook()
  options.check_keys(opts or {}, { 'url' }, 'moonhost.testing.dev_server options')
  core.set_dev_server_url(opts and opts.url)
  local pid = core.dev_server_start(argv)
  return { pid = pid, stop = T.stop_dev_server }
end

--- Stops the dev server (SIGTERM, then SIGKILL after 5 s) and forgets it.
function T.stop_dev_server()
  core.dev_server_stop(true)
  pcall(T.await, function() return not core.dev_server_running() end, 5)
  core.dev_server_stop(false)
  core.set_dev_server_url(nil)
end

-- ---- cleaning up --------------------------------------------------------------

--- Undoes what specs started: closes clients, cancels the calls still
-- running and unloads plugins, stops the dev server, puts back ctx.root and
-- conf.d's ctx.config. Runs after every spec file by itself; call it in
-- after_each for a clean slate per test.
function T.reset()
  clients.close_all()
  for name in pairs(state.plugins) do
    core.cancel_calls(name) -- a call left running (an event that sleeps) would outlive its test
    core.unload(name)
  end
  for name in pairs(state.configs) do core.set_config(name, nil) end
  state.plugins, state.configs = {}, {}
  T.stop_dev_server()
  core.set_root(state.root0)
end

T.shutdown = T.reset
clients.await = T.await
clients.timeout = function() return T.timeout end

return T
