-- Run with `moonhost test` from the repository root (docs/plugins.md "Testing").
local testing = require 'moonhost.testing'

local function stats(name) return testing.call('moonhost:stats').functions[name] end

describe('counter', function()
  before_each(function() testing.load_plugin('../counter.lua') end)
  after_each(testing.reset)

  it('serves counter:get from the cache until counter:increment', function()
    assert.are.equal(0, testing.call('counter:get'))
    assert.are.equal(0, testing.call('counter:get'))
    assert.are.equal(1, stats('counter:get').hits)

    assert.are.equal(2, testing.call('counter:increment', 2))
    assert.are.equal(2, testing.call('counter:get'))
    assert.are.equal(2, stats('counter:get').runs) -- the increment dropped the cached 0
  end)

  it('tells every client the new value', function()
    local a, b = testing.connect_client(), testing.connect_client()
    testing.call('counter:increment')
    assert.are.equal(1, a:wait_for('counter:changed'))
    assert.are.equal(1, b:wait_for('counter:changed'))
  end)

  it('starts from ctx.config.start', function()
    testing.load_plugin('../counter.lua', { start = 41 })
    assert.are.equal(42, testing.call('counter:increment'))
  end)

  it('refuses a step that is not an integer', function()
    local err = testing.error_of(testing.call, 'counter:increment', 'two')
    assert.are.equal('bad_request', err.code)
    assert.are.equal('argument 1: expected integer, got string', err.message)
  end)
end)
