--[[
Clawback for rspamd: judges each message with libclaw (through LuaJIT FFI on
task:get_content(), no copy) and reports every Clawback rule as its own
symbol, CLAWBACK_<RULE>, with the rule's detail as the symbol's option.
A reject or quarantine verdict becomes at least the configured rspamd
action, and the X-Clawback-* headers (any that came from outside removed)
go out through the milter reply.

Settings: the clawback { } section (defaults in clawback.conf, modules.d
style; site changes in local.d/clawback.conf). Without the library or with
an unreadable Clawback configuration the module disables itself with one
log line.

Scores: each symbol is registered with its score under the [weights] of
the Clawback configuration (the rule's built-in score where [weights] sets
none), and a hit counts what Clawback counted (a rule that counts double,
as REPLY_TO_DIVERTS to free-mail does, has weight 2). A score set in
rspamd's own configuration (local.d/groups.conf, or the web UI) replaces
the registered one, as for any rspamd symbol. [weights] is read when rspamd
reads its configuration: reload rspamd after changing it.
]]

if confighelp then
  rspamd_config:add_example(nil, 'clawback',
      "Clawback: judge each message with libclaw; every Clawback rule is a symbol",
      [[
clawback {
  # libclaw, as ffi.load finds it (a file name on the loader's path, or a path)
  library = "libclaw.so.0";
  # Clawback's own configuration: [policy], indicators, [actions] and
  # [weights] (each symbol's score; reload rspamd after changing it)
  config = "/etc/clawback/clawback.conf";
  # Each Clawback rule is the symbol <prefix><RULE> in this group
  prefix = "CLAWBACK_";
  group = "clawback";
  # The rspamd action a Clawback verdict makes at least
  actions {
    reject = "reject";
    quarantine = "add header";
  }
  # Add X-Clawback-Id, -Verdict and -Rules through the milter reply
  headers = true;
  # Off: the module does nothing
  enabled = true;
}
]])
  return
end

local N = 'clawback'
local rspamd_logger = require "rspamd_logger"
local lua_util = require "lua_util"
local lua_mime = require "lua_mime"
local lua_auth_results = require "lua_auth_results"
local ts = (require "tableshape").types
local ffi = require "ffi"

local API_VERSION = 4

local settings = {
  library = 'libclaw.so.0',
  config = '/etc/clawback/clawback.conf',
  prefix = 'CLAWBACK_',
  group = 'clawback',
  -- rspamd action at least applied for these Clawback actions
  actions = {
    reject = 'reject',
    quarantine = 'add header',
  },
  headers = true,
}

local settings_schema = ts.shape({
  enabled = ts.boolean:is_optional(),
  library = ts.string,
  config = ts.string,
  prefix = ts.string,
  group = ts.string,
  actions = ts.map_of(ts.one_of { 'reject', 'quarantine' }, ts.string),
  headers = ts.boolean,
}, { extra_fields = ts.map_of(ts.string, ts.any) })

-- Only opaque handles, strings, numbers and arrays of strings: libclaw's
-- structs are not laid out here (claw.h, "Scanning in one call"), so the
-- library may change them without breaking this module. tests/mta/rspamd.sh
-- checks that no struct is declared.
ffi.cdef [[
typedef struct claw_engine claw_engine_t;
typedef struct claw_verdict claw_verdict_t;
int claw_api_version(void);
const char *claw_version(void);
int claw_engine_open(const char *config_path, claw_engine_t **engine, char **error);
int claw_engine_refresh(claw_engine_t *engine);
const char *claw_engine_get(const claw_engine_t *engine, const char *section, const char *name);
const char *claw_engine_org_domain(const claw_engine_t *engine, const char *domain);
int claw_scan_fields(claw_engine_t *engine, const char *data, size_t len,
                     const char *const *fields, unsigned flags, claw_verdict_t **verdict);
void claw_verdict_destroy(claw_verdict_t *verdict);
int claw_verdict_action(const claw_verdict_t *verdict);
size_t claw_verdict_n_rules(const claw_verdict_t *verdict);
const char *claw_verdict_rule_name(const claw_verdict_t *verdict, size_t i);
const char *claw_verdict_rule_detail(const claw_verdict_t *verdict, size_t i);
size_t claw_verdict_header(const claw_verdict_t *verdict, char *buf, size_t size);
size_t claw_verdict_rules_header(const claw_verdict_t *verdict, char *buf, size_t size);
size_t claw_verdict_reason(const claw_verdict_t *verdict, char *buf, size_t size);
const char *claw_action_to_string(int action);
const char *claw_status_to_string(int status);
const char *claw_rule_name(size_t i);
double claw_engine_rule_score(const claw_engine_t *engine, size_t i);
double claw_verdict_rule_score(const claw_verdict_t *verdict, size_t i);
const char *claw_rule_description(size_t i);
void claw_id_new(char *out);
void claw_free(void *p);
]]

local opts = rspamd_config:get_all_opt(N)
if not opts then
  return
end
settings = lua_util.override_defaults(settings, opts)
local res, err = settings_schema:transform(settings)
if not res then
  rspamd_logger.errx(rspamd_config, 'clawback: invalid settings: %s; module disabled', err)
  lua_util.disable_module(N, 'config')
  return
end
settings = res
if settings.enabled == false then
  lua_util.disable_module(N, 'config')
  return
end

local ok, lib = pcall(ffi.load, settings.library)
if not ok then
  rspamd_logger.errx(rspamd_config, 'clawback: cannot load %s (%s); module disabled',
      settings.library, lib)
  lua_util.disable_module(N, 'fail')
  return
end
if lib.claw_api_version() ~= API_VERSION then
  rspamd_logger.errx(rspamd_config, 'clawback: %s has API version %s, this module needs %s; ' ..
      'module disabled', settings.library, lib.claw_api_version(), API_VERSION)
  lua_util.disable_module(N, 'fail')
  return
end

local engine
do
  local ep = ffi.new('claw_engine_t *[1]')
  local errp = ffi.new('char *[1]')
  local st = lib.claw_engine_open(settings.config, ep, errp)
  if st ~= 0 then
    local why = errp[0] ~= nil and ffi.string(errp[0]) or ffi.string(lib.claw_status_to_string(st))
    lib.claw_free(errp[0])
    rspamd_logger.errx(rspamd_config, 'clawback: %s; module disabled', why)
    lua_util.disable_module(N, 'fail')
    return
  end
  engine = ffi.gc(ep[0], nil) -- lives as long as the worker
end

-- Settings of the Clawback configuration, read as the Exim plugin reads them.
local function setting(section, name, default)
  local v = lib.claw_engine_get(engine, section, name)
  return v ~= nil and ffi.string(v) or default
end
local fail_open = setting('mta', 'on_failure', 'defer') == 'accept'
local test_fault = setting('mta', 'test_fault', 'none')
local dmarc_evaluate = setting('dmarc', 'evaluate', 'yes')

-- The envelope as claw_scan_fields() takes it: name, value, ..., NULL.
-- @keep holds the Lua strings as long as the C array points into them.
local function envelope(task, keep, dmarc)
  local fields = {}
  local function add(name, value)
    if value then
      fields[#fields + 1] = name
      fields[#fields + 1] = value
    end
  end
  local ip = task:get_from_ip()
  add('client_ip', ip and ip:is_valid() and tostring(ip) or nil)
  add('helo', task:get_helo())
  local from = task:get_from('smtp')
  add('mail_from', from and from[1] and (from[1].addr or '') or nil)
  for _, r in ipairs(task:get_recipients('smtp') or {}) do
    add('rcpt', r.addr or '')
  end
  -- rspamd's own SPF and DKIM results, as its Authentication-Results field
  -- would say them: Clawback's DMARC aligns them with the From domain.
  add('authres', lua_auth_results.gen_auth_results(task, nil))
  if dmarc then
    add('dmarc_lookup', dmarc.lookup)
    add('dmarc_domain', dmarc.domain)
    add('dmarc_record', dmarc.record)
  end
  keep.fields = fields
  local c = ffi.new('const char *[?]', #fields + 1)
  for i, v in ipairs(fields) do
    c[i - 1] = v
  end
  c[#fields] = nil
  return c
end

-- A text libclaw writes into a buffer (snprintf-like), as a Lua string.
local function written(fn, v)
  local need = tonumber(fn(v, nil, 0))
  local buf = ffi.new('char[?]', need + 1)
  fn(v, buf, need + 1)
  return ffi.string(buf, need)
end

-- A detail carries message text: control, bidi and line-separator
-- characters are written as \uXXXX (as claw scan does), not passed on.
local function escape(s)
  -- LuaJIT (which FFI means) has no utf8 library: decode the 1-3 byte
  -- forms the patterns below match.
  local function u(c)
    local b1, b2, b3 = c:byte(1, 3)
    local cp
    if #c == 1 then
      cp = b1
    elseif #c == 2 then
      cp = (b1 % 32) * 64 + (b2 % 64)
    else
      cp = (b1 % 16) * 4096 + (b2 % 64) * 64 + (b3 % 64)
    end
    return string.format('\\u%04x', cp)
  end
  s = s:gsub('[%z\1-\31\127]', u)
  s = s:gsub('\194[\128-\159]', u)
  s = s:gsub('\226\128[\142\143\168-\174]', u)
  s = s:gsub('\226\129[\166-\169]', u)
  return s
end

-- Each rule's score as registered (from [weights]), by rule name.
local registered = {}

local function judge(task, dmarc)
  lib.claw_engine_refresh(engine)
  local content = task:get_content()
  local keep = {}
  local env = envelope(task, keep, dmarc)
  local vp = ffi.new('claw_verdict_t *[1]')
  local st = test_fault == 'internal' and -1 or
      lib.claw_scan_fields(engine, content:ptr(), #content, env, 0, vp)
  if st ~= 0 then
    -- Not judged: a temporary failure (the MTA keeps the message and the
    -- sender retries) unless [mta] on_failure = accept.
    local why = st == -1 and 'injected fault (test_fault)' or
        ffi.string(lib.claw_status_to_string(st))
    task:insert_result(settings.prefix .. 'FAIL', 1.0, why)
    if fail_open then
      rspamd_logger.warnx(task, 'clawback: message not scanned, accepted (on_failure=accept): %s',
          why)
    else
      rspamd_logger.errx(task, 'clawback: message not scanned, deferred: %s', why)
      task:set_pre_result { action = 'soft reject', module = N,
                            message = 'clawback: message not scanned, try again later' }
    end
    return
  end
  local v = ffi.gc(vp[0], lib.claw_verdict_destroy)
  local action = ffi.string(lib.claw_action_to_string(lib.claw_verdict_action(v)))
  for i = 0, tonumber(lib.claw_verdict_n_rules(v)) - 1 do
    local detail = lib.claw_verdict_rule_detail(v, i)
    local name = ffi.string(lib.claw_verdict_rule_name(v, i))
    -- The hit's share of the symbol's score: 1, or 2 for a doubled hit.
    local base = registered[name]
    local w = base and base ~= 0 and lib.claw_verdict_rule_score(v, i) / base or 1.0
    task:insert_result(settings.prefix .. name, w,
        detail ~= nil and escape(ffi.string(detail)) or nil)
  end

  local id = ffi.new('char[27]')
  lib.claw_id_new(id)
  id = ffi.string(id)
  if settings.headers then
    -- The values are libclaw's verdict codec's, which the archive reads back.
    local add = {
      ['X-Clawback-Id'] = { order = 0, value = id },
      ['X-Clawback-Verdict'] = { order = 0, value = written(lib.claw_verdict_header, v) },
    }
    local rules = written(lib.claw_verdict_rules_header, v)
    if rules ~= '' then
      add['X-Clawback-Rules'] = { order = 0, value = rules }
    end
    lua_mime.modify_headers(task, {
      remove = { ['X-Clawback-Id'] = 0, ['X-Clawback-Verdict'] = 0, ['X-Clawback-Rules'] = 0 },
      add = add,
    })
  end

  local forced = settings.actions[action]
  if forced then
    local buf = ffi.new('char[400]')
    lib.claw_verdict_reason(v, buf, 400)
    -- A reject is final; a milder action is a floor the other rules may raise.
    task:set_pre_result { action = forced, module = N,
                          flags = forced ~= 'reject' and 'least' or nil,
                          message = 'Rejected by policy: ' .. ffi.string(buf) }
  end
  lib.claw_verdict_destroy(ffi.gc(v, nil))
end

-- The DMARC records of the From domain and of its organisational domain,
-- looked up with rspamd's own resolver, which does not block the worker as
-- libclaw's own lookup would; then judge(task, what was found). Both are
-- asked at once, as rspamd's dmarc module does.
local function with_dmarc_records(task, then_judge)
  local from = task:get_from('mime')
  local dom = from and #from == 1 and from[1].domain and from[1].domain:lower()
  if not dom or dom == '' or dmarc_evaluate ~= 'yes' then
    return then_judge(task, nil)
  end
  -- The organisational domain as libclaw takes it (its Public Suffix List).
  local o = lib.claw_engine_org_domain(engine, dom)
  local org = o ~= nil and ffi.string(o) or dom
  local answers, pending = {}, (org ~= dom) and 2 or 1
  local function done()
    -- The From domain's record, else the organisation's (RFC 7489 6.6.3).
    local a = answers[dom]
    if a.lookup == 'none' and org ~= dom then
      a = answers[org]
    end
    then_judge(task, a)
  end
  for _, d in ipairs(org ~= dom and { dom, org } or { dom }) do
    task:get_resolver():resolve_txt({
      task = task,
      name = '_dmarc.' .. d,
      forced = true,
      callback = function(_, _, results, err)
        local records = {}
        for _, r in ipairs(results or {}) do
          if r:match('^%s*[vV]=[dD][mM][aA][rR][cC]1') then
            records[#records + 1] = r
          end
        end
        local lookup = 'none'
        if err and err ~= 'requested record is not found' and
            err ~= 'no records with this name' then
          lookup = 'temperror'
        elseif #records > 0 then
          lookup = 'found'
        end
        answers[d] = { lookup = lookup, domain = d, record = table.concat(records, '\n') }
        pending = pending - 1
        if pending == 0 then
          done()
        end
      end,
    })
  end
end

local function clawback_cb(task)
  with_dmarc_records(task, judge)
end

local cb_id = rspamd_config:register_symbol {
  name = settings.prefix .. 'CHECK',
  type = 'callback',
  callback = clawback_cb,
  group = settings.group,
  description = 'Clawback: judge the message',
  flags = 'nice',
}
-- Clawback's DMARC reads rspamd's SPF and DKIM results: judge after them.
for _, dep in ipairs({ 'SPF_CHECK', 'DKIM_CHECK' }) do
  rspamd_config:register_dependency(settings.prefix .. 'CHECK', dep)
end
rspamd_config:register_symbol {
  name = settings.prefix .. 'FAIL',
  type = 'virtual',
  parent = cb_id,
  score = 0.0,
  group = settings.group,
  description = 'Clawback could not judge the message',
}

local i = 0
while true do
  local name = lib.claw_rule_name(i)
  if name == nil then
    break
  end
  name = ffi.string(name)
  registered[name] = lib.claw_engine_rule_score(engine, i)
  rspamd_config:register_symbol {
    name = settings.prefix .. name,
    type = 'virtual',
    parent = cb_id,
    score = registered[name],
    group = settings.group,
    description = ffi.string(lib.claw_rule_description(i)),
    one_shot = true,
  }
  i = i + 1
end

rspamd_logger.infox(rspamd_config, 'clawback: libclaw %s, %s rules, configuration %s',
    ffi.string(lib.claw_version()), i, settings.config)
