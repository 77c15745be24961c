-- moonhost configuration: the built-in defaults, written out as documentation.
--
-- Every *.lua file in conf.d/ is read in lexical (bytewise) order and
-- deep-merged over the previous ones: tables merge key by key, anything else
-- (strings, numbers, lists) replaces. So a later file such as
-- conf.d/10-local.lua only needs the keys it changes, e.g.
--
--   return { listen = '0.0.0.0:8080', limits = { call_timeout_ms = 30000 } }
--
-- Command-line flags override every file.
--
-- A fragment is plain Lua that returns a table. It runs in a sandbox: the
-- base, string, table, math and utf8 libraries, print (written to the log),
-- and os.getenv / os.time / os.date / os.clock, so secrets can come from the
-- environment:
--
--   return { plugins = { deploy = { token = os.getenv('DEPLOY_TOKEN') } } }
--
-- There is no io, require, load or dofile, and a fragment may run for at most
-- 10 million VM instructions. Unknown keys and out-of-range values are errors
-- that name the file and the key.
return {
  -- Address the RPC server listens on: 'HOST:PORT', '[IPv6]:PORT' or ':PORT'
  -- (host 127.0.0.1). Port 0..65535; 0 picks a free port.
  listen = '127.0.0.1:7812',

  -- Directory the plugins are loaded from, relative to the working directory.
  plugins_dir = 'plugins',

  -- The project root, as plugins see it in ctx.root.
  root = '.',

  -- 'dev' or 'build'.
  mode = 'dev',

  dev_server = {
    -- The URL of the dev server moonhost runs beside (moonhost run -- npx vite),
    -- shown to plugins as ctx.dev_server.url, e.g. 'http://localhost:5173'.
    -- Empty when unknown.
    url = '',
  },

  log = {
    -- Least severe level written to stderr:
    -- 'error', 'warn', 'info', 'debug' or 'trace'.
    level = 'info',
    -- 'text': one line per event for people ("TIME LEVEL [area] message").
    -- 'json': one JSON object per line for log shippers: ts, level, area,
    -- plugin (on lines about one plugin), msg, and fields of the event
    -- (README "Operating moonhost"). Flag: --log-format.
    format = 'text',
  },

  limits = {
    -- Largest message accepted from a client, in bytes.
    -- 1024 .. 1073741824 (1 GiB). Default 1 MiB.
    max_message_bytes = 1048576,

    -- A streamed oRPC input (an async iterator as a call's input): all its
    -- items together, in bytes; each one is at most max_message_bytes.
    -- 1024 .. 1099511627776 (1 TiB). Default 64 MiB.
    max_input_stream_bytes = 67108864,

    -- Largest message accepted from a client that has not presented a token
    -- (auth.required), in bytes; bigger closes the socket with 1009. The
    -- handshake calls are a few hundred bytes. The smaller of this and
    -- max_message_bytes applies. 1024 .. 1073741824 (1 GiB). Default 128 KiB.
    untrusted_max_message_bytes = 131072,

    -- A stream's producer (moonhost.stream's emit) waits while its reader
    -- holds more than this many bytes it has not delivered yet: a slow
    -- reader slows its own stream and nothing else. 1024 .. 1073741824.
    -- Default 64 KiB.
    stream_queue_bytes = 65536,

    -- Calls and events an untrusted client may send per second (a burst of
    -- as many is allowed); more are answered overloaded without running.
    -- Integer >= 1.
    untrusted_calls_per_s = 20,

    -- Calls and events one client may have running at once; more calls are
    -- refused as overloaded, more events dropped with a log line. The stream
    -- runs its devframe subscribes started count too: a subscribe that would
    -- start one more is refused (overloaded), and so are its calls while they
    -- fill it (devframe's unsubscribe and cancel never are). Integer >= 1.
    max_inflight_per_client = 256,

    -- Simultaneous client connections; more are refused. Integer >= 1.
    max_connections = 10000,

    -- Bytes queued for one client past which it is watched: if it then takes
    -- nothing from its queue for two checks 250 ms apart it is dropped (1008).
    -- A queue that would pass 4 times this is dropped at once.
    -- Integer >= 65536. Default 16 MiB.
    send_queue_bytes = 16777216,

    -- Time a call may take before it fails with rpc_timeout, in
    -- milliseconds. Integer >= 1. Default 10 s.
    call_timeout_ms = 10000,

    -- Deepest nesting of arrays/objects accepted in a message. 1 .. 10000.
    json_max_depth = 128,

    -- Seconds of silence on a WebSocket before the server sends a ping.
    -- 1 .. 65535.
    ping_interval_s = 30,

    -- Seconds of silence (no pong either) before the server hangs up.
    -- 2 .. 65535; keep it above ping_interval_s.
    idle_timeout_s = 90,
  },

  lua = {
    -- VM instructions one handler call may execute (all its resumes
    -- together) before it is stopped. Integer >= 1000.
    instruction_budget = 100000000,

    -- Milliseconds one handler may run without waiting (a call to
    -- moonhost.sleep or a client yields and resets the clock): the loop serves
    -- nobody else meanwhile. Past it the call is stopped with rpc_timeout.
    -- Integer >= 1.
    max_run_ms = 2000,

    -- Milliseconds a plugin's load may take, waits in its setup included
    -- (a moonhost.sleep, a call to a peer that never answers): past it the
    -- setup is stopped and the load fails with rpc_timeout (the previous
    -- version keeps serving). Integer >= 0; 0: no limit.
    setup_timeout_ms = 10000,

    -- Memory one plugin's Lua state may hold, in bytes.
    -- Integer >= 1048576 (1 MiB). Default 256 MiB.
    memory_bytes = 268435456,
  },

  cache = {
    -- Default bound on the entries a cached function keeps. Integer >= 1.
    max_entries = 1024,

    -- Default bound on the bytes a cached function keeps. Integer >= 1.
    -- Default 64 MiB.
    max_bytes = 67108864,
  },

  auth = {
    -- When true, a client is untrusted until it presents a token (in the
    -- WebSocket URL: ?token=..., or through the auth calls Vite DevTools
    -- clients make), and an untrusted client may only call functions whose
    -- names start with 'anonymous:' (and Vite DevTools 0.1's handshake,
    -- 'vite:anonymous:auth'). Broadcasts reach trusted clients only.
    required = true,

    -- Tokens that make a client trusted. Keep them out of the repository,
    -- e.g. tokens = { os.getenv('MOONHOST_TOKEN') }. An entry may also be
    -- { token = '...', roles = { 'admin' } }: a client that presents that
    -- token holds those roles, the ones mesh.permissions judge (a peer's
    -- announced role is only a label). A plain string grants no roles.
    tokens = {},

    -- Make a random token at start and print the URL that carries it, like
    -- a notebook server does. The token changes at every start.
    generate_token = true,

    -- Browser origins allowed to open a WebSocket besides the loopback ones
    -- (localhost, *.localhost, 127.x.x.x, [::1], any port), written as
    -- 'https://app.example.test:8443'. Other browser origins get HTTP 403.
    -- Requests without an Origin header (tools, Node) are allowed, but
    -- still need a token when auth.required is true.
    allowed_origins = {},

    -- Host header names accepted besides loopback names (localhost,
    -- *.localhost) and IP addresses, any port: 'devbox.example.test', or
    -- '.example.test' for that name and every name under it ('*': any name,
    -- which turns this defence off). A request or WebSocket upgrade naming
    -- another host gets HTTP 403, one without a Host header 400. This stops
    -- DNS rebinding: a page whose own name the attacker points at 127.0.0.1
    -- still sends that name as its Host. When listen names a host (not an
    -- address), that name is accepted too. Add the public name here when a
    -- reverse proxy passes it on as Host.
    allowed_hosts = {},
  },

  mesh = {
    -- This host's id in the peer directory. Empty: moonhost:HOSTNAME:PORT.
    host_id = '',

    -- Key for the HMAC-SHA256 signatures on relayed identities, and what a
    -- host link proves it holds (a token alone does not make a link). Hosts
    -- that link to each other must share it. Empty: a random key per start,
    -- and no host links.
    -- Keep it out of the repository: key = os.getenv('MOONHOST_MESH_KEY').
    key = '',

    -- When true, a provider called through make() gets one more argument:
    -- { requestor = { id =, role =, meta = } } of the peer that asked.
    requestor_details = false,

    -- Hosts to link to, as ws://HOST:PORT/__ws?token=TOKEN URLs. Linked
    -- hosts share their directories, and calls cross from one to another.
    -- They must share mesh.key (each side proves it holds it). Reconnects
    -- with backoff when a host restarts.
    upstreams = {},

    -- How many hosts a relayed call may cross. 1 .. 64.
    max_hops = 8,

    -- Which roles may call which functions through the mesh (relay, make).
    -- The caller's roles are those its token was granted (auth.tokens), never
    -- the role it announced; none (and the host's own calls): 'anonymous'.
    -- Rules are tried in order; the first whose roles match one of the
    -- caller's decides: a name matching deny is refused; with allow, only
    -- matching names pass. No matching rule: allowed. Globs use * and ?, e.g.
    --   permissions = { { roles = { 'iframe' }, allow = { 'b:*' } },
    --                   { roles = { '*' }, deny = { 'admin:*' } } }
    permissions = {},
  },

  -- Across machines (README "Across machines: NATS"): hosts with the same
  -- nats.url and subject_prefix form one mesh through a NATS server. Each
  -- host's peers appear in every host's directory, and relayed calls and
  -- events reach a peer on any host. Needs mesh.key, the same on every host
  -- (it signs identities and every message a host publishes). Read at start.
  nats = {
    -- nats://HOST:PORT of the NATS server; several, comma-separated, for a
    -- NATS cluster; tls://HOST:PORT (all of them) with nats.tls below.
    -- Empty: this host joins no cluster.
    url = '',

    -- First tokens of every subject (docs/protocol.md "Across machines").
    -- Hosts with another prefix on the same server are another mesh.
    subject_prefix = 'moonhost',

    -- Credentials, when the NATS server asks for them: a token, or a user
    -- and password. Never logged; keep them out of the repository, e.g.
    -- token = os.getenv('MOONHOST_NATS_TOKEN').
    token = '',
    user = '',
    password = '',

    -- Milliseconds between two publications of this host's peers. A host
    -- not heard for 3 of them (killed, or cut off from NATS) has its peers
    -- removed from every directory. 50 .. 10000.
    heartbeat_ms = 400,

    -- TLS to the NATS server, with tls:// URLs: PEM files read at start
    -- (relative to the working directory). ca: the CAs the server's
    -- certificate must chain to (needed with tls://; the system's bundle,
    -- /etc/ssl/certs/ca-certificates.crt, for a public CA). cert and key:
    -- this host's client certificate, when the server verifies clients.
    tls = {
      ca = '',
      cert = '',
      key = '',
    },
  },

  http = {
    -- Path prefix of the oRPC endpoint: POST /rpc/a/b calls function 'a:b'
    -- (README "HTTP (oRPC)"). Starts with '/'.
    prefix = '/rpc',

    -- Milliseconds an HTTP request may take, reading its body and running
    -- the call together; past it the client gets 408 and a late result is
    -- dropped. A streamed input (input_stream = true) may take longer: for
    -- it this is how long its body may stand still. Integer >= 1. Default 30 s.
    request_timeout_ms = 30000,

    -- Milliseconds between the comments an event stream (a stream function
    -- called over HTTP) sends while it has nothing else to send, so proxies
    -- and clients keep it open. Integer >= 10. Default 5 s, as oRPC's server.
    sse_keepalive_ms = 5000,

    -- The transport GET /__devtools/__connection.json tells devframe clients
    -- (Vite DevTools 0.8) to use: 'websocket' or 'sse'. Both are always
    -- served and listed there; this is the one a client left on 'auto'
    -- picks. 'sse' (GET /__devtools/__sse for the stream, POST for frames)
    -- is for proxies that do not pass WebSocket upgrades (README "The SSE
    -- backend"); the same trust, limits and broadcasts apply to both.
    devframe_backend = 'websocket',
  },

  metrics = {
    -- A token that may read GET /metrics and nothing else, for a scraper
    -- that should not hold a token trusted with calls. The host's own
    -- tokens (auth.tokens, the start-up one) read it too. '' : none.
    token = '',
  },

  -- Settings per plugin: plugins.NAME is the table plugin NAME receives as
  -- ctx.config. Free-form; each plugin documents its own keys. For example:
  --
  --   plugins = { demo = { greeting = 'hi' } }
  plugins = {},
}
