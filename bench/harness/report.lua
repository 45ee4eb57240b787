-- Static requests (method, URL and headers from wrk's command line: -H 'Authorization: …' or
-- -H 'Cookie: …'); only adds the BENCHJSON summary line.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/harness") .. "/common.lua")
