-- Specs for the JavaScript types beyond JSON in lua/moonhost (constructors,
-- metatables, tostring), under plain busted, without the host's C core:
--   lua5.4 /usr/bin/busted --lpath='lua/?.lua;lua/?/init.lua' tests/lua
package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path
local moonhost = require 'moonhost'

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return tostring(err)
end

describe('moonhost.date', function()
  it('takes milliseconds and prints as toISOString does', function()
    local d = moonhost.date(0)
    assert.are.equal(moonhost.Date, getmetatable(d))
    assert.are.equal(0, d.ms)
    assert.are.equal('1970-01-01T00:00:00.000Z', tostring(d))
    assert.are.equal('1969-12-31T23:59:59.999Z', tostring(moonhost.date(-1)))
    assert.are.equal('2024-02-29T12:34:56.789Z', tostring(moonhost.date(1709210096789)))
  end)

  it('writes years outside 0..9999 with a sign and six digits', function()
    assert.are.equal('+010000-01-01T00:00:00.000Z', tostring(moonhost.date(253402300800000)))
    assert.are.equal('-000001-01-01T00:00:00.000Z', tostring(moonhost.date(-62198755200000)))
    assert.are.equal('+275760-09-13T00:00:00.000Z', tostring(moonhost.date(8.64e15)))
    assert.are.equal('-271821-04-20T00:00:00.000Z', tostring(moonhost.date(-8.64e15)))
  end)

  it('clips like JavaScript: whole ms, invalid beyond the range or for NaN', function()
    assert.are.equal(1, moonhost.date(1.9).ms)
    assert.are.equal('integer', math.type(moonhost.date(1.9).ms))
    assert.are.equal(-1, moonhost.date(-1.9).ms)
    local bad = moonhost.date(8.64e15 + 1)
    assert.is_true(bad.ms ~= bad.ms)
    assert.are.equal('Invalid Date', tostring(bad))
    assert.are.equal('Invalid Date', tostring(moonhost.date(0 / 0)))
  end)

  it('parses exactly the ISO form toISOString writes', function()
    assert.are.equal(1709210096789, moonhost.date('2024-02-29T12:34:56.789Z').ms)
    assert.are.equal(-62198755200000, moonhost.date('-000001-01-01T00:00:00.000Z').ms)
    assert.are.equal(8.64e15, moonhost.date('+275760-09-13T00:00:00.000Z').ms)
    for _, s in ipairs {
      '2023-02-29T00:00:00.000Z', -- not a leap year
      '1970-01-01T00:00:00Z', -- no milliseconds
      '1970-01-01T00:00:00.000+00:00',
      '1970-01-01 00:00:00.000Z',
      '1970-13-01T00:00:00.000Z',
      '1970-01-01T24:00:00.000Z',
      '-000000-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.001Z', -- out of range
      'yesterday',
    } do
      assert.matches('not an ISO date', error_of(moonhost.date, s), 1, true)
    end
  end)

  it('round-trips its own output', function()
    for _, ms in ipairs { 0, 1, -1, 951868799999, -62135596800000, 253402300799999, 8.64e15, -8.64e15 } do
      local d = moonhost.date(ms)
      assert.are.equal(d.ms, moonhost.date(tostring(d)).ms)
    end
  end)

  it('compares by time', function()
    assert.is_true(moonhost.date(5) == moonhost.date(5))
    assert.is_true(moonhost.date(4) < moonhost.date(5))
    assert.is_false(moonhost.date(0 / 0) == moonhost.date(0 / 0))
  end)

  it('refuses other types', function()
    assert.matches('expected milliseconds or an ISO string', error_of(moonhost.date, {}), 1, true)
  end)
end)

describe('moonhost.url', function()
  it('keeps the href and prints it', function()
    local u = moonhost.url('https://example.com/a?b=1#c')
    assert.are.equal(moonhost.URL, getmetatable(u))
    assert.are.equal('https://example.com/a?b=1#c', u.href)
    assert.are.equal('https://example.com/a?b=1#c', tostring(u))
    assert.are.equal('mailto:someone@example.com', moonhost.url('mailto:someone@example.com').href)
  end)

  it('compares by href', function()
    assert.is_true(moonhost.url('http://a/') == moonhost.url('http://a/'))
    assert.is_false(moonhost.url('http://a/') == moonhost.url('http://b/'))
  end)

  it('wants an absolute URL: a scheme first', function()
    assert.matches('not an absolute URL', error_of(moonhost.url, '/relative/path'), 1, true)
    assert.matches('not an absolute URL', error_of(moonhost.url, 'example.com'), 1, true)
    assert.matches('not an absolute URL', error_of(moonhost.url, '1http://x'), 1, true)
    assert.matches('expected a string', error_of(moonhost.url, 5), 1, true)
  end)
end)

describe('moonhost.bigint', function()
  it('keeps any size as decimal text', function()
    local b = moonhost.bigint('-123456789012345678901234567890')
    assert.are.equal(moonhost.BigInt, getmetatable(b))
    assert.are.equal('-123456789012345678901234567890', b.value)
    assert.are.equal('5', tostring(moonhost.bigint(5)))
    assert.are.equal('5', moonhost.bigint(5.0).value)
    assert.are.equal(tostring(math.mininteger), moonhost.bigint(math.mininteger).value)
  end)

  it('normalises the text as BigInt(...).toString() would', function()
    assert.are.equal('7', moonhost.bigint('007').value)
    assert.are.equal('0', moonhost.bigint('-0').value)
    assert.are.equal('5', moonhost.bigint('+5').value)
    assert.is_true(moonhost.bigint('10') == moonhost.bigint(10))
  end)

  it('refuses what is not an integer', function()
    assert.matches('not a decimal integer', error_of(moonhost.bigint, '1.5'), 1, true)
    assert.matches('not a decimal integer', error_of(moonhost.bigint, '0x10'), 1, true)
    assert.matches('expected an integer', error_of(moonhost.bigint, 1.5), 1, true)
  end)
end)

describe('moonhost.map', function()
  it('keeps keys of any type, in order', function()
    local key = { k = 1 }
    local m = moonhost.map { { 'a', 1 }, { 1, 'a' }, { key, true } }
    assert.are.equal(moonhost.Map, getmetatable(m))
    assert.are.same({ { 'a', 1 }, { 1, 'a' }, { key, true } }, m.entries)
    assert.is_true(moonhost.is_array(m.entries))
    assert.are.equal('Map(3)', tostring(m))
  end)

  it('is empty without entries', function()
    assert.are.equal(0, #moonhost.map().entries)
  end)

  it('refuses entries that are not pairs', function()
    assert.matches('entry 2 is not a {key, value} pair', error_of(moonhost.map, { { 'a', 1 }, 'b' }), 1, true)
    assert.matches('expected a list', error_of(moonhost.map, 'x'), 1, true)
  end)
end)

describe('moonhost.set', function()
  it('keeps values in order and drops repeats, as a JavaScript Set does', function()
    local t = {}
    local s = moonhost.set { 1, 'x', 1, 1.0, t, t, 0 / 0, 0 / 0 }
    assert.are.equal(moonhost.Set, getmetatable(s))
    assert.are.equal(4, #s.values)
    assert.are.equal(1, s.values[1])
    assert.are.equal('x', s.values[2])
    assert.are.equal(t, s.values[3])
    assert.is_true(s.values[4] ~= s.values[4]) -- one NaN
    assert.are.equal('Set(4)', tostring(s))
  end)

  it('is empty without values', function()
    assert.are.equal(0, #moonhost.set().values)
    assert.is_true(moonhost.is_array(moonhost.set().values))
  end)
end)

describe('moonhost.regexp', function()
  it('keeps source and flags', function()
    local r = moonhost.regexp('ab+c', 'gi')
    assert.are.equal(moonhost.RegExp, getmetatable(r))
    assert.are.same({ source = 'ab+c', flags = 'gi' }, setmetatable(r, nil))
    assert.are.equal('/x/', tostring(moonhost.regexp('x')))
  end)

  it('refuses flags JavaScript refuses', function()
    for _, f in ipairs { 'gg', 'x', 'uv' } do
      assert.matches('flags must be distinct letters', error_of(moonhost.regexp, 'a', f), 1, true)
    end
    assert.matches('source must be a string', error_of(moonhost.regexp, nil), 1, true)
  end)
end)

describe('moonhost.js_error', function()
  it('is {name, message} and prints as Error.prototype.toString', function()
    local e = moonhost.js_error('TypeError', 'bad')
    assert.are.equal(moonhost.JsError, getmetatable(e))
    assert.are.equal('TypeError', e.name)
    assert.are.equal('TypeError: bad', tostring(e))
    assert.are.equal('Error', tostring(moonhost.js_error()))
  end)

  it('refuses non-strings', function()
    assert.matches('must be strings', error_of(moonhost.js_error, 'Error', 5), 1, true)
  end)
end)

describe('moonhost.typed_array', function()
  it('is {kind, values}', function()
    local t = moonhost.typed_array('Uint8Array', { 1, 2, 255 })
    assert.are.equal(moonhost.TypedArray, getmetatable(t))
    assert.are.equal('Uint8Array', t.kind)
    assert.are.same({ 1, 2, 255 }, t.values)
    assert.are.equal('Uint8Array(3)', tostring(t))
    assert.are.equal(0, #moonhost.typed_array('Float64Array').values)
  end)

  it('knows the kinds structured-clone carries', function()
    for _, k in ipairs { 'Int8Array', 'Uint8ClampedArray', 'Float32Array', 'ArrayBuffer', 'DataView' } do
      assert.are.equal(k, moonhost.typed_array(k, {}).kind)
    end
    assert.matches("unknown kind 'BigInt64Array'", error_of(moonhost.typed_array, 'BigInt64Array', {}), 1, true)
    assert.matches('value 2 is not a number', error_of(moonhost.typed_array, 'Uint8Array', { 1, 'x' }), 1, true)
  end)
end)

describe('the type metatables', function()
  it('are distinct and named moonhost.*', function()
    local seen = {}
    for _, name in ipairs { 'Date', 'BigInt', 'Map', 'Set', 'RegExp', 'JsError', 'TypedArray' } do
      local mt = moonhost[name]
      assert.are.equal('table', type(mt))
      assert.are.equal('moonhost.' .. name, mt.__name)
      assert.is_nil(seen[mt])
      seen[mt] = true
    end
  end)
end)
