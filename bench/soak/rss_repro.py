#!/usr/bin/env python3
"""Resident memory of `jwtx serve` under one kind of load at a time (reproducer for the soak's
RSS finding). Usage: rss_repro.py JWTX_BIN {login|protected} [requests] [threads]

Starts jwtx on a fresh temporary data directory with --demo, sends the requests from `threads`
threads, prints VmRSS before, during (every second) and 5 s after, then stops the server.
"""
import http.client, json, os, subprocess, sys, tempfile, threading, time

binary, kind = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 400
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 12
port = 5977
d = tempfile.mkdtemp(prefix="jwtx-rss.")
env = dict(os.environ, JWTX_LOGIN_IP_RATE_LIMIT="10000/1m", RUST_LOG="warn")
p = subprocess.Popen([binary, "--data-dir", d + "/data", "serve", "--demo", "--bind", f"127.0.0.1:{port}"],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def rss():
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

def req(c, m, path, body=None, hdr=None):
    h = dict(hdr or {})
    if body is not None:
        body = json.dumps(body); h["Content-Type"] = "application/json"
    c.request(m, path, body=body, headers=h)
    r = c.getresponse(); return r.status, r.read()

try:
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port); s, _b = req(c, "GET", "/readyz")
            if s == 200: break
        except OSError: time.sleep(0.05)
    time.sleep(0.5)
    st, b = req(c, "POST", "/login", {"username": "testuser", "password": "testpass"})
    tok = json.loads(b)["access_token"]
    print(f"{kind}: {n} requests from {threads} threads; RSS at start {rss()} KiB", flush=True)
    left = [n]; lock = threading.Lock()
    def w():
        c = http.client.HTTPConnection("127.0.0.1", port)
        while True:
            with lock:
                if left[0] <= 0: return
                left[0] -= 1
            if kind == "login":
                s, _ = req(c, "POST", "/login", {"username": "testuser", "password": "testpass"})
            else:
                s, _ = req(c, "GET", "/protected", hdr={"Authorization": "Bearer " + tok})
            assert s == 200, s
    ts = [threading.Thread(target=w) for _ in range(threads)]
    t0 = time.time(); [t.start() for t in ts]
    while any(t.is_alive() for t in ts):
        time.sleep(1); print(f"  t={time.time()-t0:4.0f}s left={left[0]} RSS {rss()} KiB", flush=True)
    time.sleep(5); print(f"5 s after: RSS {rss()} KiB", flush=True)
finally:
    p.terminate(); p.wait()
