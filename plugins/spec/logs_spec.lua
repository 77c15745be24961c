local testing = require 'moonhost.testing'

describe('logs', function()
  before_each(function() testing.load_plugin('../logs.lua', { keep = 3 }) end)
  after_each(testing.reset)

  it('broadcasts each line to every client', function()
    local client = testing.connect_client()
    assert.are.equal(1, testing.call('logs:write', 'build started'))
    assert.are.equal(2, testing.call('logs:write', 'type error in App.vue', 'error'))
    local first = client:wait_for('logs:line')
    local second = client:wait_for('logs:line')
    assert.are.same({ 'build started', 'info' }, { first.text, first.level })
    assert.are.same({ 'type error in App.vue', 'error', 2 }, { second.text, second.level, second.seq })
  end)

  it('keeps the last `keep` lines for logs:tail', function()
    for i = 1, 5 do testing.call('logs:write', 'line ' .. i) end
    local tail = testing.call('logs:tail')
    assert.are.same({ 'line 3', 'line 4', 'line 5' }, { tail[1].text, tail[2].text, tail[3].text })
    assert.are.equal(1, #testing.call('logs:tail', 1))
    assert.are.equal(0, #testing.call('logs:tail', 0))
  end)

  it('refuses an unknown level, naming it', function()
    local err = testing.error_of(testing.call, 'logs:write', 'x', 'debug')
    assert.are.equal('bad_request', err.code)
    assert.are.equal('argument 2: expected "info" | "warn" | "error", got string', err.message)
  end)

  it('reaches clients that connect over the real client path too', function()
    local client = testing.connect_client()
    assert.are.equal(1, client:call('logs:write', 'from a client'))
    assert.are.equal('from a client', client:wait_for('logs:line').text)
  end)
end)
