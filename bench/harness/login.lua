-- POST /login with the demo user's credentials, as a JSON body. BENCH_LOGIN_USER and
-- BENCH_LOGIN_PASSWORD override the defaults (testuser / testpass).
dofile((os.getenv("BENCH_LUA_DIR") or "bench/harness") .. "/common.lua")

local user = os.getenv("BENCH_LOGIN_USER") or "testuser"
local password = os.getenv("BENCH_LOGIN_PASSWORD") or "testpass"

wrk.method = "POST"
wrk.path = "/login"
wrk.body = string.format('{"username":"%s","password":"%s"}', user, password)
wrk.headers["Content-Type"] = "application/json"
