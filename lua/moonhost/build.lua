--- `moonhost build --out DIR`: a static DevTools (docs/plugins.md "Static
-- builds"). Loads every plugin as `run` would (no server, ctx.mode 'build'),
-- calls its static functions and the queries that declare a dump through
-- the real dispatcher, and writes what devframe 1.3's own build writes and
-- its static client reads:
--
--   DIR/__connection.json                    { backend = 'static', jsonSerializableMethods = [] }
--   DIR/__rpc-dump/index.json                name -> { type = 'static', path = }
--                                            or { type = 'query', records = { [hash] = path }, fallback = path }
--   DIR/__rpc-dump/KEY.static.json           { output }
--   DIR/__rpc-dump/KEY.record.HASH.json      { inputs, output }
--   DIR/__rpc-dump/KEY.fallback.json         { inputs = [], output }
--
-- KEY is the function's name with ':' as '~', URI-encoded; HASH is ohash's
-- hash of the argument list (codec/ohash.c); every file but the two JSON
-- ones is structured-clone text (serialization 'structured-clone'). The
-- shared-state keys are dumped as devframe dumps them: one record of
-- devframe:rpc:server-state:get per key, and an undefined fallback.
-- Actions and events are never dumped. Any failure names its plugin or
-- function and ends the build with 1.
local core = require 'moonhost.testing.core'
local testing = require 'moonhost.testing'
local moonhost = require 'moonhost'

local M = {}

local STATE_GET = 'devframe:rpc:server-state:get'
local CALL_TIMEOUT = 60 -- seconds one call may take before the build gives up on it
local DUMP_DIR = '__rpc-dump'

local function say(fmt, ...) io.stderr:write('moonhost build: ' .. string.format(fmt, ...) .. '\n') end

-- A failure that ends the build: raised as a table so main tells it from a bug.
local function stop(fmt, ...) error({ build_error = string.format(fmt, ...) }, 0) end

local function message_of(err)
  if type(err) == 'table' then return tostring(err.message or err.build_error or err.code) end
  return tostring(err)
end

--- devframe's makeDumpKey: encodeURIComponent(name with ':' as '~').
function M.dump_key(name)
  return (name:gsub(':', '~'):gsub("[^%w%-_%.!~%*'%(%)]", function(c) return string.format('%%%02X', c:byte()) end))
end

local function write_file(out, rel, text)
  local path = out .. '/' .. rel
  local f, err = io.open(path, 'wb')
  if not f then stop('cannot write %s: %s', path, err) end
  local ok, werr = f:write(text)
  f:close()
  if not ok then stop('cannot write %s: %s', path, werr) end
end

local function args_text(args)
  local ok, text = pcall(core.encode, 'json', moonhost.array(table.move(args, 1, #args, 1, {})))
  return ok and text or '(arguments)'
end

-- Calls name(args...) through the dispatcher and waits for it to finish.
local function run_call(name, args, static)
  local op = core.dispatch(name, table.unpack(args, 1, #args))
  if not pcall(testing.await, function() return op:done() end, CALL_TIMEOUT) then
    stop('%s %sgave no answer within %d s', name, static and '' or ('with arguments ' .. args_text(args) .. ' '),
      CALL_TIMEOUT)
  end
  return op
end

-- A finished call as a dump file's text; a failed call stops the build.
local function record_text(op, name, args, static)
  local text, err = core.dump_record(op, not static, table.unpack(args, 1, #args))
  if not text then
    stop('%s %sfailed: %s', name, static and '' or ('with arguments ' .. args_text(args) .. ' '), message_of(err))
  end
  return text
end

local function dump_static(out, entry)
  local rel = DUMP_DIR .. '/' .. M.dump_key(entry.name) .. '.static.json'
  write_file(out, rel, record_text(run_call(entry.name, {}, true), entry.name, {}, true))
  say('%s (static) -> %s', entry.name, rel)
  return { type = 'static', path = rel, serialization = 'structured-clone' }
end

-- A query's records, one per input, and its fallback: the snapshot's one
-- record, or what the plan says.
local function dump_query(out, entry)
  local key = M.dump_key(entry.name)
  local manifest = { type = 'query', records = {}, serialization = 'structured-clone' }
  local snapshot_op
  for _, args in ipairs(entry.inputs or {}) do
    local op = run_call(entry.name, args)
    local hash = core.ohash(table.unpack(args, 1, #args))
    local rel = DUMP_DIR .. '/' .. key .. '.record.' .. hash .. '.json'
    write_file(out, rel, record_text(op, entry.name, args, false))
    manifest.records[hash] = rel
    snapshot_op = op
  end
  local fallback
  if entry.snapshot then
    fallback = core.dump_record(snapshot_op, true)
  elseif entry.has_fallback then
    fallback = core.encode('sc', { inputs = moonhost.array(), output = entry.fallback })
  end
  if fallback then
    manifest.fallback = DUMP_DIR .. '/' .. key .. '.fallback.json'
    write_file(out, manifest.fallback, fallback)
  end
  local n = #(entry.inputs or {})
  say('%s (query) -> %d record%s%s', entry.name, n, n == 1 and '' or 's', fallback and ' and a fallback' or '')
  if n == 0 and not fallback then return nil end -- nothing to read: devframe leaves it out too
  return manifest
end

local function load_plugins(dir)
  local names = {}
  for _, e in ipairs(core.plugin_entries(dir)) do
    local ok, err = pcall(testing._load, e.name, e.path, e.dir)
    if not ok then stop('plugin %s (%s) failed to load: %s', e.name, e.path, message_of(err)) end
    names[#names + 1] = e.name
  end
  return names
end

local function plan_of(names)
  local plan = {}
  for _, name in ipairs(names) do
    local ok, entries = pcall(core.dump_plan, name)
    -- the first line: the message (the traceback after it shows moonhost's own Lua)
    if not ok then stop('%s', message_of(entries):match('^[^\n]*')) end
    for _, entry in ipairs(entries or {}) do plan[#plan + 1] = entry end
  end
  return plan
end

-- The shared state, as devframe's own server-state:get declares its dump.
local function state_entry()
  local inputs = {}
  for i, key in ipairs(core.state_keys()) do inputs[i] = { key } end
  return { name = STATE_GET, type = 'query', inputs = inputs, has_fallback = true, fallback = moonhost.undefined }
end

local function build(opts)
  local out = opts.out
  say('loading the plugins in %s (mode build)', opts.plugins_dir)
  local names = load_plugins(opts.plugins_dir)
  local plan = plan_of(names)
  local ok, err = pcall(core.mkdirs, out .. '/' .. DUMP_DIR)
  if not ok then stop('cannot create %s: %s', out .. '/' .. DUMP_DIR, message_of(err)) end
  local manifest, skipped, count = {}, {}, 0
  plan[#plan + 1] = state_entry()
  for _, entry in ipairs(plan) do
    if entry.skipped then
      skipped[#skipped + 1] = entry.name
    else
      local m = entry.type == 'static' and dump_static(out, entry) or dump_query(out, entry)
      if m then
        manifest[entry.name] = m
        count = count + 1
      end
    end
  end
  for _, name in ipairs(skipped) do
    say('%s (query) skipped: it declares no dump (dump = { inputs = ... } or snapshot = true)', name)
  end
  write_file(out, DUMP_DIR .. '/index.json', core.encode('json', manifest))
  write_file(out, '__connection.json',
    core.encode('json', { backend = 'static', jsonSerializableMethods = moonhost.array() }))
  say('wrote %s: %d function%s dumped, %d skipped, from %d plugin%s', out, count, count == 1 and '' or 's',
    #skipped, #names, #names == 1 and '' or 's')
end

function M.main(_, opts)
  local ok, err = pcall(build, opts)
  if ok then return 0 end
  if type(err) == 'table' and err.build_error then
    say('%s', err.build_error)
  else
    say('failed: %s', message_of(err))
  end
  return 1
end

return M
