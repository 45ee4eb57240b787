-- POST /refresh with chained refresh tokens.
--
-- jwtx rotates refresh tokens: every successful /refresh answers with the next refresh token,
-- and presenting an already-rotated one after the reuse grace ends the whole session. So each
-- connection must present the token returned by its own previous response. wrk's Lua hooks
-- run per thread, not per connection, so bench/run runs this with `-t N -c N` (one connection
-- per thread, one request in flight each) and gives each thread its own login session: the
-- refresh tokens are read from the file named by BENCH_TOKENS_FILE, one per line, and thread i
-- gets line i. A peer that does not rotate (the Flask peer) simply answers without a
-- `refresh_token`, and the thread keeps presenting the one it has.
--
-- `bench_bad` counts non-200 answers and 200 answers carrying no access token, and, with
-- BENCH_EXPECT_ROTATION=1 (a rotating system), 200 answers carrying no next refresh token: such
-- an answer breaks the thread's chain.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/harness") .. "/common.lua")

local tokens = {}
do
  local path = os.getenv("BENCH_TOKENS_FILE")
  if path then
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
      if #line > 0 then
        table.insert(tokens, line)
      end
    end
    f:close()
  end
end

function bench_setup(thread, i)
  local t = tokens[i]
  if not t then
    error("BENCH_TOKENS_FILE has fewer tokens than wrk has threads (need -t N -c N)")
  end
  thread:set("token", t)
end

local expect_rotation = os.getenv("BENCH_EXPECT_ROTATION") == "1"

function init(args)
  bench_bad = 0
  rotated = 0
end

function request()
  return wrk.format("POST", "/refresh", { ["Authorization"] = "Bearer " .. token })
end

function response(status, headers, body)
  if status ~= 200 then
    bench_bad = bench_bad + 1
    return
  end
  if not body:find('"access_token"', 1, true) then
    bench_bad = bench_bad + 1
  end
  local nxt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if nxt then
    token = nxt
    rotated = rotated + 1
  elseif expect_rotation then
    bench_bad = bench_bad + 1
  end
end
