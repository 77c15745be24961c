--- moonhost: the library plugins `require`.
--
--   local moonhost = require 'moonhost'
--   return moonhost.plugin { name = 'demo', setup = function(ctx) ... end }
--
-- Pure Lua. Inside the host it uses moonhost.core (C); under a plain Lua
-- interpreter (busted) the definition helpers still work, and the calls
-- that need the host raise a clear error.
local M = {}

local has_core, core = pcall(require, 'moonhost.core')
if not has_core then core = nil end

local function no_host(what)
  return function() error(what .. ': only available inside moonhost', 2) end
end

M.version = '0.1.0'

--- JavaScript null inside tables (at the top level, arguments are plain nil).
M.null = core and core.null or setmetatable({}, { __name = 'moonhost.null', __tostring = function() return 'null' end })
--- JavaScript undefined inside tables.
M.undefined = core and core.undefined
  or setmetatable({}, { __name = 'moonhost.undefined', __tostring = function() return 'undefined' end })

local array_mt = core and core.array_mt or { __name = 'array' }

--- Marks a table as a JSON array, so that an empty one is sent as [] not {}.
function M.array(t)
  t = t or {}
  if type(t) ~= 'table' then error('moonhost.array: expected a table, got ' .. type(t), 2) end
  return setmetatable(t, array_mt)
end

--- Whether t is marked as an array (tables decoded from JSON arrays are).
function M.is_array(t) return type(t) == 'table' and getmetatable(t) == array_mt end

local options = require 'moonhost.options'

local FUNCTION_TYPES = { 'query', 'action', 'static', 'event' }
local ERROR_CODES = {
  not_found = true, bad_request = true, unauthorized = true, too_large = true, rpc_timeout = true,
  rpc_cancelled = true, rpc_method_already_registered = true, overloaded = true, internal = true,
}
M.error_codes = ERROR_CODES

-- The keys each option table of the plugin API takes (a typo is an error
-- that names the closest one: docs/plugins.md "Mistakes in definitions").
local KEYS = {
  define_rpc_function = { 'name', 'type', 'handler', 'setup', 'cache', 'description', 'args', 'returns', 'stream',
                          'agent', 'dump', 'snapshot', 'input_stream' },
  dump = { 'inputs', 'fallback' },
  cache = { 'ttl', 'max' },
  plugin = { 'name', 'setup', 'description', 'types', 'client_functions' },
  client_function = { 'args', 'returns', 'params', 'description' },
  error = { 'code', 'message', 'data', 'name', 'status' },
}

local error_mt = {
  __name = 'moonhost.error',
  __moonhost_answer = true, -- what the plugin meant to answer: logged at debug, no traceback
  __tostring = function(e) return string.format('%s (%s)', tostring(e.message), tostring(e.code)) end,
}

--- Raises a typed error that reaches the caller with its code and data:
--   moonhost.error { code = 'bad_request', message = 'id must be a number', data = { id = id } }
function M.error(spec, level)
  if type(spec) == 'string' then spec = { message = spec } end
  if type(spec) ~= 'table' then options.raise('moonhost.error: expected a table {code=, message=, data=}') end
  if getmetatable(spec) == nil then options.check_keys(spec, KEYS.error, 'moonhost.error') end
  local code = spec.code or 'internal'
  if type(code) ~= 'string' or not code:match('^[%w_%-:.]+$') then
    options.raise('moonhost.error: code must be a short identifier string')
  end
  local e = setmetatable({ code = code, message = tostring(spec.message or code), data = spec.data,
                           name = spec.name or 'Error', status = spec.status }, error_mt)
  error(e, level or 2)
end

local function fail(where, msg) options.raise(where .. ': ' .. msg) end

-- Parses an args/returns/types schema (moonhost.schema) and reports a
-- mistake at the line that defined it. Loaded on first use: most plugins
-- declare no schema and never pay for it.
local function parse_schema(what, ...)
  local ok, node = pcall(require('moonhost.schema')[what], ...)
  if not ok then options.raise(node) end
  return node
end

local function check_cache(cache, ftype, where)
  if cache == nil or cache == false then return nil end
  if ftype ~= 'query' then fail(where, "cache is only for type 'query' (got '" .. ftype .. "')") end
  if cache == true then return {} end
  if type(cache) ~= 'table' then fail(where, 'cache must be true or a table { ttl = seconds, max = entries }') end
  options.check_keys(cache, KEYS.cache, where .. ' cache')
  if cache.ttl ~= nil and (type(cache.ttl) ~= 'number' or cache.ttl < 0) then
    fail(where, 'cache.ttl must be a number of seconds >= 0')
  end
  if cache.max ~= nil and (math.type(cache.max) ~= 'integer' or cache.max < 1) then
    fail(where, 'cache.max must be an integer >= 1')
  end
  return cache
end

--- Checks what a `dump` option gives (a table, or what a dump function
-- returned): { inputs = { {args...}, ... }, fallback = value }, where any
-- key may be missing. Raises a message starting with `where`.
function M._check_dump(spec, where)
  if type(spec) ~= 'table' then fail(where, 'dump must be a table { inputs = { {args...}, ... }, fallback = value }') end
  options.check_keys(spec, KEYS.dump, where .. ' dump')
  if spec.inputs ~= nil and type(spec.inputs) ~= 'table' then
    fail(where, 'dump.inputs must be a list of argument lists, like { {}, {1}, {"a", true} }')
  end
  for i, input in ipairs(spec.inputs or {}) do
    if type(input) ~= 'table' then
      fail(where, 'dump.inputs[' .. i .. '] must be a list of arguments (a table), got ' .. type(input))
    end
  end
  return spec
end

-- The static-build options (docs/plugins.md "Static builds"): only a query
-- says which calls a build records; a static function is always dumped,
-- an action or an event never.
local function check_dump(def, ftype, where)
  options.check_type(def.snapshot, 'boolean', where, 'snapshot')
  if def.dump == nil and not def.snapshot then return end
  if ftype ~= 'query' then
    fail(where, (def.dump ~= nil and 'dump' or 'snapshot') .. " is only for type 'query' (got '" .. ftype .. "'): "
      .. (ftype == 'static' and 'a static function is always dumped, with its one value' or 'an ' .. ftype
      .. ' is never dumped'))
  end
  if def.dump ~= nil and def.snapshot then fail(where, 'give dump or snapshot = true, not both') end
  if def.stream then fail(where, 'a stream is never dumped: remove ' .. (def.dump ~= nil and 'dump' or 'snapshot')) end
  if type(def.dump) ~= 'function' and def.dump ~= nil then M._check_dump(def.dump, where) end
end

--- Checks and normalises a function definition (see README "Plugin API").
function M.define_rpc_function(def)
  local where = 'moonhost.define_rpc_function'
  if type(def) ~= 'table' then fail(where, 'expected a table, got ' .. type(def)) end
  if type(def.name) ~= 'string' or def.name == '' then fail(where, 'name must be a non-empty string') end
  where = where .. " '" .. def.name .. "'"
  options.check_keys(def, KEYS.define_rpc_function, where)
  local ftype = def.type or 'query'
  options.check_one_of(ftype, FUNCTION_TYPES, where, 'type')
  if def.handler ~= nil and type(def.handler) ~= 'function' then fail(where, 'handler must be a function') end
  if def.setup ~= nil and type(def.setup) ~= 'function' then fail(where, 'setup must be a function') end
  if (def.handler == nil) == (def.setup == nil) then
    fail(where, 'give exactly one of handler = function(...) or setup = function(ctx) return { handler = ... } end')
  end
  options.check_type(def.description, 'string', where, 'description')
  local cache = check_cache(def.cache, ftype, where)
  check_dump(def, ftype, where)
  options.check_type(def.stream, 'boolean', where, 'stream')
  if def.stream and cache then fail(where, 'a stream is never cached: remove cache (each reader gets its own run)') end
  if def.stream and ftype ~= 'query' and ftype ~= 'action' then
    fail(where, "a stream is a 'query' or an 'action' (got '" .. ftype .. "')")
  end
  -- A streamed input (oRPC event iterator sent by the client): the handler's
  -- first argument is an iterator over its items (docs/plugins.md).
  options.check_type(def.input_stream, 'boolean', where, 'input_stream')
  if def.input_stream then
    if ftype ~= 'action' then fail(where, "a streamed input is an 'action''s (got '" .. ftype .. "')") end
    if def.stream then fail(where, 'a streamed input with a streamed result is not supported yet: remove stream') end
    if def.args ~= nil then fail(where, 'a streamed input has no args schema: remove args') end
  end
  -- Typed arguments and result (docs/plugins.md "Typed functions"): parsed
  -- here so a typo fails at the definition; names are resolved on register.
  local arg_nodes = def.args ~= nil and parse_schema('parse_args', def.args, where .. ' args') or nil
  local returns_node = def.returns ~= nil and parse_schema('parse', def.returns, where .. ' returns') or nil
  -- Offered to AI agents as an MCP tool (moonhost.agent; docs/plugins.md).
  local agent = def.agent ~= nil and require('moonhost.agent').check(def.agent, ftype, def.stream, where) or nil
  return {
    name = def.name, type = ftype, handler = def.handler, setup = def.setup, cache = cache,
    description = def.description, args = def.args, returns = def.returns, arg_nodes = arg_nodes,
    returns_node = returns_node, stream = def.stream == true, agent = agent, dump = def.dump,
    input_stream = def.input_stream == true,
    snapshot = def.snapshot == true, __moonhost_function = true,
  }
end

--- Declares a plugin; the plugin file returns what this returns.
function M.plugin(def)
  local where = 'moonhost.plugin'
  if type(def) ~= 'table' then fail(where, 'expected a table, got ' .. type(def)) end
  if def.name ~= nil and (type(def.name) ~= 'string' or def.name == '') then
    fail(where, 'name must be a non-empty string')
  end
  if def.name then where = where .. " '" .. def.name .. "'" end
  options.check_keys(def, KEYS.plugin, where)
  if type(def.setup) ~= 'function' then fail(where, 'setup must be a function(ctx)') end
  options.check_type(def.description, 'string', where, 'description')
  -- Named types for args/returns, and the functions the plugin calls on
  -- clients ({ ['NAME'] = { args =, returns =, params = { names } } }), for `moonhost types`.
  local type_nodes = def.types ~= nil and parse_schema('parse_types', def.types, where .. ' types') or {}
  local client_functions = def.client_functions
  if client_functions ~= nil and type(client_functions) ~= 'table' then
    fail(where, "client_functions must be a table { ['name'] = { args = {...}, returns = ... } }")
  end
  for name, cf in pairs(client_functions or {}) do
    local w = where .. " client function '" .. tostring(name) .. "'"
    if type(name) ~= 'string' or type(cf) ~= 'table' then fail(w, 'expected a name and a table { args =, returns = }') end
    options.check_keys(cf, KEYS.client_function, w)
    if cf.params ~= nil and type(cf.params) ~= 'table' then fail(w, "params must be a list of argument names") end
    options.check_type(cf.description, 'string', w, 'description')
    local nodes = cf.args ~= nil and parse_schema('parse_args', cf.args, w .. ' args') or {}
    if cf.returns ~= nil then nodes[#nodes + 1] = parse_schema('parse', cf.returns, w .. ' returns') end
    for _, node in ipairs(nodes) do parse_schema('check_refs', node, type_nodes, w) end
  end
  return {
    name = def.name, setup = def.setup, description = def.description, types = def.types, type_nodes = type_nodes,
    client_functions = client_functions, __moonhost_plugin = true,
  }
end

-- ---- JavaScript types beyond JSON ------------------------------------------
-- Structured-clone clients (Vite DevTools) send values Lua has no type for.
-- They arrive as tables with these metatables, and handlers build them with
-- the constructors below (see README "Values between JavaScript and Lua").
-- Inside the host the metatables are the ones C registers per lua_State
-- (moonhost.core.types), so `getmetatable(x) == moonhost.Date` holds for
-- decoded values too; under plain Lua they are ordinary tables.
local types = core and core.types or {}
local function type_mt(name) return types[name] or { __name = 'moonhost.' .. name } end

M.Date, M.BigInt, M.Map, M.Set = type_mt('Date'), type_mt('BigInt'), type_mt('Map'), type_mt('Set')
M.RegExp, M.JsError, M.TypedArray = type_mt('RegExp'), type_mt('JsError'), type_mt('TypedArray')
M.URL = type_mt('URL')

local NAN = 0 / 0
local DAY_MS = 86400000
local DATE_MAX = 8.64e15 -- JavaScript's Date range, in ms either side of 1970

-- Days since 1970-01-01 <-> proleptic Gregorian dates (H. Hinnant's
-- algorithms; Lua's // floors, which is what they need).
local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- JavaScript's TimeClip: whole milliseconds (an integer), NaN outside the range.
local function time_clip(ms)
  if type(ms) ~= 'number' or ms ~= ms or math.abs(ms) > DATE_MAX then return NAN end
  return ms >= 0 and math.floor(ms) or math.ceil(ms)
end

-- Date.prototype.toISOString; nil for an invalid date.
local function iso_string(ms)
  ms = time_clip(ms)
  if ms ~= ms then return nil end
  local y, mo, d = civil_from_days(ms // DAY_MS)
  local rem = ms % DAY_MS
  local year = (y >= 0 and y <= 9999) and string.format('%04d', y)
    or string.format('%s%06d', y < 0 and '-' or '+', math.abs(y))
  return string.format('%s-%02d-%02dT%02d:%02d:%02d.%03dZ', year, mo, d, rem // 3600000, rem // 60000 % 60,
    rem // 1000 % 60, rem % 1000)
end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- The inverse, strict: only what toISOString writes (as the wire codec).
local function parse_iso(s)
  local rest = '%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.(%d%d%d)Z$'
  local sign, y, mo, d, h, mi, sec, milli = '', s:match('^(%d%d%d%d)' .. rest)
  if not y then
    sign, y, mo, d, h, mi, sec, milli = s:match('^([+-])(%d%d%d%d%d%d)' .. rest)
    if not y or (sign == '-' and y == '000000') then return nil end
  end
  y, mo, d = math.tointeger(tonumber(y)), math.tointeger(tonumber(mo)), math.tointeger(tonumber(d))
  h, mi, sec, milli = math.tointeger(tonumber(h)), math.tointeger(tonumber(mi)), math.tointeger(tonumber(sec)),
    math.tointeger(tonumber(milli))
  if sign == '-' then y = -y end
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  if mo < 1 or mo > 12 or d < 1 or d > ((mo == 2 and leap) and 29 or MONTH_DAYS[mo]) then return nil end
  if h > 23 or mi > 59 or sec > 59 then return nil end
  local t = days_from_civil(y, mo, d) * DAY_MS + ((h * 60 + mi) * 60 + sec) * 1000 + milli
  if math.abs(t) > DATE_MAX then return nil end
  return t
end

M.Date.__tostring = function(d) return iso_string(d.ms) or 'Invalid Date' end
M.Date.__eq = function(a, b) return getmetatable(a) == getmetatable(b) and a.ms == b.ms end
M.Date.__lt = function(a, b) return a.ms < b.ms end
M.Date.__le = function(a, b) return a.ms <= b.ms end
M.BigInt.__tostring = function(b) return b.value end
M.BigInt.__eq = function(a, b) return getmetatable(a) == getmetatable(b) and a.value == b.value end
M.Map.__tostring = function(m) return 'Map(' .. #m.entries .. ')' end
M.Set.__tostring = function(s) return 'Set(' .. #s.values .. ')' end
M.RegExp.__tostring = function(r) return '/' .. r.source .. '/' .. r.flags end
M.JsError.__tostring = function(e) return e.message == '' and e.name or (e.name .. ': ' .. e.message) end
M.TypedArray.__tostring = function(t) return t.kind .. '(' .. #t.values .. ')' end
M.URL.__tostring = function(u) return u.href end
M.URL.__eq = function(a, b) return getmetatable(a) == getmetatable(b) and a.href == b.href end

--- A JavaScript URL from its href: an absolute URL ('https://example.com/a?b=1').
-- Only the scheme is checked ('name:' first, as new URL needs); the client
-- parses the rest. oRPC clients receive a URL, the others its href string.
function M.url(href)
  if type(href) ~= 'string' then error('moonhost.url: expected a string, got ' .. type(href), 2) end
  if not href:match('^[A-Za-z][A-Za-z0-9+.%-]*:') then
    error("moonhost.url: not an absolute URL (scheme:...): '" .. href .. "'", 2)
  end
  return setmetatable({ href = href }, M.URL)
end

--- A JavaScript Date: moonhost.date(ms) or moonhost.date('2024-02-29T12:00:00.000Z').
-- ms is clipped as JavaScript does (whole ms; NaN, an invalid date, beyond +-8.64e15).
function M.date(x)
  if type(x) == 'number' then return setmetatable({ ms = time_clip(x) }, M.Date) end
  if type(x) == 'string' then
    local ms = parse_iso(x)
    if not ms then error("moonhost.date: not an ISO date like 1970-01-01T00:00:00.000Z: '" .. x .. "'", 2) end
    return setmetatable({ ms = ms }, M.Date)
  end
  error('moonhost.date: expected milliseconds or an ISO string, got ' .. type(x), 2)
end

--- A JavaScript BigInt from an integer or a decimal string (any size).
function M.bigint(x)
  local value
  if math.type(x) == 'integer' then
    value = tostring(x)
  elseif math.type(x) == 'float' and math.tointeger(x) then
    value = tostring(math.tointeger(x))
  elseif type(x) == 'string' then
    local sign, digits = x:match('^([+-]?)(%d+)$')
    if not digits then error("moonhost.bigint: not a decimal integer: '" .. x .. "'", 2) end
    digits = digits:gsub('^0+', '')
    value = digits == '' and '0' or ((sign == '-' and '-' or '') .. digits)
  else
    error('moonhost.bigint: expected an integer or a decimal string, got ' .. type(x), 2)
  end
  return setmetatable({ value = value }, M.BigInt)
end

--- A JavaScript Map from a list of {key, value} pairs; keys of any type, order kept.
function M.map(entries)
  if entries ~= nil and type(entries) ~= 'table' then
    error('moonhost.map: expected a list of {key, value} pairs, got ' .. type(entries), 2)
  end
  local list = {}
  for i, e in ipairs(entries or {}) do
    if type(e) ~= 'table' then error('moonhost.map: entry ' .. i .. ' is not a {key, value} pair', 2) end
    list[i] = { e[1], e[2] }
  end
  return setmetatable({ entries = M.array(list) }, M.Map)
end

--- A JavaScript Set from a list; repeated values are dropped, as a Set does.
function M.set(values)
  if values ~= nil and type(values) ~= 'table' then error('moonhost.set: expected a list, got ' .. type(values), 2) end
  local list, seen, nan_seen = {}, {}, false
  for i = 1, values and #values or 0 do
    local v = values[i]
    if v == nil then v = M.null end
    if v ~= v then -- NaN cannot be a table key
      if not nan_seen then list[#list + 1] = v end
      nan_seen = true
    elseif not seen[v] then
      seen[v] = true
      list[#list + 1] = v
    end
  end
  return setmetatable({ values = M.array(list) }, M.Set)
end

local function valid_flags(flags)
  local seen = {}
  for c in flags:gmatch('.') do
    if not ('dgimsuvy'):find(c, 1, true) or seen[c] then return false end
    seen[c] = true
  end
  return not (seen.u and seen.v)
end

--- A JavaScript RegExp (the pattern is JavaScript's syntax, not Lua's).
function M.regexp(source, flags)
  flags = flags or ''
  if type(source) ~= 'string' then error('moonhost.regexp: source must be a string', 2) end
  if type(flags) ~= 'string' or not valid_flags(flags) then
    error("moonhost.regexp: flags must be distinct letters of 'dgimsuvy'", 2)
  end
  return setmetatable({ source = source, flags = flags }, M.RegExp)
end

--- A JavaScript Error value (to send as data; to fail a call, use moonhost.error).
function M.js_error(name, message)
  name, message = name or 'Error', message or ''
  if type(name) ~= 'string' or type(message) ~= 'string' then
    error('moonhost.js_error: name and message must be strings', 2)
  end
  return setmetatable({ name = name, message = message }, M.JsError)
end

local TYPED_KINDS = {}
for k in ([[Int8Array Uint8Array Uint8ClampedArray Int16Array Uint16Array Int32Array Uint32Array
  Float16Array Float32Array Float64Array ArrayBuffer DataView]]):gmatch('%a[%w]*') do TYPED_KINDS[k] = true end

--- A JavaScript typed array: moonhost.typed_array('Uint8Array', {1, 2, 3}).
function M.typed_array(kind, values)
  if not TYPED_KINDS[kind] then error("moonhost.typed_array: unknown kind '" .. tostring(kind) .. "'", 2) end
  if values ~= nil and type(values) ~= 'table' then error('moonhost.typed_array: values must be a list', 2) end
  local list = {}
  for i = 1, values and #values or 0 do
    if type(values[i]) ~= 'number' then error('moonhost.typed_array: value ' .. i .. ' is not a number', 2) end
    list[i] = values[i]
  end
  return setmetatable({ kind = kind, values = M.array(list) }, M.TypedArray)
end

local has_calls, calls = pcall(require, 'moonhost.call')
if not has_calls then calls = nil end

--- Calls any registered function (another plugin's, or the host's) through
-- the dispatcher, so caching and sharing apply; waits for the result and
-- raises the callee's error (a table with code and message).
M.call = calls and function(name, ...)
  local ok, value = calls.dispatch(name, ...)
  if not ok then error(value, 2) end
  return value
end or no_host('moonhost.call')

--- The client that started the current call: { id =, trusted =, connected = };
-- for a request over HTTP (oRPC, MCP) { id = 'http', http = true, trusted =,
-- connected = true }, with no client to call back; nil for the host's own
-- calls (a file watch, moonhost.call). For a shared or cached query it is the
-- caller whose call started the run.
M.caller = calls and calls.caller or no_host('moonhost.caller')

--- Runs fn if the current call is cancelled (the client cancelled it, went
-- away, or it timed out), before the handler's to-be-closed variables.
M.on_cancel = calls and calls.on_cancel or no_host('moonhost.on_cancel')

--- Sends one chunk of the current stream; waits while the reader is behind.
local function emit(value, opts) calls.emit(value, opts) end

--- The body of a stream function (defined with stream = true):
--   return moonhost.stream(function(emit, last_event_id) ... end)
-- runs producer(emit, last_event_id) in the handler's coroutine and returns
-- what it returns (the stream's final value). emit(value[, {id=, retry=}])
-- sends one chunk; last_event_id is the id of the last chunk a resuming
-- reader got (nil on a first call).
M.stream = calls and function(producer)
  if type(producer) ~= 'function' then
    options.raise('moonhost.stream: expected a function(emit, last_event_id), got ' .. type(producer))
  end
  return producer(emit, calls.stream_start())
end or no_host('moonhost.stream')

--- Waits without blocking the host (only inside a handler or setup).
M.sleep = core and function(seconds) core.sleep(seconds) end or no_host('moonhost.sleep')

-- Calls a waiting C function whose errors are about the plugin's call:
-- raised at the plugin's line (argument mistakes, and failures of the work).
local function waiting(fn, ...)
  local called, ok, result = pcall(fn, ...)
  if not called then options.raise(ok) end
  if not ok then options.raise(type(result) == 'table' and tostring(result.message) or tostring(result)) end
  return result
end

-- The opts of a waiting binding: nil, or a table of known keys.
local function check_opts(opts, keys, name)
  if opts == nil then return end
  if type(opts) ~= 'table' then options.raise(name .. ': opts must be a table, got ' .. type(opts)) end
  options.check_keys(opts, keys, name)
end

local has_process, process = pcall(require, 'moonhost.process')
if not has_process then process = nil end

local EXEC_OPTIONS = { 'cwd', 'env', 'stdin', 'timeout', 'max_output' }

--- Runs a program to its end without blocking the host (only inside a
-- handler or setup): argv = {program, args...}, never through a shell.
-- opts: cwd (relative to ctx.root), env ({NAME = value | false}), stdin (a
-- string), timeout (seconds), max_output (bytes kept of stdout and of
-- stderr each, default 1 MiB). Returns {code=, signal=, stdout=, stderr=,
-- timed_out=, truncated=, ms=, pid=}; a non-zero exit is no error. Raises
-- when the program cannot be started. A cancelled call kills the program
-- and what it started.
M.exec = process and function(argv, opts)
  check_opts(opts, EXEC_OPTIONS, 'moonhost.exec')
  return waiting(process.exec, argv, opts)
end or no_host('moonhost.exec')

local has_http, http = pcall(require, 'moonhost.http')
if not has_http then http = nil end

local FETCH_OPTIONS = { 'method', 'headers', 'body', 'timeout', 'max_body', 'redirect', 'insecure', 'response_headers' }

--- Fetches a URL over HTTP or HTTPS without blocking the host (only inside
-- a handler or setup). opts: method ('GET'), headers ({name = value}),
-- body (a string), timeout (seconds for the whole exchange, default 30),
-- max_body (bytes, default 16 MiB), redirect ('follow', at most 5 hops, or
-- 'manual'), insecure (true: accept any TLS certificate, for a local dev
-- server), response_headers ({names} of answer headers libwebsockets does
-- not know, such as 'x-request-id', to report too). Returns {status=,
-- headers= {lower-case name = value}, body=, url= (the last one), ms=}; a
-- 404 or a 500 is an answer, not an error. Raises when there is no answer:
-- DNS, connection, TLS, timeout, a body over max_body, too many redirects.
-- A cancelled call closes the connection.
M.fetch = http and function(url, opts)
  check_opts(opts, FETCH_OPTIONS, 'moonhost.fetch')
  return waiting(http.fetch, url, opts)
end or no_host('moonhost.fetch')

local has_files, files = pcall(require, 'moonhost.files')
if not has_files then files = nil end

--- The content of a file, read without blocking the host (only inside a
-- handler or setup). path: absolute or relative to ctx.root. max_bytes
-- (default 16 MiB, at most lua.memory_bytes): a longer file raises.
M.read_file = files and function(path, max_bytes) return waiting(files.read_file, path, max_bytes) end
  or no_host('moonhost.read_file')

--- Replaces a file's content without blocking the host, atomically: a
-- watcher never sees half of it (a temporary file beside it is renamed over
-- it). Keeps its permissions, writes through a symbolic link, creates it
-- when absent (not its directory).
M.write_file = files and function(path, data) waiting(files.write_file, path, data) end
  or no_host('moonhost.write_file')

--- Milliseconds on the host's monotonic clock.
M.now = core and core.now or function() return math.floor(os.clock() * 1000) end

return M
