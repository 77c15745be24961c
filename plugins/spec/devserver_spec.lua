local testing = require 'moonhost.testing'

describe('devserver', function()
  before_each(function() testing.load_plugin('../devserver.lua') end)
  after_each(testing.reset)

  it('says not running when moonhost runs no dev server', function()
    assert.are.same({ running = false }, testing.call('devserver:status'))
  end)

  it('reports the command, pid and url of the running one', function()
    local dev = testing.dev_server({ 'sleep', '30' }, { url = 'http://localhost:5173/' })
    local status = testing.call('devserver:status')
    assert.are.same({ running = true, command = 'sleep 30', pid = dev.pid, url = 'http://localhost:5173/' }, status)
  end)

  it('sees it stop', function()
    testing.dev_server({ 'sh', '-c', 'exit 3' })
    testing.await(function() return not testing.call('devserver:status').running end)
    assert.are.equal('sh -c exit 3', testing.call('devserver:status').command)
  end)
end)
