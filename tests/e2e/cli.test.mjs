// The command line and the conf.d configuration: help, version, bad flags,
// configuration errors (exit 2, one line naming file and line/key), the
// lexical merge of fragments, flags over files, and the fragment sandbox.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { runMoonhost as runRaw, tempTree } from './lib/util.mjs'

/** Runs moonhost to completion; a sanitizer report fails the test outright. */
async function runMoonhost(args, opts) {
  const r = await runRaw(args, opts)
  assert.doesNotMatch(r.stderr, /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/, `sanitizer report for moonhost ${args.join(' ')}`)
  return r
}

/** stderr holds exactly one non-empty line. */
function assertOneLine(stderr) {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '')
  assert.equal(lines.length, 1, `expected a one-line error, got:\n${stderr}`)
  return lines[0]
}

/** Runs `moonhost run --config DIR` for a config that must be refused. */
async function runRefused(dir) {
  // No plugins dir and an ephemeral port: if the config were accepted the host
  // would start; the config error must stop it before that.
  const r = await runMoonhost(['run', '--config', dir, '--plugins', join(dir, 'no-plugins'), '--listen', '127.0.0.1:0'])
  assert.equal(r.signal, null)
  assert.equal(r.code, 2, `expected exit 2, got ${r.code}; stderr:\n${r.stderr}`)
  assert.doesNotMatch(r.stderr, /listening on/)
  return assertOneLine(r.stderr)
}

test('--help exits 0 and documents run and its options', async () => {
  const r = await runMoonhost(['--help'])
  assert.equal(r.code, 0)
  for (const word of ['run', '--listen', '--plugins', '--config', '--root']) {
    assert.ok(r.stdout.includes(word), `--help does not mention ${word}:\n${r.stdout}`)
  }
  assert.equal(r.stderr, '')
})

test('--version prints a version', async () => {
  const r = await runMoonhost(['--version'])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /^moonhost \d+\.\d+\.\d+/)
})

test('an unknown flag exits 2 with a one-line error naming it', async () => {
  const r = await runMoonhost(['run', '--frobnicate'])
  assert.equal(r.code, 2)
  const line = assertOneLine(r.stderr)
  assert.match(line, /--frobnicate/)
  assert.equal(r.stdout, '')
})

test('an unknown command exits 2 with a one-line error naming it', async () => {
  const r = await runMoonhost(['frobnicate'])
  assert.equal(r.code, 2)
  assert.match(assertOneLine(r.stderr), /frobnicate/)
})

test('a flag missing its value exits 2', async () => {
  const r = await runMoonhost(['run', '--listen'])
  assert.equal(r.code, 2)
  assert.match(assertOneLine(r.stderr), /--listen/)
})

test('a fragment with a Lua syntax error: exit 2, stderr names the file and the line', async (t) => {
  const dir = tempTree(t, {
    '10-ok.lua': 'return { mode = "dev" }\n',
    '20-broken.lua': 'return {\n  mode = "dev",\n  limits = { max_connections = = 5 },\n}\n',
  })
  const line = await runRefused(dir)
  assert.match(line, /20-broken\.lua:3:/)
})

test('a fragment with an unknown key: exit 2, stderr names the file and the key', async (t) => {
  const dir = tempTree(t, { '10-typo.lua': 'return { limits = { max_conections = 5 } }\n' })
  const line = await runRefused(dir)
  assert.match(line, /10-typo\.lua/)
  assert.match(line, /max_conections/)
})

test('an unknown top-level key: exit 2, stderr names the file and the key', async (t) => {
  const dir = tempTree(t, { '10-top.lua': 'return { listen_port = 80 }\n' })
  const line = await runRefused(dir)
  assert.match(line, /10-top\.lua/)
  assert.match(line, /listen_port/)
})

test('a key with the wrong type: exit 2, stderr names the file and the key', async (t) => {
  const dir = tempTree(t, { '10-type.lua': 'return { limits = { max_connections = "lots" } }\n' })
  const line = await runRefused(dir)
  assert.match(line, /10-type\.lua/)
  assert.match(line, /limits\.max_connections/)
})

test('an out-of-range value: exit 2, stderr names the file and the key', async (t) => {
  const dir = tempTree(t, { '10-range.lua': 'return { limits = { json_max_depth = 0 } }\n' })
  const line = await runRefused(dir)
  assert.match(line, /10-range\.lua/)
  assert.match(line, /json_max_depth/)
})

test('a fragment that does not return a table: exit 2 naming the file', async (t) => {
  const dir = tempTree(t, { '10-num.lua': 'return 42\n' })
  assert.match(await runRefused(dir), /10-num\.lua/)
})

test('config prints JSON: fragments merge in lexical order, flags override files', async (t) => {
  const dir = tempTree(t, {
    // Created out of order on purpose; lexical (bytewise) order is 10 < 20 < 9.
    '9-last.lua': 'return { limits = { json_max_depth = 99 } }\n',
    '20-later.lua': `return {
      listen = '127.0.0.1:9999',
      limits = { call_timeout_ms = 222, json_max_depth = 50 },
      plugins = { demo = { y = 2 } },
    }\n`,
    '10-first.lua': `return {
      mode = 'build',
      limits = { call_timeout_ms = 111, max_connections = 7 },
      log = { level = 'warn' },
      plugins = { demo = { x = 1, y = 1, list = { 'a', 'b' } } },
    }\n`,
    'README.txt': 'not a fragment: ignored (only *.lua files are read)\n',
  })

  const files = await runMoonhost(['config', '--config', dir])
  assert.equal(files.code, 0, files.stderr)
  const cfg = JSON.parse(files.stdout)
  assert.equal(cfg.limits.call_timeout_ms, 222, '20-later overrides 10-first')
  assert.equal(cfg.limits.max_connections, 7, 'tables merge key by key')
  assert.equal(cfg.limits.json_max_depth, 99, '9-last sorts after 20-later')
  assert.equal(cfg.limits.max_message_bytes, 1048576, 'defaults fill the rest')
  assert.equal(cfg.mode, 'build')
  assert.equal(cfg.listen, '127.0.0.1:9999')
  assert.equal(cfg.log.level, 'warn')
  assert.deepEqual(cfg.plugins.demo, { x: 1, y: 2, list: ['a', 'b'] })

  const flags = await runMoonhost(['config', '--config', dir, '--listen', '127.0.0.1:4321', '--log-level', 'trace', '--root', '/srv/app'])
  assert.equal(flags.code, 0, flags.stderr)
  const over = JSON.parse(flags.stdout)
  assert.equal(over.listen, '127.0.0.1:4321', '--listen overrides the files')
  assert.equal(over.log.level, 'trace', '--log-level overrides the files')
  assert.equal(over.root, '/srv/app')
  assert.equal(over.limits.call_timeout_ms, 222, 'flags leave other keys alone')
})

test('a bad flag value is refused like a bad file value', async (t) => {
  const dir = tempTree(t, { '10-ok.lua': 'return {}\n' })
  const r = await runMoonhost(['config', '--config', dir, '--listen', 'not-an-address:xyz'])
  assert.equal(r.code, 2)
  assertOneLine(r.stderr)
})

test('conf.d sandbox: os.getenv works, so secrets can come from the environment', async (t) => {
  const dir = tempTree(t, { '10-env.lua': "return { plugins = { deploy = { token = os.getenv('MOONHOST_E2E_TOKEN') } } }\n" })
  const r = await runMoonhost(['config', '--config', dir], { env: { MOONHOST_E2E_TOKEN: 's3cret' } })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).plugins.deploy.token, 's3cret')
})

test('conf.d sandbox: io.open is not available', async (t) => {
  const dir = tempTree(t, { '10-io.lua': "local f = io.open('/etc/hostname')\nreturn {}\n" })
  const line = await runRefused(dir)
  assert.match(line, /10-io\.lua:1/)
  assert.match(line, /\bio\b/)
})

test('conf.d sandbox: os.execute is not available and runs nothing', async (t) => {
  const dir = tempTree(t, {})
  const marker = join(dir, 'pwned')
  const frag = `os.execute('touch ${marker}')\nreturn {}\n`
  const conf = tempTree(t, { '10-exec.lua': frag })
  const line = await runRefused(conf)
  assert.match(line, /10-exec\.lua:1/)
  assert.match(line, /execute/)
  assert.equal(existsSync(marker), false, 'os.execute ran a command')
})

test('conf.d sandbox: require is not available', async (t) => {
  const dir = tempTree(t, { '10-req.lua': "local os2 = require('os')\nreturn {}\n" })
  const line = await runRefused(dir)
  assert.match(line, /10-req\.lua:1/)
  assert.match(line, /require/)
})

test('conf.d sandbox: load and dofile are not available', async (t) => {
  const dir = tempTree(t, { '10-load.lua': "local f = load('return 1')\nreturn {}\n" })
  assert.match(await runRefused(dir), /10-load\.lua:1.*load/)
  const dir2 = tempTree(t, { '10-dofile.lua': "dofile('/etc/hostname')\nreturn {}\n" })
  assert.match(await runRefused(dir2), /10-dofile\.lua:1.*dofile/)
})

test('conf.d sandbox: a fragment that never ends is stopped', async (t) => {
  const dir = tempTree(t, { '10-loop.lua': 'while true do end\nreturn {}\n' })
  assert.match(await runRefused(dir), /10-loop\.lua/)
})

// What the count hook cannot see: long C calls, xpcall handlers that run
// with hooks off, and a returned table whose shared subtables expand past
// the memory limit when converted. Each is refused with one line naming the
// file (before the guards, each hung the host or grew it to gigabytes).
const sandboxHangs = {
  'a backtracking string.find': "string.find(string.rep('a', 40000), string.rep('a*', 12) .. 'b')",
  'the quadratic trim through string.match': "local _ = ('x' .. (' '):rep(1 << 20) .. 'x'):match('^%s*(.-)%s*$')",
  'a backtracking string.gmatch': "for _ in string.rep('a', 40000):gmatch(('a*'):rep(5) .. 'b') do end",
  'a backtracking string.gsub': "string.rep('a', 40000):gsub(('a*'):rep(5) .. 'b', '')",
  'a huge table.move': 'table.move({}, 1, 1 << 40, 2)',
  'a loop of string.rep': "for _ = 1, 1e9 do local _ = string.rep('x', 4 << 20) end",
  'an xpcall handler that loops': 'xpcall(function() while true do end end, function() while true do end end)',
}
for (const [what, code] of Object.entries(sandboxHangs)) {
  test(`conf.d sandbox: ${what} is stopped`, { timeout: 30000 }, async (t) => {
    const dir = tempTree(t, { '10-hang.lua': `${code}\nreturn {}\n` })
    assert.match(await runRefused(dir), /10-hang\.lua: took too long \((instruction limit|time limit of \d+ ms)\)/)
  })
}

test('conf.d sandbox: a table of shared subtables is refused, not expanded', { timeout: 30000 }, async (t) => {
  // 22 levels of {t, t}: 2^22 copies of the leaf, some 400 MB as values.
  const bomb = "local t = { 'x' }\nfor _ = 1, 22 do t = { t, t } end\nreturn { plugins = { bomb = { t = t } } }\n"
  const dir = tempTree(t, { '10-bomb.lua': bomb })
  assert.match(await runRefused(dir), /10-bomb\.lua: plugins\.bomb\.t.*: the returned table is over 64 MiB once converted/)
  // moonhost config says the same.
  const r = await runMoonhost(['config', '--config', dir])
  assert.equal(r.code, 2)
  assert.match(assertOneLine(r.stderr), /10-bomb\.lua: .*over 64 MiB once converted/)
})

// The rest of the sandbox's promises (README "Configuration", docs/security.md):
// no __gc however it is set, 64 MiB of memory, no debug library to take the
// hook away, and error values or returned tables whose metamethods raise or loop.
const sandboxRefusals = {
  'a __gc metamethod': ["setmetatable({}, { __gc = function() while true do end end })", /cannot set __gc/],
  'a __gc put into the metatable with rawset': ["local mt = {}\nrawset(mt, '__gc', function() end)\nsetmetatable({}, mt)", /cannot set __gc/],
  'a string over 64 MiB': ["local s = string.rep('x', 80 << 20)", /not enough memory/],
  'a table over 64 MiB': ['local t = {}\nfor i = 1, 1e8 do t[i] = i end', /not enough memory/],
  'debug.sethook() then a loop': ['if debug then debug.sethook() end\nwhile true do end', /took too long \(instruction limit\)|debug/],
  'an error value whose __tostring raises': ["error(setmetatable({}, { __tostring = function() error('inner') end }))", /10-hostile\.lua/],
  'an error value whose __tostring loops': ['error(setmetatable({}, { __tostring = function() while true do end end }))', /took too long/],
  'a __close that loops': ['do local x <close> = setmetatable({}, { __close = function() while true do end end }) end', /took too long/],
}
for (const [what, [code, expected]] of Object.entries(sandboxRefusals)) {
  test(`conf.d sandbox: ${what} is refused in one line naming the file`, { timeout: 30000 }, async (t) => {
    const dir = tempTree(t, { '10-hostile.lua': `${code}\nreturn {}\n` })
    const line = await runRefused(dir)
    assert.match(line, /10-hostile\.lua/)
    assert.match(line, expected)
  })
}

test('conf.d: a returned table is read raw; metamethods that raise or loop never run', { timeout: 30000 }, async (t) => {
  const frag = `local raising = { __index = function() error('index ran') end, __pairs = function() while true do end end,
  __len = function() error('len ran') end }
return setmetatable({ log = setmetatable({ level = 'warn' }, raising), plugins = setmetatable({ x = { 1, 2 } }, raising) }, raising)
`
  const dir = tempTree(t, { '10-meta.lua': frag })
  const r = await runMoonhost(['config', '--config', dir])
  assert.equal(r.code, 0, r.stderr)
  const cfg = JSON.parse(r.stdout)
  assert.equal(cfg.log.level, 'warn')
  assert.deepEqual(cfg.plugins.x, [1, 2])
})

test('the defaults README "Limits and bad input" and docs/security.md "Defaults" state are the ones moonhost runs with', async (t) => {
  const r = await runMoonhost(['config', '--config', tempTree(t, {})])
  assert.equal(r.code, 0, r.stderr)
  const cfg = JSON.parse(r.stdout)
  const KiB = 1024
  const MiB = 1024 * KiB
  const stated = {
    listen: '127.0.0.1:7812', // loopback only
    'auth.required': true,
    'auth.generate_token': true, // a random token at every start
    'auth.allowed_origins': [],
    'auth.allowed_hosts': [],
    'limits.max_message_bytes': 1 * MiB,
    'limits.untrusted_max_message_bytes': 128 * KiB,
    'limits.untrusted_calls_per_s': 20,
    'limits.max_inflight_per_client': 256,
    'limits.max_connections': 10000,
    'limits.send_queue_bytes': 16 * MiB,
    'limits.call_timeout_ms': 10000, // calls to clients
    'limits.json_max_depth': 128,
    'limits.stream_queue_bytes': 64 * KiB,
    'lua.instruction_budget': 100000000,
    'lua.max_run_ms': 2000,
    'lua.memory_bytes': 256 * MiB,
  }
  for (const [path, want] of Object.entries(stated))
    assert.deepEqual(path.split('.').reduce((o, k) => o?.[k], cfg), want, path)
})

test('an error about a key or a message holding line breaks or terminal escapes is still one line, without them', async (t) => {
  const cases = {
    '10-key.lua': ["return { ['bad\\nkey'] = 1 }", /unknown key 'bad\?key'/],
    '10-nested.lua': ["return { limits = { ['x\\r\\ny'] = 1 } }", /unknown key 'limits\.x\?\?y'/],
    '10-escape.lua': ["error('\\27[31mred\\27[0m')", /10-escape\.lua:1: \?\[31mred\?\[0m/],
    '10-dot.lua': ["return { ['a.\\nb'] = 1 }", /has a dot/],
  }
  for (const [file, [code, expected]] of Object.entries(cases)) {
    const line = await runRefused(tempTree(t, { [file]: `${code}\n` }))
    assert.match(line, expected, file)
    assert.doesNotMatch(line, /[\x00-\x1f\x7f]/, `${file}: a control character in ${JSON.stringify(line)}`)
  }
})
