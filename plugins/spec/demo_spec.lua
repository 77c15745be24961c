-- The demo plugin the README's quick start uses.
local testing = require 'moonhost.testing'

describe('demo', function()
  before_each(function() testing.load_plugin('../demo.lua') end)
  after_each(testing.reset)

  it('adds', function()
    assert.are.equal(5, testing.call('demo:add', 2, 3))
  end)

  it('counts hits, and demo:hits is cached until a hit', function()
    assert.are.equal(0, testing.call('demo:hits').hits)
    assert.are.equal(1, testing.call('demo:hit'))
    assert.are.equal(1, testing.call('demo:hits').hits)
  end)

  it('shouts to every client', function()
    local a, b = testing.connect_client(), testing.connect_client()
    assert.are.equal(2, testing.call('demo:shout', 'hello'))
    assert.are.equal('hello', a:wait_for('demo:message'))
    assert.are.equal('hello', b:wait_for('demo:message'))
  end)

  it('waits without blocking other calls', function()
    local client = testing.connect_client()
    client:event('demo:wait', 0.2) -- a call that sleeps, sent without waiting for it
    local started = testing.call('moonhost:stats').functions['demo:wait'].calls
    assert.are.equal(5, testing.call('demo:add', 2, 3)) -- answered while demo:wait sleeps
    assert.are.equal(1, started)
  end)
end)
