#!/usr/bin/env python3
"""jwtx soak and restart-under-load test (issue 5, "Soak" and "Restart under load").

Python 3.11 standard library only (threading + http.client). Normally started by
``bench/soak/run``, which builds the release binary and picks a fresh data directory; this
script starts, watches, SIGKILLs and restarts ``jwtx serve`` itself.

Phases:

1. setup: start ``jwtx serve --demo`` on a fresh data directory, create users with the CLI
   (while the server runs), check that re-signing with the data directory's secret works (so
   expired tokens can be forged with the real key).
2. throttle: one user, one client address, wrong passwords: 401 x N, then 429 with Retry-After.
3. soak (``--duration``, 600 s by default): worker threads each own a slice of the users and
   run a weighted mix of good and bad logins, /protected (header and cookie tokens), /me,
   refresh chains, reuse of a rotated refresh token after the grace window, /logout (access,
   refresh or cookie token), /logout/all, DELETE /sessions/{id}, /sessions, hostile tokens
   (garbage, forged, alg none, alg swap, expired, tampered, wrong type) and re-checks of a
   random sample of every token revoked so far; a CLI thread runs ``jwtx revoke --jti`` and
   ``jwtx revoke --user`` against the running server and measures propagation; a sampler reads
   VmRSS every 5 s.
4. final check: every revoked token (all of them) is refused.
5. restart rounds: sessions are logged in, then a logout storm runs and the server is SIGKILLed
   half-way through it; the server is restarted on the same data directory and every session
   whose logout was answered 200 before the kill must be refused (access and refresh token),
   while a control group of never-logged-out sessions still works. After the first restart,
   every token revoked during the soak is re-checked too.

Invariants (any breach is a violation, and the exit status is 1): no 5xx; no revoked token
accepted (after the documented <= 1 s propagation for CLI revocations made by another
process); no hostile token accepted; no transport error while the server is meant to be up;
RSS at the end of the soak within 10 % of the RSS after the first minute; the throttle answers
429 with Retry-After; after each restart every logout confirmed before the kill is in force
and every control session works.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from array import array
from collections import defaultdict

# ----------------------------------------------------------------------------------------------
# helpers


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims_of(token: str) -> dict:
    return json.loads(b64u_dec(token.split(".")[1]))


def now_s() -> float:
    return time.monotonic()


class TransportError(Exception):
    """No HTTP response (connection refused, reset, timeout)."""

    def __init__(self, exc: BaseException, sent: bool):
        super().__init__(repr(exc))
        self.exc = exc
        self.sent = sent  # False only when the connection itself could not be made


class Resp:
    __slots__ = ("status", "headers", "body", "ms")

    def __init__(self, status, headers, body, ms):
        self.status = status
        self.headers = headers
        self.body = body
        self.ms = ms

    def json(self):
        try:
            return json.loads(self.body)
        except Exception:
            return None

    def msg(self):
        j = self.json()
        return j.get("msg") if isinstance(j, dict) else None


# ----------------------------------------------------------------------------------------------
# statistics and violations


class Stats:
    """Per-thread counters, merged at the end (no lock on the hot path)."""

    def __init__(self):
        self.status = defaultdict(int)  # (route, status) -> n
        self.lat = defaultdict(lambda: array("d"))  # route -> ms
        self.notes = defaultdict(int)  # free-form counters

    def record(self, route, status, ms):
        self.status[(route, status)] += 1
        self.lat[route].append(ms)

    def merge(self, other: "Stats"):
        for k, v in other.status.items():
            self.status[k] += v
        for k, v in other.lat.items():
            self.lat[k].extend(v)
        for k, v in other.notes.items():
            self.notes[k] += v


class Violations:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []  # (t, kind, detail)
        self.counts = defaultdict(int)

    def add(self, kind, detail):
        with self.lock:
            self.counts[kind] += 1
            if len(self.items) < 200:
                self.items.append((round(time.time(), 3), kind, detail))
        print(f"VIOLATION {kind}: {detail}", file=sys.stderr, flush=True)

    def total(self):
        return sum(self.counts.values())


# ----------------------------------------------------------------------------------------------
# the server process


class Server:
    def __init__(self, binary, data_dir, port, env, log_path):
        self.binary = binary
        self.data_dir = data_dir
        self.port = port
        self.env = env
        self.log_path = log_path
        self.proc = None

    def start(self, demo=True, timeout=60):
        args = [self.binary, "--data-dir", self.data_dir, "serve", "--bind", f"127.0.0.1:{self.port}"]
        if demo:
            args.append("--demo")
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {datetime.datetime.now().isoformat()} {' '.join(args)}\n".encode())
        log.flush()
        t0 = now_s()
        self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=log, start_new_session=True)
        log.close()
        with open(os.path.join(os.path.dirname(self.log_path), "server.pid"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = t0 + timeout
        while now_s() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jwtx exited with {self.proc.returncode} at start; see {self.log_path}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return now_s() - t0
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("jwtx did not become ready in time")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def rss_kib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args, stdin=None, timeout=60):
        return subprocess.run(
            [self.binary, "--data-dir", self.data_dir, *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


# ----------------------------------------------------------------------------------------------
# an HTTP client bound to one source address, keep-alive


class Client:
    def __init__(self, port, stats: Stats, viol: Violations, src="127.0.0.1", check_5xx=True):
        self.port = port
        self.stats = stats
        self.viol = viol
        self.src = src
        self.conn = None
        self.check_5xx = check_5xx

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(self.src, 0))
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, route=None, headers=None, body=None, record=True):
        route = route or f"{method} {path}"
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        if self.conn is None:
            try:
                self._connect()
            except OSError as e:
                self.conn = None
                raise TransportError(e, sent=False)
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise TransportError(e, sent=True)
        ms = (time.perf_counter() - t0) * 1000.0
        if r.will_close:
            self.close()
        resp = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data, ms)
        resp.headers["__set_cookie"] = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        if record:
            self.stats.record(route, r.status, ms)
        if self.check_5xx and r.status >= 500:
            self.viol.add("5xx", f"{route} -> {r.status} {data[:200]!r}")
        return resp


def parse_set_cookies(resp: Resp) -> dict:
    out = {}
    for line in resp.headers.get("__set_cookie", []):
        nv = line.split(";", 1)[0]
        if "=" in nv:
            n, v = nv.split("=", 1)
            out[n.strip()] = v.strip()
    return out


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


# ----------------------------------------------------------------------------------------------
# sessions and the revoked-token registry


class Session:
    __slots__ = ("user", "sid", "access", "refresh", "csrf_a", "csrf_r", "old_access", "old_refresh", "created")

    def __init__(self, user, login_body, cookies):
        self.user = user
        self.access = login_body["access_token"]
        self.refresh = login_body["refresh_token"]
        self.sid = claims_of(self.access).get("sid")
        # the double-submit value is the token's own `csrf` claim (what the csrf_* cookie holds)
        self.csrf_a = claims_of(self.access).get("csrf")
        self.csrf_r = claims_of(self.refresh).get("csrf")
        if cookies.get("csrf_access_token") not in (None, self.csrf_a):
            raise AssertionError("csrf_access_token cookie differs from the access token's csrf claim")
        self.old_access = []  # earlier access tokens of this session (still live until it ends)
        self.old_refresh = []  # (token, rotated_at) rotated-out refresh tokens
        self.created = now_s()

    def all_tokens(self):
        """Every token of this session worth re-checking once it is revoked (bounded)."""
        toks = [("access", self.access, self.csrf_a), ("refresh", self.refresh, self.csrf_r)]
        toks += [("access", t, None) for t in self.old_access[-3:]]
        toks += [("refresh", t, None) for t, _ in self.old_refresh[-3:]]
        return toks


class Revoked:
    """Every token that was revoked, and from when it must be refused."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []  # (kind_of_revocation, token_type, token, csrf, effective_at_monotonic)
        self.by_kind = defaultdict(int)

    def add_session(self, why, sess: Session, effective_at=None):
        eff = effective_at if effective_at is not None else now_s()
        with self.lock:
            for ttype, tok, csrf in sess.all_tokens():
                self.items.append((why, ttype, tok, csrf, eff))
                self.by_kind[why] += 1

    def add_token(self, why, ttype, tok, csrf=None, effective_at=None):
        eff = effective_at if effective_at is not None else now_s()
        with self.lock:
            self.items.append((why, ttype, tok, csrf, eff))
            self.by_kind[why] += 1

    def sample(self, k):
        with self.lock:
            n = len(self.items)
            if n == 0:
                return []
            return [self.items[random.randrange(n)] for _ in range(k)]

    def snapshot(self):
        with self.lock:
            return list(self.items)


def check_refused(client: Client, viol: Violations, item, label, use_cookie=None):
    """Present a revoked token; anything but a refusal is a violation. Returns the status."""
    why, ttype, tok, csrf, eff = item
    if now_s() < eff:
        return None
    if use_cookie is None:
        use_cookie = random.random() < 0.25
    if ttype == "access":
        if use_cookie:
            r = client.request("GET", "/protected", route=f"{label} GET /protected (cookie)",
                               headers={"Cookie": f"access_token_cookie={tok}"})
        else:
            r = client.request("GET", "/protected", route=f"{label} GET /protected", headers=bearer(tok))
    else:
        if use_cookie and csrf:
            r = client.request("POST", "/refresh", route=f"{label} POST /refresh (cookie)",
                               headers={"Cookie": f"refresh_token_cookie={tok}", "X-CSRF-TOKEN": csrf})
        else:
            r = client.request("POST", "/refresh", route=f"{label} POST /refresh", headers=bearer(tok))
    if r.status < 400:
        viol.add("revoked token accepted", f"{why} {ttype} token -> {r.status} {r.body[:120]!r} jti={claims_of(tok).get('jti')} sid={claims_of(tok).get('sid')}")
    elif r.status != 401:
        client.stats.notes[f"revoked recheck unexpected status {r.status}"] += 1
    else:
        m = r.msg()
        client.stats.notes[f"revoked recheck 401 {m}"] += 1
    return r.status


# ----------------------------------------------------------------------------------------------
# hostile tokens


class Forger:
    def __init__(self, secret: bytes | None):
        self.secret = secret

    @staticmethod
    def _sign(key, alg, header, payload):
        h = b64u(json.dumps(header, separators=(",", ":")).encode())
        p = b64u(json.dumps(payload, separators=(",", ":")).encode())
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        sig = hmac.new(key, f"{h}.{p}".encode(), digest).digest()
        return f"{h}.{p}.{b64u(sig)}"

    def resign(self, token, **changes):
        c = claims_of(token)
        c.update(changes)
        return self._sign(self.secret, "HS256", {"alg": "HS256", "typ": "JWT"}, c)

    def hostile(self, good_access: str, good_refresh: str):
        """(label, route, method, token, allowed statuses)."""
        c = claims_of(good_access)
        h, p, s = good_access.split(".")
        kinds = []
        kinds.append(("garbage", random.choice([
            "x", "not.a.jwt", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9", b64u(os.urandom(40)),
            "eyJ" + "A" * 60 + "." + "B" * 40 + "." + "C" * 43, "Bearer", "%00%01",
        ])))
        kinds.append(("forged-signature", self._sign(os.urandom(32), "HS256", {"alg": "HS256", "typ": "JWT"}, c)))
        kinds.append(("alg-none", b64u(b'{"alg":"none","typ":"JWT"}') + "." + p + "."))
        kinds.append(("alg-none-sig", b64u(b'{"alg":"none","typ":"JWT"}') + "." + p + "." + s))
        tampered = dict(c, sub="admin", roles=["admin", "user"])
        kinds.append(("tampered-payload", h + "." + b64u(json.dumps(tampered).encode()) + "." + s))
        kinds.append(("truncated", good_access[: random.randrange(10, len(good_access) - 1)]))
        kinds.append(("padded-b64", good_access + "="))
        kinds.append(("oversize", "eyJ" + "A" * 9000))
        kinds.append(("refresh-as-access", good_refresh))
        if self.secret:
            t = int(time.time())
            kinds.append(("expired", self.resign(good_access, iat=t - 7200, nbf=t - 7200, exp=t - 3600)))
            kinds.append(("alg-swap-HS512", self._sign(self.secret, "HS512", {"alg": "HS512", "typ": "JWT"}, c)))
            kinds.append(("crit-header", self._sign(self.secret, "HS256", {"alg": "HS256", "typ": "JWT", "crit": ["exp"]}, c)))
            kinds.append(("jku-header", self._sign(self.secret, "HS256", {"alg": "HS256", "typ": "JWT", "jku": "http://127.0.0.1:1/jwks"}, c)))
            kinds.append(("exp-string", self.resign(good_access, exp=str(c["exp"]))))
            kinds.append(("unknown-user", self.resign(good_access, sub="no-such-user-" + uuid.uuid4().hex[:8])))
        return kinds


# ----------------------------------------------------------------------------------------------
# the soak


ROUTES_WEIGHTS = [
    ("login", 5),
    ("bad_login", 3),
    ("protected_header", 30),
    ("protected_cookie", 12),
    ("me", 8),
    ("refresh_header", 8),
    ("refresh_cookie", 3),
    ("refresh_grace", 1),
    ("reuse", 2),
    ("logout", 4),
    ("logout_all", 1),
    ("delete_session", 2),
    ("sessions", 2),
    ("hostile", 8),
    ("recheck", 5),
    ("probes", 2),
]


class Ctx:
    def __init__(self, args, server: Server, users, forger: Forger):
        self.args = args
        self.server = server
        self.users = users  # name -> password
        self.forger = forger
        self.viol = Violations()
        self.revoked = Revoked()
        self.stop = threading.Event()
        self.bad_counter = 0
        self.bad_lock = threading.Lock()
        self.all_stats = []
        self.cli_figures = defaultdict(list)
        self.server_up = threading.Event()
        self.server_up.set()

    def next_bad_pair(self):
        """Round-robin over (user, source address) so no pair reaches the per-user failure limit."""
        with self.bad_lock:
            n = self.bad_counter
            self.bad_counter += 1
        names = sorted(self.users)
        addr_i = n % self.args.bad_login_addresses
        user = names[(n // self.args.bad_login_addresses) % len(names)]
        return user, f"127.0.{100 + addr_i // 250}.{1 + addr_i % 250}"


class Worker(threading.Thread):
    def __init__(self, ctx: Ctx, idx, users):
        super().__init__(name=f"worker-{idx}", daemon=True)
        self.ctx = ctx
        self.idx = idx
        self.users = users
        self.stats = Stats()
        ctx.all_stats.append(self.stats)
        self.client = Client(ctx.args.port, self.stats, ctx.viol, src=f"127.0.0.{10 + idx}")
        self.sessions: list[Session] = []
        self.parked: list[Session] = []  # waiting for the grace window to pass (reuse detection)
        self.rng = random.Random(1000 + idx)
        self.actions = [a for a, w in ROUTES_WEIGHTS for _ in range(w)]

    # -- helpers

    def expect(self, r: Resp, want, what):
        if r.status != want:
            # a live, unrevoked token refused (or similar): not a revocation violation, but wrong
            self.ctx.viol.add("unexpected status", f"{what}: wanted {want}, got {r.status} {r.body[:160]!r}")
            return False
        return True

    def login(self, user=None):
        user = user or self.rng.choice(self.users)
        r = self.client.request("POST", "/login", body={"username": user, "password": self.ctx.users[user]})
        if not self.expect(r, 200, f"login {user}"):
            return None
        s = Session(user, r.json(), parse_set_cookies(r))
        self.sessions.append(s)
        while len(self.sessions) > self.ctx.args.sessions_per_thread:
            self.logout(self.sessions[0], how="header-access")
        return s

    def pick(self):
        if not self.sessions:
            return self.login()
        return self.rng.choice(self.sessions)

    def end_session(self, s: Session, why):
        if s in self.sessions:
            self.sessions.remove(s)
        self.ctx.revoked.add_session(why, s)

    def logout(self, s: Session, how=None):
        how = how or self.rng.choice(["header-access", "header-refresh", "cookie"])
        if how == "header-access":
            r = self.client.request("POST", "/logout", headers=bearer(s.access))
        elif how == "header-refresh":
            r = self.client.request("POST", "/logout", route="POST /logout (refresh token)", headers=bearer(s.refresh))
        else:
            r = self.client.request("POST", "/logout", route="POST /logout (cookie)",
                                    headers={"Cookie": f"access_token_cookie={s.access}; csrf_access_token={s.csrf_a}",
                                             "X-CSRF-TOKEN": s.csrf_a})
        if self.expect(r, 200, f"logout {how}"):
            self.end_session(s, f"logout ({how})")
            # the session must be over at once (same process: no propagation delay)
            r2 = self.client.request("GET", "/protected", route="check GET /protected after logout", headers=bearer(s.access))
            if r2.status != 401:
                self.ctx.viol.add("revoked token accepted", f"access token right after logout -> {r2.status}")
        else:
            self.sessions.remove(s) if s in self.sessions else None

    # -- actions

    def do_login(self):
        self.login()

    def do_bad_login(self):
        if self.rng.random() < 0.3:
            user, src = "nobody-" + uuid.uuid4().hex[:10], f"127.0.0.{10 + self.idx}"
        else:
            user, src = self.ctx.next_bad_pair()
        c = Client(self.ctx.args.port, self.stats, self.ctx.viol, src=src)
        try:
            r = c.request("POST", "/login", route="POST /login (bad password)", body={"username": user, "password": "wrong-" + uuid.uuid4().hex[:6]})
        finally:
            c.close()
        self.expect(r, 401, f"bad-password login {user} from {src}")

    def do_protected_header(self):
        s = self.pick()
        if s:
            r = self.client.request("GET", "/protected", headers=bearer(s.access))
            if self.expect(r, 200, "protected (header) with a live token"):
                if r.json() != {"logged_in_as": s.user}:
                    self.ctx.viol.add("wrong identity", f"{r.body[:100]!r} for {s.user}")

    def do_protected_cookie(self):
        s = self.pick()
        if s:
            r = self.client.request("GET", "/protected", route="GET /protected (cookie)",
                                    headers={"Cookie": f"access_token_cookie={s.access}; csrf_access_token={s.csrf_a}"})
            self.expect(r, 200, "protected (cookie) with a live token")

    def do_me(self):
        s = self.pick()
        if s:
            r = self.client.request("GET", "/me", headers=bearer(s.access))
            if self.expect(r, 200, "/me with a live token"):
                j = r.json() or {}
                if j.get("identity") != s.user or j.get("session_id") != s.sid:
                    self.ctx.viol.add("wrong identity", f"/me {j} for {s.user} {s.sid}")

    def _rotated(self, s: Session, r: Resp):
        body = r.json() or {}
        if "access_token" not in body:
            # A refresh token sent as a cookie is answered in cookies only (cookie mode).
            jar = parse_set_cookies(r)
            body = {"access_token": jar["access_token_cookie"], "refresh_token": jar["refresh_token_cookie"]}
        s.old_refresh.append((s.refresh, now_s()))
        s.old_access.append(s.access)
        del s.old_access[:-4]
        del s.old_refresh[:-6]
        s.access = body["access_token"]
        s.refresh = body["refresh_token"]
        s.csrf_a = claims_of(s.access).get("csrf")
        s.csrf_r = claims_of(s.refresh).get("csrf")

    def do_refresh_header(self):
        s = self.pick()
        if s:
            r = self.client.request("POST", "/refresh", headers=bearer(s.refresh))
            if self.expect(r, 200, "refresh (header) with the current refresh token"):
                self._rotated(s, r)

    def do_refresh_cookie(self):
        s = self.pick()
        if s:
            r = self.client.request("POST", "/refresh", route="POST /refresh (cookie)",
                                    headers={"Cookie": f"refresh_token_cookie={s.refresh}; csrf_refresh_token={s.csrf_r}",
                                             "X-CSRF-TOKEN": s.csrf_r})
            if self.expect(r, 200, "refresh (cookie) with the current refresh token"):
                self._rotated(s, r)

    def do_refresh_grace(self):
        """The token just replaced, within the grace window: a new access token, no new refresh token."""
        cands = [s for s in self.sessions if s.old_refresh and now_s() - s.old_refresh[-1][1] < 5]
        if not cands:
            return self.do_refresh_header()
        s = self.rng.choice(cands)
        r = self.client.request("POST", "/refresh", route="POST /refresh (grace)", headers=bearer(s.old_refresh[-1][0]))
        if self.expect(r, 200, "refresh with the just-replaced token within grace"):
            body = r.json()
            if "refresh_token" in body:
                self.ctx.viol.add("grace issued a refresh token", "grace refresh returned a new refresh token")
            s.old_access.append(s.access)
            s.access = body["access_token"]
            s.csrf_a = claims_of(s.access).get("csrf")

    def do_reuse(self):
        """Present a rotated refresh token after the grace window: the whole session is revoked."""
        # Any rotated-out token whose rotation is older than the grace window (only the token
        # just replaced, within the window, is honoured).
        # Sessions in the pool live a few seconds, so a session is *parked* (taken out of the
        # pool, refreshed once) and its old refresh token presented once the grace has passed.
        grace = self.ctx.args.grace + 1.0
        cands = [s for s in self.parked if any(now_s() - at > grace for _, at in s.old_refresh)]
        if not cands:
            if len(self.parked) < 4 and self.sessions:
                s = self.rng.choice(self.sessions)
                r = self.client.request("POST", "/refresh", headers=bearer(s.refresh))
                if self.expect(r, 200, "refresh before parking"):
                    self._rotated(s, r)
                    self.sessions.remove(s)
                    self.parked.append(s)
            return
        s = self.rng.choice(cands)
        self.parked.remove(s)
        old = self.rng.choice([t for t, at in s.old_refresh if now_s() - at > grace])
        r = self.client.request("POST", "/refresh", route="POST /refresh (reuse after grace)", headers=bearer(old))
        if r.status == 200:
            self.ctx.viol.add("reuse accepted", "a rotated refresh token was accepted after the grace window")
        elif self.expect(r, 401, "reuse of a rotated refresh token"):
            self.stats.notes["reuse detected (401)"] += 1
            self.end_session(s, "reuse detection")
            for ttype, tok, csrf in s.all_tokens():
                check_refused(self.client, self.ctx.viol, ("reuse detection", ttype, tok, csrf, 0), "check")

    def do_logout(self):
        s = self.pick()
        if s:
            self.logout(s)

    def do_logout_all(self):
        s = self.pick()
        if not s:
            return
        r = self.client.request("POST", "/logout/all", headers=bearer(s.access))
        if self.expect(r, 200, "logout/all"):
            for x in [x for x in self.sessions if x.user == s.user]:
                self.end_session(x, "logout/all")
            for x in [x for x in self.parked if x.user == s.user]:
                self.parked.remove(x)
                self.ctx.revoked.add_session("logout/all", x)

    def do_delete_session(self):
        s = self.pick()
        if not s:
            return
        mine = [x for x in self.sessions if x.user == s.user and x is not s]
        target = self.rng.choice(mine) if mine and self.rng.random() < 0.7 else s
        r = self.client.request("DELETE", f"/sessions/{target.sid}", route="DELETE /sessions/{id}", headers=bearer(s.access))
        if r.status in (200, 204):
            self.end_session(target, "DELETE /sessions/{id}")
        else:
            self.expect(r, 200, "DELETE /sessions/{id}")

    def do_sessions(self):
        s = self.pick()
        if not s:
            return
        r = self.client.request("GET", "/sessions", headers=bearer(s.access))
        if self.expect(r, 200, "GET /sessions"):
            body = r.json()
            text = json.dumps(body)
            if s.sid not in text:
                self.ctx.viol.add("session missing", f"GET /sessions does not list the caller's session {s.sid}")
            for x in self.sessions:
                if x.user == s.user and x.sid not in text:
                    self.ctx.viol.add("session missing", f"live session {x.sid} not listed")

    def do_hostile(self):
        s = self.pick()
        if not s:
            return
        kinds = self.ctx.forger.hostile(s.access, s.refresh)
        label, tok = self.rng.choice(kinds)
        where = self.rng.random()
        if where < 0.6:
            r = self.client.request("GET", "/protected", route=f"hostile GET /protected", headers=bearer(tok))
        elif where < 0.8:
            r = self.client.request("GET", "/protected", route="hostile GET /protected (cookie)", headers={"Cookie": f"access_token_cookie={tok}"})
        elif where < 0.9:
            r = self.client.request("GET", "/me", route="hostile GET /me", headers=bearer(tok))
        else:
            if label == "refresh-as-access":
                tok = s.access  # access token on /refresh
            r = self.client.request("POST", "/refresh", route="hostile POST /refresh", headers=bearer(tok))
        self.stats.notes[f"hostile {label} -> {r.status}"] += 1
        if r.status < 400:
            self.ctx.viol.add("hostile token accepted", f"{label} -> {r.status} {r.body[:100]!r}")
        elif r.status not in (401, 422):
            self.stats.notes[f"hostile unexpected status {r.status} ({label})"] += 1

    def do_recheck(self):
        for item in self.ctx.revoked.sample(3):
            check_refused(self.client, self.ctx.viol, item, "recheck")

    def do_probes(self):
        path = self.rng.choice(["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"])
        r = self.client.request("GET", path)
        self.expect(r, 200, path)

    def run(self):
        try:
            for u in self.users[:2]:
                self.login(u)
            while not self.ctx.stop.is_set():
                a = self.rng.choice(self.actions)
                try:
                    getattr(self, "do_" + a)()
                except TransportError as e:
                    self.ctx.viol.add("transport error", f"{a}: {e}")
                    time.sleep(0.1)
                if self.ctx.args.think_ms:
                    time.sleep(self.ctx.args.think_ms / 1000.0)
        except Exception as e:  # a bug in this script: report it loudly
            self.ctx.viol.add("soak script error", f"{self.name}: {e!r}")
            import traceback

            traceback.print_exc()
        finally:
            self.client.close()


class CliRevoker(threading.Thread):
    """`jwtx revoke --jti` and `--user` from another process while the server runs."""

    def __init__(self, ctx: Ctx, victims):
        super().__init__(name="cli-revoker", daemon=True)
        self.ctx = ctx
        self.victims = victims
        self.stats = Stats()
        ctx.all_stats.append(self.stats)
        self.client = Client(ctx.args.port, self.stats, ctx.viol, src="127.0.0.9")

    def login(self, user):
        r = self.client.request("POST", "/login", route="POST /login (cli victim)", body={"username": user, "password": self.ctx.users[user]})
        if r.status != 200:
            self.ctx.viol.add("unexpected status", f"victim login {user} -> {r.status}")
            return None
        return Session(user, r.json(), parse_set_cookies(r))

    def wait_refused(self, tok, ttype, t_done, what):
        """Poll until refused; returns the delay after the CLI exited, in seconds."""
        while True:
            if ttype == "access":
                r = self.client.request("GET", "/protected", route="cli-propagation GET /protected", headers=bearer(tok))
            else:
                r = self.client.request("GET", "/me", route="cli-propagation GET /me (refresh token: expect 422)", headers=bearer(tok))
            dt = now_s() - t_done
            if r.status == 401:
                return dt
            if dt > 10:
                self.ctx.viol.add("revoked token accepted", f"{what}: still {r.status} {dt:.1f}s after `jwtx revoke` exited")
                return dt
            time.sleep(0.02)

    def run(self):
        n = 0
        try:
            while not self.ctx.stop.wait(self.ctx.args.cli_every):
                n += 1
                user = self.victims[n % len(self.victims)]
                if n % 2:
                    s = self.login(user)
                    if not s:
                        continue
                    jti = claims_of(s.access)["jti"]
                    p = self.ctx.server.cli("revoke", "--jti", jti)
                    t_done = now_s()
                    if p.returncode != 0:
                        self.ctx.viol.add("cli failed", f"revoke --jti: {p.returncode} {p.stderr[:200]}")
                        continue
                    dt = self.wait_refused(s.access, "access", t_done, "revoke --jti")
                    self.ctx.cli_figures["revoke --jti propagation s"].append(dt)
                    if dt > 1.0:
                        self.ctx.viol.add("cli revoke slower than 1 s", f"revoke --jti took {dt:.2f}s to reach the server")
                    self.ctx.revoked.add_token("cli revoke --jti", "access", s.access, s.csrf_a, effective_at=t_done + 1.0)
                    # only that token: the session's refresh token still works
                    r = self.client.request("POST", "/refresh", route="POST /refresh (cli victim)", headers=bearer(s.refresh))
                    if r.status != 200:
                        self.ctx.viol.add("unexpected status", f"refresh after revoke --jti of the access token -> {r.status}")
                    else:
                        s2 = Session(user, r.json(), {})
                        self.client.request("POST", "/logout", route="POST /logout (cli victim)", headers=bearer(s2.access))
                else:
                    sess = [self.login(user) for _ in range(3)]
                    sess = [s for s in sess if s]
                    for s in sess:
                        r = self.client.request("POST", "/refresh", route="POST /refresh (cli victim)", headers=bearer(s.refresh))
                        if r.status == 200:
                            s.old_refresh.append((s.refresh, now_s()))
                            s.old_access.append(s.access)
                            b = r.json()
                            s.access, s.refresh = b["access_token"], b["refresh_token"]
                            s.csrf_a, s.csrf_r = claims_of(s.access).get("csrf"), claims_of(s.refresh).get("csrf")
                    p = self.ctx.server.cli("revoke", "--user", user)
                    t_done = now_s()
                    if p.returncode != 0:
                        self.ctx.viol.add("cli failed", f"revoke --user: {p.returncode} {p.stderr[:200]}")
                        continue
                    worst = 0.0
                    for s in sess:
                        worst = max(worst, self.wait_refused(s.access, "access", t_done, "revoke --user"))
                    self.ctx.cli_figures["revoke --user propagation s"].append(worst)
                    if worst > 1.0:
                        self.ctx.viol.add("cli revoke slower than 1 s", f"revoke --user took {worst:.2f}s to reach the server")
                    for s in sess:
                        self.ctx.revoked.add_session("cli revoke --user", s, effective_at=t_done + 1.0)
                        for ttype, tok, csrf in s.all_tokens():
                            check_refused(self.client, self.ctx.viol, ("cli revoke --user", ttype, tok, csrf, 0), "check")
                    time.sleep(1.1)  # the user cut-off is per second: the next login is in a later second
        except TransportError as e:
            self.ctx.viol.add("transport error", f"cli revoker: {e}")
        except Exception as e:
            self.ctx.viol.add("soak script error", f"cli revoker: {e!r}")
            import traceback

            traceback.print_exc()


def smaps_kib(pid):
    """Where the resident memory is: {mapping: Rss KiB} for mappings holding at least 1 MiB (an
    anonymous mapping is named by its start address), plus the process's LazyFree total (pages
    the allocator released with MADV_FREE, still counted in VmRSS until the kernel takes them)."""
    out, name, lazy = {}, None, 0
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split()
                if "-" in head[0] and not head[0].endswith(":"):
                    name = head[5] if len(head) > 5 else "anon@" + head[0].split("-")[0]
                elif head[0] == "Rss:" and int(head[1]) >= 1024:
                    out[name] = out.get(name, 0) + int(head[1])
                elif head[0] == "LazyFree:":
                    lazy += int(head[1])
    except OSError:
        return None
    out["LazyFree"] = lazy
    return out


def explain_growth(detail):
    """What changed between the sample that set the first-minute level (the peak of 60-120 s)
    and the one that set the end level (the peak of the last 60 s): the revocation set's gauges
    and the five largest per-mapping RSS changes."""
    if not detail:
        return None
    last_t = detail[-1][0]
    first = [d for d in detail if 60 <= d[0] < 120 and d[3] is not None]
    last = [d for d in detail if d[0] >= last_t - 60 and d[3] is not None]
    if not first or not last:
        return None
    pick = lambda ds: max(ds, key=lambda d: d[1])
    (t0, _, g0, m0), (t1, _, g1, m1) = pick(first), pick(last)
    changes = sorted(((m1.get(k, 0) - m0.get(k, 0), k) for k in set(m0) | set(m1)), key=lambda x: -abs(x[0]))
    tb = "jwtx_revocation_set_table_bytes"
    return {
        "from_s": t0, "to_s": t1,
        "revocations": [g0.get("jwtx_revocations_live"), g1.get("jwtx_revocations_live")],
        "table_kib": [g0.get(tb, 0) // 1024, g1.get(tb, 0) // 1024],
        "mappings": ", ".join(f"{k} {d:+d}" for d, k in changes[:5] if d),
    }


class RssSampler(threading.Thread):
    """VmRSS every 5 s, with what explains it: the revocation set's size from /metrics and the
    large mappings from smaps."""

    GAUGES = ("jwtx_revocations_live", "jwtx_revocation_set_table_bytes")

    def __init__(self, ctx: Ctx, t0):
        super().__init__(name="rss", daemon=True)
        self.ctx = ctx
        self.t0 = t0
        self.samples = []  # (seconds since soak start, KiB)
        self.detail = []  # (seconds, VmRSS KiB, {gauge: value}, {mapping: KiB})
        self.client = Client(ctx.args.port, Stats(), ctx.viol)

    def gauges(self):
        try:
            r = self.client.request("GET", "/metrics", record=False)
        except TransportError:
            return {}
        found = {}
        for line in r.body.decode().splitlines():
            name, _, value = line.partition(" ")
            if name in self.GAUGES:
                found[name] = int(value)
        return found

    def sample(self):
        v = self.ctx.server.rss_kib()
        if v is not None:
            t = round(now_s() - self.t0, 1)
            self.samples.append((t, v))
            self.detail.append((t, v, self.gauges(), smaps_kib(self.ctx.server.pid)))

    def run(self):
        while True:
            self.sample()
            if self.ctx.stop.wait(5.0):
                self.sample()
                self.client.close()
                return


# ----------------------------------------------------------------------------------------------
# throttle sub-workload


def throttle_check(ctx: Ctx, user, src, stats):
    """Wrong passwords for one user from one address: 401 until the limit, then 429 + Retry-After."""
    c = Client(ctx.args.port, stats, ctx.viol, src=src)
    seq = []
    retry_after = None
    for i in range(ctx.args.user_fail_limit + 3):
        r = c.request("POST", "/login", route="POST /login (throttle user)", body={"username": user, "password": "wrong"})
        seq.append(r.status)
        if r.status == 429:
            retry_after = r.headers.get("retry-after")
    want = [401] * ctx.args.user_fail_limit + [429] * 3
    ok = seq == want and retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1
    # even the right password is refused from that address now; another address is not throttled
    r = c.request("POST", "/login", route="POST /login (throttle user)", body={"username": user, "password": ctx.users[user]})
    right_pw_status = r.status
    ok = ok and r.status == 429
    c.close()
    c2 = Client(ctx.args.port, stats, ctx.viol, src="127.0.0.250")
    r2 = c2.request("POST", "/login", route="POST /login (throttle user, other address)", body={"username": user, "password": ctx.users[user]})
    c2.close()
    ok = ok and r2.status == 200
    if not ok:
        ctx.viol.add("throttle", f"statuses {seq}, Retry-After {retry_after!r}, right password {right_pw_status}, other address {r2.status}")
    return {"statuses": seq, "retry_after": retry_after, "right_password_same_address": right_pw_status,
            "right_password_other_address": r2.status, "ok": ok}


# ----------------------------------------------------------------------------------------------
# restart under load


def restart_round(ctx: Ctx, rnd, stats: Stats):
    a = ctx.args
    viol = ctx.viol
    names = sorted(u for u in ctx.users if u.startswith("u"))
    n_logout, n_control = a.restart_sessions, a.restart_control
    total = n_logout + n_control
    print(f"[restart {rnd}] logging in {total} sessions", flush=True)

    # phase A: log in (several threads; Argon2 bound)
    sessions = [None] * total
    lock = threading.Lock()
    next_i = [0]

    def login_worker(k):
        c = Client(a.port, stats, viol, src=f"127.0.2.{1 + k}")
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= total:
                break
            user = names[i % len(names)]
            r = c.request("POST", "/login", route="restart POST /login", body={"username": user, "password": ctx.users[user]})
            if r.status != 200:
                viol.add("unexpected status", f"restart login -> {r.status}")
                continue
            s = Session(user, r.json(), parse_set_cookies(r))
            if i % 2:  # half of them with a rotated refresh chain
                r = c.request("POST", "/refresh", route="restart POST /refresh", headers=bearer(s.refresh))
                if r.status == 200:
                    b = r.json()
                    s.old_refresh.append((s.refresh, now_s()))
                    s.old_access.append(s.access)
                    s.access, s.refresh = b["access_token"], b["refresh_token"]
                    s.csrf_a, s.csrf_r = claims_of(s.access).get("csrf"), claims_of(s.refresh).get("csrf")
            sessions[i] = s
        c.close()

    ths = [threading.Thread(target=login_worker, args=(k,)) for k in range(a.threads)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    sessions = [s for s in sessions if s]
    rng = random.Random(rnd)
    rng.shuffle(sessions)
    control = sessions[:n_control]
    to_logout = sessions[n_control:]

    # phase B: logout storm; SIGKILL half-way
    outcome = {}  # id(session) -> "ok" | "unknown" | "refused" | "not sent" | "other:<status>"
    queue = list(to_logout)
    qlock = threading.Lock()
    killed = threading.Event()
    ok_count = [0]
    churn = []  # sessions logged in during the storm (login then logout)
    kill_at = int(len(to_logout) * a.kill_fraction)

    def logout_worker(k):
        c = Client(a.port, stats, viol, src=f"127.0.3.{1 + k}", check_5xx=True)
        j = 0
        while not killed.is_set():
            j += 1
            if k < 2 and j % 4 == 0:
                # churn: log in a fresh session and log it out during the storm
                user = names[(k * 7 + j) % len(names)]
                try:
                    r = c.request("POST", "/login", route="restart POST /login (churn)", body={"username": user, "password": ctx.users[user]})
                except TransportError:
                    break
                if r.status != 200:
                    continue
                s = Session(user, r.json(), parse_set_cookies(r))
                with qlock:
                    churn.append(s)
            else:
                with qlock:
                    if not queue:
                        break
                    s = queue.pop()
            how = ("header-access", "header-refresh", "cookie")[j % 3]
            if how == "header-access":
                hdr = bearer(s.access)
            elif how == "header-refresh":
                hdr = bearer(s.refresh)
            else:
                hdr = {"Cookie": f"access_token_cookie={s.access}; csrf_access_token={s.csrf_a}", "X-CSRF-TOKEN": s.csrf_a}
            try:
                r = c.request("POST", "/logout", route=f"restart POST /logout ({how})", headers=hdr)
            except TransportError as e:
                outcome[id(s)] = "unknown" if e.sent else "not sent"
                continue
            if r.status == 200:
                outcome[id(s)] = "ok"
                with qlock:
                    ok_count[0] += 1
            else:
                outcome[id(s)] = f"other:{r.status}"
                viol.add("unexpected status", f"restart logout -> {r.status} {r.body[:100]!r}")
        c.close()

    print(f"[restart {rnd}] logout storm over {len(to_logout)} sessions; SIGKILL after {kill_at} confirmed logouts", flush=True)
    ths = [threading.Thread(target=logout_worker, args=(k,)) for k in range(a.threads)]
    t_storm = now_s()
    [t.start() for t in ths]
    while ok_count[0] < kill_at and any(t.is_alive() for t in ths):
        time.sleep(0.0005)
    ctx.server_up.clear()
    ctx.server.kill9()
    t_kill = now_s()
    killed.set()
    [t.join() for t in ths]
    storm_s = t_kill - t_storm

    # phase C: restart on the same data directory
    restart_s = ctx.server.start(demo=False)
    ctx.server_up.set()
    print(f"[restart {rnd}] killed after {storm_s:.2f}s of storm; ready again in {restart_s:.2f}s", flush=True)

    c = Client(a.port, stats, viol, src="127.0.0.8")
    everyone = to_logout + churn
    confirmed = [s for s in everyone if outcome.get(id(s)) == "ok"]
    unknown = [s for s in everyone if outcome.get(id(s)) == "unknown"]
    not_sent = [s for s in everyone if id(s) not in outcome or outcome.get(id(s)) == "not sent"]
    fig = {
        "round": rnd,
        "sessions logged in": len(sessions),
        "control sessions": len(control),
        "logout targets (pre-logged-in + churn)": len(everyone),
        "logouts answered 200 before the kill": len(confirmed),
        "in flight at the kill (no answer: unknown)": len(unknown),
        "not sent (after the kill / never reached)": len(not_sent),
        "storm duration before kill s": round(storm_s, 3),
        "restart to ready s": round(restart_s, 3),
    }
    bad = 0
    checked = 0
    for s in confirmed:
        toks = [("access", s.access, s.csrf_a), ("refresh", s.refresh, s.csrf_r)] + [("access", t, None) for t in s.old_access] + [("refresh", t, None) for t, _ in s.old_refresh]
        for ttype, tok, csrf in toks:
            checked += 1
            st = check_refused(c, viol, ("logout confirmed before SIGKILL", ttype, tok, csrf, 0), "restart-verify", use_cookie=False)
            if st != 401:
                bad += 1
    fig["confirmed-logout tokens checked after restart"] = checked
    fig["confirmed-logout tokens accepted (must be 0)"] = bad
    # the revoked answer must say revoked, not just any 401
    notrevoked = 0
    for s in confirmed[:50]:
        r = c.request("GET", "/protected", route="restart-verify GET /protected", headers=bearer(s.access))
        if r.status != 401 or r.msg() != "Token has been revoked":
            notrevoked += 1
    fig["sampled confirmed sessions answering 'Token has been revoked'"] = f"{min(50, len(confirmed)) - notrevoked}/{min(50, len(confirmed))}"
    if notrevoked:
        viol.add("restart", f"{notrevoked} confirmed-logout tokens not refused as revoked")
    ok_ctrl = 0
    for s in control:
        r1 = c.request("GET", "/protected", route="restart-control GET /protected", headers=bearer(s.access))
        r2 = c.request("POST", "/refresh", route="restart-control POST /refresh", headers=bearer(s.refresh))
        if r1.status == 200 and r2.status == 200:
            ok_ctrl += 1
        else:
            viol.add("restart control refused", f"control session {s.sid}: protected {r1.status}, refresh {r2.status}")
    fig["control sessions working after restart (protected + refresh 200)"] = f"{ok_ctrl}/{len(control)}"
    unk_rev = 0
    for s in unknown:
        r = c.request("GET", "/protected", route="restart-unknown GET /protected", headers=bearer(s.access))
        unk_rev += r.status == 401
    fig["unknown (in-flight) logouts that did take effect"] = f"{unk_rev}/{len(unknown)}"
    ns_ok = 0
    for s in not_sent:
        r = c.request("GET", "/protected", route="restart-notsent GET /protected", headers=bearer(s.access))
        ns_ok += r.status == 200
        if r.status != 200:
            viol.add("restart control refused", f"never-logged-out session {s.sid} -> {r.status}")
    fig["not-sent sessions still working (extra control)"] = f"{ns_ok}/{len(not_sent)}"
    c.close()
    # tidy up: end the sessions of this round so the next round starts clean
    c = Client(a.port, stats, viol, src="127.0.0.8")
    for s in control + not_sent + unknown:
        c.request("POST", "/logout", route="restart tidy POST /logout", headers=bearer(s.access), record=False)
    c.close()
    return fig


# ----------------------------------------------------------------------------------------------
# reporting


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def render(report) -> str:
    L = []
    m = report["meta"]
    L.append(f"### Soak run {m['date']}")
    L.append("")
    L.append(f"- machine: {m['machine']}")
    L.append(f"- command: `{m['command']}`")
    L.append(f"- jwtx: `{m['binary']}` ({m['git']}), settings: {m['settings']}")
    L.append(f"- workload: {m['threads']} worker threads + 1 CLI revoker thread, {m['users']} users, soak {m['duration_s']} s, {m['restart_rounds']} restart round(s)")
    L.append(f"- **violations: {report['violations_total']}**" + (" — " + ", ".join(f"{k}: {v}" for k, v in report["violations"].items()) if report["violations"] else ""))
    L.append("")
    s = report["soak"]
    L.append(f"#### Soak ({s['requests']} requests in {s['elapsed_s']} s, {s['rps']} req/s)")
    L.append("")
    L.append("| route | requests | statuses | p50 ms | p99 ms |")
    L.append("|---|---:|---|---:|---:|")
    for row in s["routes"]:
        L.append(f"| {row['route']} | {row['n']} | {row['statuses']} | {row['p50']} | {row['p99']} |")
    L.append("")
    L.append(f"- 5xx responses: {s['5xx']}")
    L.append(f"- revoked tokens tracked: {s['revoked_tracked']} ({', '.join(f'{k}: {v}' for k, v in s['revoked_by_kind'].items())})")
    L.append(f"- final check of every revoked token: {s['final_check']}")
    L.append(f"- CLI revocation propagation (s, from `jwtx revoke` exit to refusal): {s['cli_propagation']}")
    L.append(f"- throttle: {s['throttle']}")
    r = s["rss"]
    L.append(f"- RSS (VmRSS, KiB, every 5 s): min {r['min']}, at 1 min {r['at_1min']}, max {r['max']}, end {r['end']} (point ratio end/1-min {r['ratio']})")
    L.append(f"- RSS level (peak of the 60–120 s samples → peak of the last 60 s): {r['level_1min']} → {r['level_end']} KiB, ratio **{r['level_ratio']}** (limit 1.10); medians {r['median_60_120s']} → {r['median_last_60s']} KiB")
    L.append(f"- RSS band (min–max KiB): 60–120 s {r['band_60_120s']}, last 60 s {r['band_last_60s']}")
    L.append(f"- RSS series (s:KiB): {r['series']}")
    g = r.get("growth")
    if g:
        L.append(f"- Between those two level samples ({g['from_s']} s → {g['to_s']} s): revocation set {g['revocations'][0]} → {g['revocations'][1]} entries, its tables {g['table_kib'][0]} → {g['table_kib'][1]} KiB; largest mapping changes (KiB): {g['mappings']}")
    L.append("")
    L.append("#### Restart under load (SIGKILL during the logout storm)")
    L.append("")
    for f in report["restart"]:
        L.append(f"- round {f['round']}: " + "; ".join(f"{k} = {v}" for k, v in f.items() if k != "round"))
    if report.get("soak_revocations_after_restart"):
        L.append(f"- every soak revocation re-checked after the first restart: {report['soak_revocations_after_restart']}")
    L.append("")
    if report["violation_samples"]:
        L.append("#### Violations (first ones)")
        L.append("")
        for t, k, d in report["violation_samples"][:30]:
            L.append(f"- {k}: {d}")
        L.append("")
    if report["notes"]:
        L.append("<details><summary>counters (hostile-token statuses, recheck answers)</summary>")
        L.append("")
        for k, v in sorted(report["notes"].items()):
            L.append(f"- {k}: {v}")
        L.append("")
        L.append("</details>")
    return "\n".join(L) + "\n"


def final_recheck(ctx: Ctx, items, label, stats):
    """Every item, with a few threads; returns 'N checked, M accepted'."""
    bad = [0]
    lock = threading.Lock()
    idx = [0]

    def w(k):
        c = Client(ctx.args.port, stats, ctx.viol, src=f"127.0.4.{1 + k}")
        while True:
            with lock:
                i = idx[0]
                idx[0] += 1
            if i >= len(items):
                break
            it = items[i]
            st = check_refused(c, ctx.viol, it[:4] + (0,), label)
            if st is not None and st < 400:
                with lock:
                    bad[0] += 1
        c.close()

    ths = [threading.Thread(target=w, args=(k,)) for k in range(4)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    return f"{len(items)} tokens checked, {bad[0]} accepted"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jwtx", required=True, help="the jwtx binary")
    ap.add_argument("--data-dir", required=True, help="a fresh data directory")
    ap.add_argument("--port", type=int, default=5911)
    ap.add_argument("--duration", type=float, default=600.0, help="soak seconds (default 600)")
    ap.add_argument("--threads", type=int, default=12)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--sessions-per-thread", type=int, default=8)
    ap.add_argument("--think-ms", type=float, default=0.0)
    ap.add_argument("--cli-every", type=float, default=8.0)
    ap.add_argument("--grace", type=float, default=10.0, help="the server's refresh_reuse_grace, s")
    ap.add_argument("--user-fail-limit", type=int, default=5, help="the server's failures per user and address")
    ap.add_argument("--bad-login-addresses", type=int, default=400)
    ap.add_argument("--restart-rounds", type=int, default=3)
    ap.add_argument("--restart-sessions", type=int, default=600)
    ap.add_argument("--restart-control", type=int, default=100)
    ap.add_argument("--kill-fraction", type=float, default=0.5)
    ap.add_argument("--json", default=None, help="write the full report as JSON here")
    ap.add_argument("--figures", default="/tmp/soak-figures.md", help="write the markdown figures here")
    ap.add_argument("--command", default=" ".join(sys.argv))
    a = ap.parse_args()

    env = dict(os.environ)
    env.setdefault("JWTX_LOGIN_IP_RATE_LIMIT", "10000/1m")
    env.setdefault("JWTX_LOGIN_RATE_LIMIT", f"{a.user_fail_limit}/5m")
    env.setdefault("JWTX_LOG_FORMAT", "text")
    env.setdefault("RUST_LOG", "warn")
    settings = {k: env[k] for k in sorted(env) if k.startswith("JWTX_") and k != "JWTX_SECRET_KEY"}
    log_path = os.path.join(os.path.dirname(os.path.abspath(a.data_dir)), "server.log")
    server = Server(a.jwtx, a.data_dir, a.port, env, log_path)
    t_start = time.time()
    print(f"starting jwtx on 127.0.0.1:{a.port}, data {a.data_dir}, log {log_path}", flush=True)
    start_s = server.start(demo=True)

    try:
        # users, created with the CLI while the server runs
        users = {}
        names = [f"u{i:02d}" for i in range(a.users)] + ["victim0", "victim1", "throttled"]
        def add(name):
            pw = f"pw-{name}-{uuid.uuid4().hex[:12]}"
            p = server.cli("user", "add", name, "--role", "user", "--password-stdin", stdin=pw + "\n")
            if p.returncode != 0:
                raise RuntimeError(f"user add {name}: {p.stderr}")
            users[name] = pw
        ths = []
        for name in names:
            t = threading.Thread(target=add, args=(name,))
            t.start()
            ths.append(t)
            if len(ths) >= 2:
                ths.pop(0).join()
        [t.join() for t in ths]
        print(f"created {len(users)} users with `jwtx user add` while serving", flush=True)

        secret_path = os.path.join(a.data_dir, "secret_key")
        secret = open(secret_path, "rb").read().strip() if os.path.exists(secret_path) else None
        forger = Forger(secret)
        ctx = Ctx(a, server, users, forger)
        setup_stats = Stats()
        ctx.all_stats.append(setup_stats)
        # can we sign with the real key? (then expired/alg-swap tokens are validly signed)
        c = Client(a.port, setup_stats, ctx.viol, src="127.0.0.7")
        r = c.request("POST", "/login", route="setup POST /login", body={"username": "u00", "password": users["u00"]})
        tok = r.json()["access_token"]
        r = c.request("GET", "/protected", route="setup GET /protected (re-signed)", headers=bearer(forger.resign(tok)))
        if r.status != 200:
            print("note: re-signing with secret_key did not verify; expired tokens will be forged tokens", flush=True)
            forger.secret = None
        c.close()

        throttle = throttle_check(ctx, "throttled", "127.0.0.249", setup_stats)
        print(f"throttle: {throttle}", flush=True)

        workers_users = [u for u in sorted(users) if u.startswith("u")]
        workers = [Worker(ctx, i, workers_users[i::a.threads]) for i in range(a.threads)]
        t0 = now_s()
        rss = RssSampler(ctx, t0)
        rss.start()
        cli = CliRevoker(ctx, ["victim0", "victim1"])
        for w in workers:
            w.start()
        cli.start()
        print(f"soak: {a.threads} workers for {a.duration:.0f}s", flush=True)
        last = t0
        while now_s() - t0 < a.duration:
            time.sleep(1.0)
            if now_s() - last >= 30:
                last = now_s()
                n = sum(sum(st.status.values()) for st in ctx.all_stats)
                rr = rss.samples[-1][1] if rss.samples else None
                print(f"  t={now_s() - t0:5.0f}s requests={n} revoked={len(ctx.revoked.items)} rss={rr}KiB violations={ctx.viol.total()}", flush=True)
        ctx.stop.set()
        for w in workers:
            w.join()
        cli.join()
        rss.join()
        elapsed = now_s() - t0

        soak_stats = Stats()
        for st in ctx.all_stats:
            soak_stats.merge(st)

        # final: every revoked token, all of them
        revoked_items = ctx.revoked.snapshot()
        time.sleep(1.1)  # CLI revocations: the documented propagation
        fstats = Stats()
        final = final_recheck(ctx, revoked_items, "final", fstats)
        print(f"final check: {final}", flush=True)

        # throttle: after Retry-After the user is let in again (only when the run was long enough)
        if throttle.get("retry_after") and throttle["retry_after"].isdigit():
            ra = int(throttle["retry_after"])
            waited = time.time() - t_start
            if waited > ra + 5:
                cc = Client(a.port, fstats, ctx.viol, src="127.0.0.249")
                r = cc.request("POST", "/login", route="POST /login (throttle user, after Retry-After)", body={"username": "throttled", "password": users["throttled"]})
                cc.close()
                throttle["right_password_after_retry_after"] = r.status
                if r.status != 200:
                    ctx.viol.add("throttle", f"still {r.status} long after Retry-After")

        # RSS
        samples = rss.samples
        at1 = None
        for t, v in samples:
            if t >= 60:
                at1 = v
                break
        if at1 is None and samples:
            at1 = samples[-1][1]
        end = samples[-1][1] if samples else None
        ratio = round(end / at1, 3) if at1 else None
        # bands, to tell steady growth from the allocator's up-and-down
        band_2nd = [v for t, v in samples if 60 <= t < 120]
        band_last = [v for t, v in samples if t >= samples[-1][0] - 60] if samples else []
        # The criterion compares *levels*: the peak of the samples of the second minute (60-120 s)
        # and of the last minute. A single 5 s sample swings by the Argon2 blocks in use at that
        # instant (up to 2 x 19 MiB), which makes a point-to-point ratio noise (the point ratio
        # and the medians are reported too).
        level1 = max(band_2nd) if band_2nd else None
        level_end = max(band_last) if band_last else None
        med1 = pct(band_2nd, 50) if band_2nd else None
        med_end = pct(band_last, 50) if band_last else None
        level_ratio = round(level_end / level1, 3) if level1 and level_end else None
        explain = explain_growth(rss.detail)
        if level_ratio is not None and elapsed >= 180 and level_ratio > 1.10:
            ctx.viol.add("memory growth", f"end RSS level {level_end} KiB is {level_ratio}x the level after the first minute {level1} KiB")

        # restart rounds
        rstats = Stats()
        restart_figs = []
        soak_after_restart = None
        for rnd in range(1, a.restart_rounds + 1):
            restart_figs.append(restart_round(ctx, rnd, rstats))
            print(f"[restart {rnd}] {restart_figs[-1]}", flush=True)
            if rnd == 1:
                soak_after_restart = final_recheck(ctx, revoked_items, "after-restart", rstats)
                print(f"soak revocations after restart: {soak_after_restart}", flush=True)

        # report
        routes = []
        lat = soak_stats.lat
        by_route = defaultdict(dict)
        for (route, st), n in soak_stats.status.items():
            by_route[route][st] = n
        for route in sorted(by_route, key=lambda r: -sum(by_route[r].values())):
            v = lat[route]
            routes.append({
                "route": route,
                "n": sum(by_route[route].values()),
                "statuses": ", ".join(f"{k}: {by_route[route][k]}" for k in sorted(by_route[route])),
                "p50": round(pct(v, 50), 2),
                "p99": round(pct(v, 99), 2),
            })
        total_req = sum(soak_stats.status.values())
        five = sum(n for (r_, st), n in list(soak_stats.status.items()) + list(fstats.status.items()) + list(rstats.status.items()) if st >= 500)
        notes = dict(soak_stats.notes)
        for k, v in fstats.notes.items():
            notes["final: " + k] = notes.get("final: " + k, 0) + v
        for k, v in rstats.notes.items():
            notes["restart: " + k] = notes.get("restart: " + k, 0) + v
        cli_prop = {}
        for k, v in ctx.cli_figures.items():
            cli_prop[k] = f"n={len(v)} p50={pct(v, 50):.3f} max={max(v):.3f}" if v else "n=0"
        series = ", ".join(f"{int(t)}:{v}" for t, v in samples[:: max(1, len(samples) // 24)])
        if samples and f"{int(samples[-1][0])}:{samples[-1][1]}" not in series:
            series += f", {int(samples[-1][0])}:{samples[-1][1]}"
        try:
            git = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
        except OSError:
            git = "?"
        cpu = "?"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        report = {
            "meta": {
                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}",
                "command": a.command,
                "binary": a.jwtx,
                "git": git,
                "settings": ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults",
                "threads": a.threads,
                "users": len(users),
                "duration_s": a.duration,
                "restart_rounds": a.restart_rounds,
                "first_start_s": round(start_s, 2),
            },
            "violations_total": ctx.viol.total(),
            "violations": dict(ctx.viol.counts),
            "violation_samples": ctx.viol.items,
            "soak": {
                "requests": total_req,
                "elapsed_s": round(elapsed, 1),
                "rps": round(total_req / elapsed, 1),
                "routes": routes,
                "5xx": five,
                "revoked_tracked": len(revoked_items),
                "revoked_by_kind": dict(ctx.revoked.by_kind),
                "final_check": final,
                "cli_propagation": cli_prop,
                "throttle": throttle,
                "rss": {"min": min(v for _, v in samples) if samples else None, "at_1min": at1,
                        "max": max(v for _, v in samples) if samples else None, "end": end, "ratio": ratio,
                        "level_1min": level1, "level_end": level_end, "level_ratio": level_ratio,
                        "median_60_120s": med1, "median_last_60s": med_end,
                        "band_60_120s": [min(band_2nd), max(band_2nd)] if band_2nd else None,
                        "band_last_60s": [min(band_last), max(band_last)] if band_last else None,
                        "series": series, "samples": samples, "growth": explain,
                        "detail": rss.detail},
            },
            "restart": restart_figs,
            "soak_revocations_after_restart": soak_after_restart,
            "notes": notes,
        }
        md = render(report)
        print()
        print(md)
        if a.figures:
            with open(a.figures, "w") as f:
                f.write(md)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(report, f, indent=1, default=str)
        return 0 if ctx.viol.total() == 0 else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
