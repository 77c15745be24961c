--- In-process clients for specs (moonhost.testing.connect_client): the
-- Lua half of bindings/lua_testing_client.c. Frames the host sent wait in C
-- until pump() takes them, between loop turns; calls to client functions
-- are answered then, so a client function never runs inside a host callback.
local core = require 'moonhost.testing.core'
local moonhost = require 'moonhost'
local options = require 'moonhost.options'

local C = {}

local NULL, UNDEFINED = moonhost.null, moonhost.undefined
local clients = {} -- open clients, in the order they connected

-- Where in the spec each raised error table was raised: error() adds no
-- position to a table, and busted would show a line of this library.
local positions = setmetatable({}, { __mode = 'k' })

local error_mt = {
  __name = 'moonhost.error',
  __tostring = function(e)
    return (positions[e] or '') .. string.format('%s (%s)', tostring(e.message), tostring(e.code))
  end,
}
C.error_mt = error_mt

--- Raises an error table {code=, message=, data=} at the spec's line (the
-- first caller outside lua/moonhost): tostring(err) starts with FILE:LINE.
-- Its fields are left as they are, so specs compare them as before.
function C.raise(e)
  local mt = type(e) == 'table' and getmetatable(e)
  -- nil, ours, or the host's (same __name, so it stays a moonhost.error)
  if type(e) == 'table' and (mt == nil or mt == error_mt or (type(mt) == 'table' and mt.__name == 'moonhost.error')) then
    setmetatable(e, error_mt)
    positions[e] = positions[e] or options.where()
  end
  error(e, 0)
end

local function fail(code, message)
  C.raise({ code = code, message = message, name = 'Error' })
end

-- Set by moonhost.testing: its await, which turns the loop, and its
-- default timeout in seconds.
C.await = nil
C.timeout = nil

local Client = {}
Client.__index = Client

-- Arguments as a handler gets them: null and undefined at the top are nil.
local function unpackable(list)
  local args = { n = list and #list or 0 }
  for i = 1, args.n do
    local v = list[i]
    if v ~= NULL and v ~= UNDEFINED then args[i] = v end
  end
  return args
end

local function top(v)
  if v == NULL or v == UNDEFINED then return nil end
  return v
end

--- An in-process client: a real host client whose frames stay in the
-- runner. opts: trusted (default true), codec ('json' default,
-- 'structured-clone', 'devframe'), functions ({ name = fn }: client
-- functions the plugin may call with ctx.rpc.call_client/broadcast_call).
function C.connect(opts)
  opts = opts or {}
  local conn = core.client_new(opts.trusted ~= false, opts.codec or 'json')
  local c = setmetatable({ conn = conn, id = conn:id(), functions = {}, inbox = {}, taken = {}, replies = {},
                           next_id = 0 }, Client)
  for name, fn in pairs(opts.functions or {}) do c:register(name, fn) end
  clients[#clients + 1] = c
  return c
end

--- client:register(name, fn) or client:register{ name = fn, ... }: what the
-- client answers when the host calls it. fn gets the arguments and returns
-- the value (an error it raises, e.g. {code=, message=}, is the reply).
function Client:register(name, fn)
  if type(name) == 'table' then
    for n, f in pairs(name) do self.functions[n] = f end
  else
    self.functions[name] = fn
  end
  return self
end

local function answer(self, f)
  local fn = self.functions[f.m]
  if f.i == nil or f.i == NULL then -- an event: nothing to answer
    if fn then pcall(fn, table.unpack(f.args, 1, f.args.n)) end
    return
  end
  if not fn then
    if f.o then return self.conn:reply(f.i, true) end
    return self.conn:reply(f.i, false, { code = 'not_found', message = '[birpc] function "' .. tostring(f.m) .. '" not found' })
  end
  local ok, v = pcall(fn, table.unpack(f.args, 1, f.args.n))
  if not self.conn:id() then return end -- closed meanwhile
  if ok and v == nil then return self.conn:reply(f.i, true) end
  if not ok and type(v) ~= 'table' then v = { code = 'internal', message = tostring(v) } end
  self.conn:reply(f.i, ok, v)
end

-- Takes the frames the host sent: calls and events go to the inbox (and
-- to registered functions), replies to the calls this client made.
function Client:_pump()
  if self.close_code then return end
  local frames, closed = self.conn:poll()
  for _, f in ipairs(frames) do
    if f.t == 'q' then
      f.args = unpackable(f.a)
      self.inbox[#self.inbox + 1] = { name = f.m, args = f.args, id = top(f.i) }
      answer(self, f)
    elseif f.t == 's' then
      self.replies[f.i] = f
    end
  end
  if closed then self.close_code = closed end
end

--- Takes what the host sent every client (and answers its calls).
function C.pump()
  for _, c in ipairs(clients) do c:_pump() end
end

--- What the host sent this client so far (broadcasts and calls), oldest
-- first, as { name =, args = { n =, ... } }; only those named `name` if given.
function Client:received(name)
  C.pump()
  local out = {}
  for _, m in ipairs(self.inbox) do
    if name == nil or m.name == name then out[#out + 1] = m end
  end
  return out
end

--- Waits for the next message named `name` this client has not been given
-- by wait_for yet, and returns its arguments.
function Client:wait_for(name, timeout)
  if type(name) ~= 'string' then options.raise('client:wait_for: expected a function name, got ' .. type(name)) end
  local ok, found = pcall(C.await, function()
    for i = (self.taken[name] or 0) + 1, #self.inbox do
      if self.inbox[i].name == name then
        self.taken[name] = i
        return self.inbox[i]
      end
    end
  end, timeout)
  if not ok then
    if type(found) ~= 'table' or found.code ~= 'rpc_timeout' then error(found, 0) end
    local seen = {}
    for _, m in ipairs(self.inbox) do seen[#seen + 1] = "'" .. tostring(m.name) .. "'" end
    fail('rpc_timeout', string.format("client:wait_for('%s'): no '%s' arrived within %g s (received: %s)", name, name,
      timeout or C.timeout(), #seen > 0 and table.concat(seen, ', ') or 'nothing'))
  end
  return table.unpack(found.args, 1, found.args.n)
end

--- Forgets what was received.
function Client:clear()
  self.inbox, self.taken = {}, {}
end

--- Calls a function as this client: a request frame through the host's
-- client path (trust, limits, codec), then its reply. Raises the error.
function Client:call(name, ...)
  if self.close_code or not self.conn:id() then fail('disconnected', 'the client is closed') end
  self.next_id = self.next_id + 1
  local id = self.id .. ':' .. self.next_id
  self.conn:request(id, name, ...)
  local ok, f = pcall(C.await, function() return self.replies[id] end)
  if not ok then fail('rpc_timeout', "client call to '" .. name .. "': no answer in time") end
  self.replies[id] = nil
  if f.e ~= nil then C.raise(f.e) end
  return top(f.r)
end

--- Sends an event (a call without reply).
function Client:event(name, ...)
  self.conn:request(nil, name, ...)
end

--- Disconnects (the host cancels the client's calls and fails its own calls to it).
function Client:close()
  self.conn:close()
  self.close_code = self.close_code or 1000
  for i, c in ipairs(clients) do
    if c == self then table.remove(clients, i) break end
  end
end


--- Disconnects every client (testing.reset).
function C.close_all()
  for i = #clients, 1, -1 do clients[i]:close() end
end

return C
