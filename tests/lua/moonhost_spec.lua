-- Specs for lua/moonhost (the pure-Lua part of the plugin API), run with
-- plain busted on Lua 5.4: `lua5.4 /usr/bin/busted tests/lua` from the repo root.
package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path
local moonhost = require 'moonhost'

describe('moonhost.define_rpc_function', function()
  it('defaults the type to query and keeps the handler', function()
    local h = function() end
    local def = moonhost.define_rpc_function { name = 'a:b', handler = h }
    assert.are.equal('query', def.type)
    assert.are.equal(h, def.handler)
    assert.is_nil(def.cache)
  end)

  it('accepts every function type', function()
    for _, t in ipairs { 'query', 'action', 'static', 'event' } do
      assert.are.equal(t, moonhost.define_rpc_function({ name = 'x', type = t, handler = print }).type)
    end
  end)

  it('normalises cache = true to an empty options table', function()
    local def = moonhost.define_rpc_function { name = 'x', handler = print, cache = true }
    assert.are.same({}, def.cache)
  end)

  local function message_of(def)
    local ok, err = pcall(moonhost.define_rpc_function, def)
    assert.is_false(ok)
    return err
  end

  it('rejects a missing or empty name', function()
    assert.matches('name must be a non%-empty string', message_of { handler = print })
    assert.matches('name must be a non%-empty string', message_of { name = '', handler = print })
  end)

  it('rejects an unknown type, naming the function', function()
    assert.matches("'x': type must be one of 'query', 'action', 'static', 'event', got 'mutation'$",
      message_of { name = 'x', type = 'mutation', handler = print })
    assert.matches("type must be one of .*, got 'acton'; did you mean 'action'%?",
      message_of { name = 'x', type = 'acton', handler = print })
  end)

  it('wants exactly one of handler and setup', function()
    assert.matches('exactly one of handler', message_of { name = 'x' })
    assert.matches('exactly one of handler', message_of { name = 'x', handler = print, setup = print })
    assert.matches('handler must be a function', message_of { name = 'x', handler = 42 })
  end)

  it('allows a cache only on queries, with sane options', function()
    assert.matches("cache is only for type 'query'", message_of { name = 'x', type = 'action', handler = print, cache = true })
    assert.matches('cache.ttl must be a number', message_of { name = 'x', handler = print, cache = { ttl = -1 } })
    assert.matches('cache.max must be an integer', message_of { name = 'x', handler = print, cache = { max = 1.5 } })
  end)

  it('reports the caller position, not the library', function()
    local ok, err = pcall(function() moonhost.define_rpc_function { name = 'x', type = 'nope', handler = print } end)
    assert.is_false(ok)
    assert.matches('moonhost_spec.lua:%d+:', err)
  end)
end)

describe('mistakes in option tables', function()
  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    return err
  end
  local line = function() return debug.getinfo(2, 'l').currentline end

  it('rejects an unknown key of a function, at the caller line, with the closest key', function()
    local l
    local err = raised(function()
      l = line(); moonhost.define_rpc_function { name = 'x', typ = 'action', handler = print }
    end)
    assert.are.equal("tests/lua/moonhost_spec.lua:" .. l ..
      ": moonhost.define_rpc_function 'x': unknown key 'typ', did you mean 'type'?", err)
  end)

  it('lists the keys when nothing is close', function()
    assert.matches("unknown key 'colour' %(the keys are 'name', 'type', 'handler', 'setup', 'cache', " ..
      "'description', 'args', 'returns', 'stream', 'agent', 'dump', 'snapshot', 'input_stream'%)", raised(function()
        moonhost.define_rpc_function { name = 'x', colour = 'red', handler = print }
      end))
    assert.matches('unknown key %[1%]', raised(function() moonhost.define_rpc_function { 'x', name = 'x', handler = print } end))
  end)

  it('checks the static-build options: dump and snapshot only on a query', function()
    local def = moonhost.define_rpc_function { name = 'x', handler = print, dump = { inputs = { { 1 }, {} }, fallback = 0 } }
    assert.are.same({ inputs = { { 1 }, {} }, fallback = 0 }, def.dump)
    assert.is_true(moonhost.define_rpc_function({ name = 'x', handler = print, snapshot = true }).snapshot)
    assert.is_function(moonhost.define_rpc_function({ name = 'x', handler = print, dump = print }).dump)
    assert.matches("dump is only for type 'query' %(got 'static'%): a static function is always dumped", raised(function()
      moonhost.define_rpc_function { name = 'x', type = 'static', handler = print, dump = {} }
    end))
    assert.matches("snapshot is only for type 'query' %(got 'event'%): an event is never dumped", raised(function()
      moonhost.define_rpc_function { name = 'x', type = 'event', handler = print, snapshot = true }
    end))
    assert.matches('give dump or snapshot = true, not both', raised(function()
      moonhost.define_rpc_function { name = 'x', handler = print, snapshot = true, dump = {} }
    end))
    assert.matches('a stream is never dumped', raised(function()
      moonhost.define_rpc_function { name = 'x', handler = print, stream = true, snapshot = true }
    end))
    assert.matches("dump.inputs%[2%] must be a list of arguments %(a table%), got string", raised(function()
      moonhost.define_rpc_function { name = 'x', handler = print, dump = { inputs = { {}, 'a' } } }
    end))
    assert.matches("dump: unknown key 'input', did you mean 'inputs'%?", raised(function()
      moonhost.define_rpc_function { name = 'x', handler = print, dump = { input = {} } }
    end))
    assert.matches('snapshot must be a boolean', raised(function()
      moonhost.define_rpc_function { name = 'x', handler = print, snapshot = 1 }
    end))
  end)

  it('checks a stream definition: a boolean, a query or an action, never cached', function()
    assert.is_true(moonhost.define_rpc_function({ name = 'x', stream = true, handler = print }).stream)
    assert.is_false(moonhost.define_rpc_function({ name = 'x', handler = print }).stream)
    assert.matches("'x': stream must be a boolean, got string", raised(function()
      moonhost.define_rpc_function { name = 'x', stream = 'yes', handler = print }
    end))
    assert.matches("'x': a stream is never cached", raised(function()
      moonhost.define_rpc_function { name = 'x', stream = true, cache = true, handler = print }
    end))
    assert.matches("'x': a stream is a 'query' or an 'action' %(got 'event'%)", raised(function()
      moonhost.define_rpc_function { name = 'x', stream = true, type = 'event', handler = print }
    end))
  end)

  it('rejects an unknown cache option', function()
    assert.matches("'x' cache: unknown key 'tll', did you mean 'ttl'%?", raised(function()
      moonhost.define_rpc_function { name = 'x', handler = print, cache = { tll = 0.1 } }
    end))
  end)

  it('rejects unknown keys of a plugin and of its client functions', function()
    assert.matches("moonhost_spec.lua:%d+: moonhost.plugin 'p': unknown key 'setpu', did you mean 'setup'%?",
      raised(function() moonhost.plugin { name = 'p', setpu = print } end))
    assert.matches("client function 'p:c': unknown key 'return', did you mean 'returns'%?", raised(function()
      moonhost.plugin { name = 'p', setup = print, client_functions = { ['p:c'] = { ['return'] = 'string' } } }
    end))
  end)

  it('rejects a description that is not a string', function()
    assert.matches("'x': description must be a string, got number", raised(function()
      moonhost.define_rpc_function { name = 'x', handler = print, description = 42 }
    end))
  end)

  it('rejects an unknown key of moonhost.error, instead of sending the code as the message', function()
    assert.matches("moonhost.error: unknown key 'mesage', did you mean 'message'%?",
      raised(function() moonhost.error { code = 'bad_request', mesage = 'oops' } end))
  end)

  it('reports a schema mistake at the caller line', function()
    assert.matches("^tests/lua/moonhost_spec.lua:%d+: moonhost.define_rpc_function 'x' args%[1%]",
      raised(function() moonhost.define_rpc_function { name = 'x', handler = print, args = { 'strin g' } } end))
  end)
end)

describe('moonhost.plugin', function()
  it('returns a plugin definition', function()
    local p = moonhost.plugin { name = 'demo', setup = function() end }
    assert.are.equal('demo', p.name)
    assert.is_true(p.__moonhost_plugin)
  end)

  it('requires a setup function', function()
    local ok, err = pcall(moonhost.plugin, { name = 'demo' })
    assert.is_false(ok)
    assert.matches('setup must be a function', err)
  end)
end)

describe('moonhost.error', function()
  it('raises a table with code, message and data', function()
    local ok, err = pcall(moonhost.error, { code = 'bad_request', message = 'nope', data = { field = 'id' } })
    assert.is_false(ok)
    assert.are.equal('bad_request', err.code)
    assert.are.equal('nope', err.message)
    assert.are.same({ field = 'id' }, err.data)
    assert.are.equal('nope (bad_request)', tostring(err))
  end)

  it('defaults the code to internal and accepts a plain message', function()
    local _, err = pcall(moonhost.error, 'boom')
    assert.are.equal('internal', err.code)
    assert.are.equal('boom', err.message)
  end)
end)

describe('moonhost.array', function()
  it('marks a table as an array', function()
    local t = moonhost.array {}
    assert.is_true(moonhost.is_array(t))
    assert.is_false(moonhost.is_array {})
  end)
end)

describe('outside the host', function()
  it('says clearly that sleep needs the host', function()
    local ok, err = pcall(moonhost.sleep, 1)
    assert.is_false(ok)
    assert.matches('only available inside moonhost', err)
  end)

  it('says clearly that read_file and write_file need the host', function()
    for _, name in ipairs { 'read_file', 'write_file' } do
      local ok, err = pcall(moonhost[name], 'x', 'y')
      assert.is_false(ok)
      assert.matches('moonhost.' .. name .. ': only available inside moonhost', err)
    end
  end)

  it('says clearly that exec needs the host', function()
    local ok, err = pcall(moonhost.exec, { 'true' })
    assert.is_false(ok)
    assert.matches('moonhost.exec: only available inside moonhost', err)
  end)

  it('says clearly that fetch needs the host', function()
    local ok, err = pcall(moonhost.fetch, 'http://127.0.0.1/')
    assert.is_false(ok)
    assert.matches('moonhost.fetch: only available inside moonhost', err)
  end)
end)
