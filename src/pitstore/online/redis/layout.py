"""The key layout of the Redis online store, and the Lua scripts that run on the server.

Layout version 1. ``P`` is the store's ``key_prefix`` followed by ``:`` (nothing when empty)::

    P{#}:gen                      hash  view -> generation (absent = 0)
    P{#}:gc                       set   views with deleted generations still to clean up
    P<view>:<gen>:{<entity key>}  hash  one row: __ts, __created (absent = null), and one field
                                        per non-null feature (values: :mod:`.codec`)

**Generations make ``delete_view`` O(1).** A row key holds the view's generation; deleting a
view increments it (``HINCRBY``), so every reader and writer moves to an empty key space at
once, whatever the view's size. The old keys are garbage, removed later by a ``SCAN`` over the
view's key pattern (:meth:`RedisOnlineStore.purge_deleted`, run in the background after a
delete); ``{#}:gc`` remembers pending clean-ups, so a crash loses none. The write script
checks the generation atomically and refuses a stale one, so once the counter moves, no row
is ever written under the old generation again and one full ``SCAN`` removes them all.
Rejected alternative: a per-view set of row keys (exact deletion without SCAN) costs a set
entry (~70 bytes) and a ``SADD`` on every new row, to speed up a rare operation.

**Hash tags: one per entity.** The only ``{...}`` in a row key is the encoded entity key, so
every view's row of one entity hashes to the same Redis Cluster slot: the rows one entity's
read touches live on one node and can be read together by one script or ``MULTI``, while a
view's rows still spread over every slot (a ``{P:view}`` tag would put a whole view on one
node). A ``}`` byte inside an entity key only shortens the tag (still the same for all views
of that entity). The prefix may not contain braces. The meta keys share the tag ``{#}``.
This store talks to one Redis server (or a primary); the scripts touch the meta hash and row
keys together, which a Cluster client would have to split per slot.

Times and versions are compared in Lua as canonical decimal strings (Lua numbers are doubles,
exact only to 2**53): see ``lt`` below.
"""

from __future__ import annotations

from typing import Final

from pitstore.errors import ConfigError

LAYOUT_VERSION: Final = 1
TS_FIELD: Final = b"__ts"
CREATED_FIELD: Final = b"__created"

#: Smallest int64: the stored stand-in for a null created timestamp in comparisons.
_MIN_INT64: Final = "-9223372036854775808"


def head(prefix: str) -> bytes:
    """``P``: the bytes every key of a store with ``prefix`` starts with."""
    if "{" in prefix or "}" in prefix:
        raise ConfigError(
            f"Redis key_prefix {prefix!r} contains a brace; braces are reserved for Redis "
            "Cluster hash tags. Hint: use letters, digits, '_', '-', ':' or '.'.",
            key="key_prefix",
        )
    return (prefix + ":").encode() if prefix else b""


def gen_key(p: bytes) -> bytes:
    """The hash of view generations."""
    return p + b"{#}:gen"


def gc_key(p: bytes) -> bytes:
    """The set of views whose old generations are not cleaned up yet."""
    return p + b"{#}:gc"


def row_head(p: bytes, view: str, gen: int) -> bytes:
    """The row key of an entity is ``row_head(...) + entity_key + b"}"``."""
    return p + f"{view}:{gen}:{{".encode()


def glob_escape(text: bytes) -> bytes:
    """``text`` with the glob characters of SCAN MATCH patterns escaped."""
    escaped = bytearray()
    for byte in text:
        if byte in b"*?[]\\":
            escaped += b"\\"
        escaped.append(byte)
    return bytes(escaped)


def view_pattern(p: bytes, view: str) -> bytes:
    """A SCAN MATCH pattern for every row key of ``view``, any generation."""
    return glob_escape(p) + view.encode() + b":*"


def row_gen(key: bytes, start: int) -> int | None:
    """The generation in a row key whose generation starts at ``start``; None if not a row key.

    Keys of other views or stores can match a SCAN pattern (prefix ``a`` view ``b`` matches a
    key of prefix ``a:b``): only ``<digits>:{`` after the view counts.
    """
    end = key.find(b":{", start)
    digits = key[start:end]
    if end < 0 or not digits.isdigit():
        return None
    return int(digits)


# --- Lua ----------------------------------------------------------------------------------------

_LT = """
-- a < b for canonical decimal strings of 64-bit integers, exactly.
local function mag_lt(a, b)  -- same-length digit strings
  local n = #a
  if n <= 15 then return tonumber(a) < tonumber(b) end
  local ha, hb = tonumber(a:sub(1, n - 9)), tonumber(b:sub(1, n - 9))
  if ha ~= hb then return ha < hb end
  return tonumber(a:sub(n - 8)) < tonumber(b:sub(n - 8))
end
local function lt(a, b)
  if a == b then return false end
  local na, nb = a:byte(1) == 45, b:byte(1) == 45
  if na ~= nb then return na end
  if na then a, b = b:sub(2), a:sub(2) end  -- both negative: compare magnitudes swapped
  if #a ~= #b then return #a < #b end
  return mag_lt(a, b)
end
"""

#: Monotonic upsert of a chunk of rows of one view.
#: KEYS: gen hash, then one row key per row. ARGV: view, gen, ttl_ms (0: none), grace_ms,
#: nf, nf feature names, then column by column (m = #KEYS - 1 rows): m ts, m created
#: ('' = null), and m values per feature ('' = null).
#: Returns the number of rows applied, or the current generation as a string when ``gen`` is
#: stale (the view was deleted meanwhile: nothing was written).
WRITE_SCRIPT: Final = (
    _LT
    + f"""
local view, gen = ARGV[1], ARGV[2]
local current = redis.call('HGET', KEYS[1], view) or '0'
if current ~= gen then return current end
local ttl, grace, nf = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local m = #KEYS - 1
local base = 5 + nf
local applied = 0
for i = 1, m do
  local key = KEYS[i + 1]
  local ts, created = ARGV[base + i], ARGV[base + m + i]
  local old = redis.call('HMGET', key, '__ts', '__created')
  local ots = old[1]
  local newer = true
  if ots then
    local c, oc = created, old[2] or '{_MIN_INT64}'
    if c == '' then c = '{_MIN_INT64}' end
    newer = not (lt(ts, ots) or (ts == ots and lt(c, oc)))
    if newer then redis.call('DEL', key) end
  end
  if newer then
    local args = {{'__ts', ts}}
    if created ~= '' then args[3] = '__created'; args[4] = created end
    for j = 1, nf do
      local v = ARGV[base + (j + 1) * m + i]
      if v ~= '' then args[#args + 1] = ARGV[5 + j]; args[#args + 1] = v end
    end
    redis.call('HSET', key, unpack(args))
    if ttl > 0 then
      local at = math.floor(tonumber(ts) / 1000) + ttl + grace
      redis.call('PEXPIREAT', key, string.format('%.0f', at))
    end
    applied = applied + 1
  end
end
return applied
"""
)

#: Read rows of several views. KEYS: gen hash, then the row keys, view by view.
#: ARGV: number of views n, then per view: name, gen, number of keys, nf, nf feature names.
#: Returns {current gens}, followed by one {ts, values...} per key when every gen matched
#: (one atomic snapshot of every view), or {current gens} alone when one was stale.
READ_SCRIPT: Final = """
local n = tonumber(ARGV[1])
local names, gens, counts, fields = {}, {}, {}, {}
local a = 2
for v = 1, n do
  names[v], gens[v], counts[v] = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local nf = tonumber(ARGV[a + 3])
  local f = {'__ts'}
  for j = 1, nf do f[j + 1] = ARGV[a + 3 + j] end
  fields[v] = f
  a = a + 4 + nf
end
local current = redis.call('HMGET', KEYS[1], unpack(names))
local out = {current}
local stale = false
for v = 1, n do
  current[v] = current[v] or '0'
  if current[v] ~= gens[v] then stale = true end
end
if stale then return out end
local k = 2
for v = 1, n do
  local f = fields[v]
  for _ = 1, counts[v] do
    out[k] = redis.call('HMGET', KEYS[k], unpack(f))
    k = k + 1
  end
end
return out
"""

#: Delete a view: KEYS: gen hash, gc set; ARGV: view. Returns the previous generation.
DELETE_SCRIPT: Final = """
local gen = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[1])
return gen - 1
"""

#: After a clean-up of ``view`` below generation ``gen``: forget the pending clean-up unless
#: the view was deleted again meanwhile. KEYS: gen hash, gc set; ARGV: view, gen.
GC_DONE_SCRIPT: Final = """
if (redis.call('HGET', KEYS[1], ARGV[1]) or '0') == ARGV[2] then
  return redis.call('SREM', KEYS[2], ARGV[1])
end
return 0
"""
