--- ctx.rpc.streaming: devframe's streaming channels. A channel is a name;
-- each stream on it (ch:start(id)) numbers its chunks, keeps the last
-- `replay_window` of them for readers that come back, and ends once. The
-- streams live in the host (moonhost.streaming), where devframe clients
-- subscribe to them (devframe:streaming:subscribe).
local streaming = require 'moonhost.streaming'
local options = require 'moonhost.options'

local C = {}

local Channel = {}
Channel.__index = Channel

local Writer = {}
Writer.__index = Writer

--- Sends value to the stream's subscribers; returns its seq (1, 2, ...).
-- In a handler's coroutine it then waits (yields) while the slowest
-- subscriber holds more than limits.stream_queue_bytes unsent; elsewhere
-- (setup, a callback) it returns at once, with true as a second result
-- when a subscriber is over that bound.
function Writer:write(value)
  local seq, over = streaming.write(self.channel, self.id, value)
  self.last_seq = seq
  if over and coroutine.isyieldable() then
    streaming.wait_drained(self.channel, self.id)
    over = false
  end
  return seq, over
end

--- Ends the stream; with err readers get that error: a message, a table
-- { message =, name =, code = }, or an error caught from moonhost.error.
-- Ending twice raises.
function Writer:finish(err)
  if err ~= nil and type(err) ~= 'string' and type(err) ~= 'table' then
    options.raise('stream finish: expected nothing, a message or an error table, got ' .. type(err))
  end
  if type(err) == 'table' then
    err = { message = tostring(err.message or 'stream failed'), name = err.name, code = err.code }
  end
  streaming.finish(self.channel, self.id, err)
  self.closed = true
end

-- The id of ch:start / ch:open_inbound: id, { id = id }, or nil (the host makes one).
local function id_option(id, what)
  if type(id) == 'table' then
    options.check_keys(id, { 'id' }, 'streaming channel ' .. what .. ' options')
    id = id.id
  end
  if id ~= nil and (type(id) ~= 'string' or id == '') then
    options.raise('streaming channel ' .. what .. ': the id must be a non-empty string, got ' .. type(id))
  end
  return id
end

--- Starts a stream: ch:start(id), ch:start { id = id } or ch:start() (a new id).
function Channel:start(id)
  local used = streaming.start(self.name, id_option(id, 'start'))
  return setmetatable({ channel = self.name, id = used, last_seq = 0, closed = false }, Writer)
end

local Upload = {}
Upload.__index = Upload

--- The next chunk the client uploaded, waiting (yielding) for it; nil at
-- the end. An upload that ended with an error raises it.
function Upload:next()
  while true do
    local state, v = streaming.take(self.channel, self.id)
    if state == 'chunk' then return v end
    if state == 'end' then
      self.done = true
      if v ~= nil then error(v, 2) end
      return nil
    end
    if state == 'none' then
      if self.done then return nil end
      options.raise('upload ' .. self.channel .. '#' .. self.id .. ' is gone (cancelled, or its channel reloaded)')
    end
    streaming.wait(self.channel, self.id)
  end
end

-- for chunk in upload do ... end
Upload.__call = Upload.next

--- Stops reading: the client is told (devframe:streaming:upload-cancel).
function Upload:cancel()
  self.done = true
  streaming.cancel(self.channel, self.id)
end

--- Opens an upload a client sends to this channel (devframe's
-- rpc.streaming.upload(channel, id)); ch:open_inbound(id), or with no id a
-- new one to give the client.
function Channel:open_inbound(id)
  local used = streaming.open_inbound(self.name, id_option(id, 'open_inbound'))
  return setmetatable({ channel = self.name, id = used, done = false }, Upload)
end

--- The ids of the channel's streams (open, or ended and still kept).
function Channel:ids() return streaming.ids(self.name) end

function C.create(name, opts)
  if type(name) ~= 'string' or name == '' then
    options.raise('ctx.rpc.streaming.create: expected a channel name (a non-empty string), got ' .. type(name))
  end
  opts = opts or {}
  if type(opts) ~= 'table' then options.raise('ctx.rpc.streaming.create: options must be a table') end
  options.check_keys(opts, { 'replay_window', 'closed_stream_retention' }, 'ctx.rpc.streaming.create options')
  local window = opts.replay_window or 0
  if math.type(window) ~= 'integer' or window < 0 then
    options.raise('ctx.rpc.streaming.create: replay_window must be a non-negative integer')
  end
  local retention = opts.closed_stream_retention
  if retention ~= nil and (type(retention) ~= 'number' or retention < 0) then
    options.raise('ctx.rpc.streaming.create: closed_stream_retention must be seconds (a number >= 0)')
  end
  streaming.create(name, window, retention and math.floor(retention * 1000 + 0.5))
  return setmetatable({ name = name }, Channel)
end

return C
