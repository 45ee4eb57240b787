#!/usr/bin/env python3
"""bench/run: jwtx against its peers over HTTP, plus the criterion micro-benchmarks.

Builds jwtx (release), creates the Flask peer's virtual environment if missing, starts every
system on 127.0.0.1 (free ports, fresh temporary data directories), drives them with wrk,
alternating the systems round by round, and prints and writes the medians, ratios and targets
to bench/BENCHMARKS.md (between `<!-- bench/run:begin -->` and `<!-- bench/run:end -->`).
Standard library only. See bench/README.md, section "bench/run".
"""

import argparse
import atexit
import base64
import datetime
import hashlib
import http.client
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "bench" / "harness"
FLASK_DIR = ROOT / "bench" / "peers" / "flask"
TARGET = ROOT / "target"
RELEASE = TARGET / "release"
JWTX = RELEASE / "jwtx"
AXUM = RELEASE / "jwtx-bench-peer-axum"
REVOCATION_LOAD = RELEASE / "examples" / "revocation_load"
STORE_LOAD = RELEASE / "examples" / "store_load"
DOWNSTREAM = RELEASE / "examples" / "downstream"
VENV = TARGET / "bench-pyenv"
OUT_ROOT = TARGET / "bench-run"
BENCHMARKS_MD = ROOT / "bench" / "BENCHMARKS.md"
BEGIN = "<!-- bench/run:begin -->"
END = "<!-- bench/run:end -->"

SCENARIOS = [
    "protected", "eddsa", "cookie", "refresh", "login", "storm", "cluster", "downstream",
    "revocations", "scale", "criterion",
]

# Flask peer worker settings tried in the pre-trial: (worker class, workers, threads).
FLASK_CANDIDATES = [("sync", 3, 1), ("sync", 5, 1), ("gthread", 2, 4), ("gthread", 4, 2)]

# Every process this run started (each the leader of its own process group); stopped at exit.
PROCS = []


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes


def spawn(cmd, env=None, log_path=None, stdin=None):
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    p = subprocess.Popen(
        [str(c) for c in cmd],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=stdin or subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
    )
    PROCS.append(p)
    return p


def stop(p, timeout=10.0):
    """SIGTERM to the process group this run started for `p`, SIGKILL if it lingers."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def cleanup():
    for p in list(PROCS):
        stop(p, 5.0)


def on_signal(signum, _frame):
    log(f"\nsignal {signum}: stopping the servers this run started")
    cleanup()
    sys.exit(128 + signum)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """{'VmRSS': KiB, 'VmHWM': KiB} of a process (sum over its children for gunicorn is not needed)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def run_cmd(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, **kw)


# ---------------------------------------------------------------------------------------------
# HTTP


def request(port, method, path, body=None, headers=None, timeout=10.0):
    """(status, [(header, value)], body bytes); raises OSError when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def wait_ready(port, path, proc, timeout, log_path=None, interval=0.005):
    """Polls GET path until 200; returns the seconds waited. Fails if the process exits."""
    start = time.perf_counter()
    while True:
        if proc is not None and proc.poll() is not None:
            tail = ""
            if log_path and Path(log_path).exists():
                tail = Path(log_path).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready:\n{tail}")
        try:
            status, _, _ = request(port, "GET", path, timeout=2.0)
            if status == 200:
                return time.perf_counter() - start
        except (OSError, http.client.HTTPException):
            pass
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"127.0.0.1:{port}{path} not ready after {timeout:.0f} s")
        time.sleep(interval)


def jwt_header_alg(token):
    head = token.split(".")[0]
    head += "=" * (-len(head) % 4)
    return json.loads(base64.urlsafe_b64decode(head)).get("alg")


# ---------------------------------------------------------------------------------------------
# Systems under test


class System:
    """One running server: name, port, process, log file."""

    def __init__(self, name, port, proc, log_path, cmd_text):
        self.name = name
        self.port = port
        self.proc = proc
        self.log_path = log_path
        self.cmd_text = cmd_text

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def login(self, user="testuser", password="testpass"):
        """The JSON body of a successful /login, plus the access cookie as `cookie_header`."""
        status, headers, body = request(
            self.port, "POST", "/login", {"username": user, "password": password}
        )
        if status != 200:
            raise RuntimeError(f"{self.name}: /login answered {status}: {body[:300]!r}")
        doc = json.loads(body)
        token = doc.get("access_token")
        if not token:
            raise RuntimeError(f"{self.name}: /login body has no access_token: {body[:300]!r}")
        for k, v in headers:
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if value == token:
                    doc["cookie_header"] = f"Cookie: {name}={value}"
        return doc

    def status(self):
        return proc_status(self.proc.pid)

    def stop(self):
        stop(self.proc)


class Ctx:
    """What a run shares: options, paths, secret, systems, results and the report's pieces."""

    def __init__(self, args):
        self.args = args
        self.stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.out = OUT_ROOT / self.stamp
        self.out.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="jwtx-bench-"))
        self.secret = None
        self.systems = {}
        self.results = {}
        self.sections = []  # markdown pieces, in scenario order
        self.targets = []  # (text, verdict or None, figure text)
        self.commands = {}  # label -> command text
        self.flask_setting = None

    def log_path(self, name):
        return self.out / f"{name}.log"


def jwtx_env(ctx, **extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("JWTX_"):
            del env[k]
    env.update(
        {
            "JWTX_SECRET_KEY": ctx.secret,
            # The login throttle, relaxed as far as it goes (10 000 attempts per second per
            # address): every wrk connection comes from 127.0.0.1.
            "JWTX_LOGIN_RATE_LIMIT": "10000/1s",
            "JWTX_LOGIN_IP_RATE_LIMIT": "10000/1s",
            "JWTX_COOKIE_SECURE": "false",
        }
    )
    env.update(extra)
    return env


JWTX_ENV_TEXT = (
    "JWTX_SECRET_KEY=$SECRET JWTX_LOGIN_RATE_LIMIT=10000/1s JWTX_LOGIN_IP_RATE_LIMIT=10000/1s "
    "JWTX_COOKIE_SECURE=false"
)


def start_jwtx(ctx, name, data_dir, extra_env=None, demo=True, ready_timeout=60):
    port = free_port()
    env = jwtx_env(ctx, **(extra_env or {}))
    cmd = [JWTX, "--data-dir", data_dir, "serve", "--bind", f"127.0.0.1:{port}"]
    if demo:
        cmd.append("--demo")
    lp = ctx.log_path(name)
    p = spawn(cmd, env=env, log_path=lp)
    wait_ready(port, "/readyz", p, ready_timeout, lp)
    extra_text = " ".join(f"{k}={v}" for k, v in (extra_env or {}).items())
    text = f"{JWTX_ENV_TEXT} {extra_text} jwtx --data-dir $DIR serve --bind 127.0.0.1:$PORT" + (
        " --demo" if demo else ""
    )
    return System(name, port, p, lp, " ".join(text.split()))


def start_axum(ctx):
    port = free_port()
    env = dict(os.environ, JWT_SECRET_KEY=ctx.secret)
    lp = ctx.log_path("axum-peer")
    p = spawn([AXUM, "--bind", f"127.0.0.1:{port}"], env=env, log_path=lp)
    wait_ready(port, "/healthz", p, 30, lp)
    return System(
        "axum-peer", port, p, lp,
        "JWT_SECRET_KEY=$SECRET target/release/jwtx-bench-peer-axum --bind 127.0.0.1:$PORT",
    )


def flask_cmd(port, kind, workers, threads):
    cmd = [
        VENV / "bin" / "gunicorn",
        "-c", FLASK_DIR / "gunicorn.conf.py",
        "--chdir", FLASK_DIR,
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", kind,
        "--workers", str(workers),
    ]
    if kind == "gthread":
        cmd += ["--threads", str(threads)]
    return cmd + ["app:app"]


def flask_setting_text(kind, workers, threads):
    return f"{kind} -w {workers}" + (f" --threads {threads}" if kind == "gthread" else "")


def start_flask(ctx, kind, workers, threads, tag="flask"):
    port = free_port()
    db = ctx.tmp / f"{tag}-{port}-blocklist.db"
    env = dict(os.environ, JWT_SECRET_KEY=ctx.secret, BLOCKLIST_DB=str(db))
    lp = ctx.log_path(tag)
    p = spawn(flask_cmd(port, kind, workers, threads), env=env, log_path=lp)
    wait_ready(port, "/healthz", p, 60, lp)
    # Every worker must be up before measuring: give gunicorn a moment after the first answer.
    time.sleep(0.5)
    text = (
        "JWT_SECRET_KEY=$SECRET BLOCKLIST_DB=$TMP/blocklist.db target/bench-pyenv/bin/gunicorn "
        "-c bench/peers/flask/gunicorn.conf.py --chdir bench/peers/flask --bind 127.0.0.1:$PORT "
        f"--worker-class {kind} --workers {workers}"
        + (f" --threads {threads}" if kind == "gthread" else "")
        + " app:app"
    )
    return System(tag, port, p, lp, text)


def flask_rss_kib(system):
    """VmRSS of the gunicorn master plus its workers."""
    total = proc_status(system.proc.pid).get("VmRSS", 0)
    try:
        for child in Path(f"/proc/{system.proc.pid}/task").glob("*/children"):
            for pid in child.read_text().split():
                total += proc_status(int(pid)).get("VmRSS", 0)
    except OSError:
        pass
    return total


# ---------------------------------------------------------------------------------------------
# wrk


def wrk_cmd(url, duration, threads, conns, script, headers=(), latency=True):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "5s",
           "-s", str(HARNESS / script)]
    if latency:
        cmd.append("--latency")
    for h in headers:
        cmd += ["-H", h]
    return cmd + [url]


def wrk_env(extra=None):
    env = dict(os.environ, BENCH_LUA_DIR=str(HARNESS))
    env.update(extra or {})
    return env


def parse_wrk(stdout, stderr, cmd):
    m = re.search(r"^BENCHJSON (\{.*\})$", stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no summary ({' '.join(cmd)}):\n{stdout}\n{stderr}")
    r = json.loads(m.group(1))
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs if secs else 0.0
    r["errors"] = (r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"]
                   + r["err_timeout"] + r["bad"])
    return r


def cpu_ticks():
    """The machine's CPU time so far, from /proc/stat: (all of it, stolen) in clock ticks.
    Steal is the time the hypervisor ran something else while this VM's vCPUs were ready to
    run: what a latency tail on a shared VM is made of, and no server's doing."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    return sum(fields), fields[7]


def run_wrk(url, duration, threads, conns, script="report.lua", headers=(), env=None,
            latency=True):
    """Runs wrk to the end; its summary, with `steal_pct`: the share of the machine's CPU
    time stolen by the hypervisor while it ran."""
    cmd = wrk_cmd(url, duration, threads, conns, script, headers, latency)
    t0 = cpu_ticks()
    p = subprocess.run(cmd, capture_output=True, text=True, env=wrk_env(env), cwd=ROOT)
    t1 = cpu_ticks()
    r = parse_wrk(p.stdout, p.stderr, cmd)
    total = t1[0] - t0[0]
    r["steal_pct"] = 100.0 * (t1[1] - t0[1]) / total if total else 0.0
    return r


def start_wrk(url, duration, threads, conns, script="report.lua", headers=(), env=None,
              latency=True):
    cmd = wrk_cmd(url, duration, threads, conns, script, headers, latency)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=wrk_env(env), cwd=ROOT, start_new_session=True)
    PROCS.append(p)
    return p, cmd


def finish_wrk(p, cmd):
    out, err = p.communicate()
    if p in PROCS:
        PROCS.remove(p)
    return parse_wrk(out, err, cmd)


def cmd_text(cmd):
    """A wrk command line for the report, with run-specific values replaced."""
    out = []
    for c in cmd:
        c = str(c).replace(str(HARNESS) + "/", "bench/harness/")
        c = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:$PORT", c)
        c = re.sub(r"Bearer [A-Za-z0-9_\-\.]+", "Bearer $TOKEN", c)
        c = re.sub(r"(Cookie: [A-Za-z_]+)=[A-Za-z0-9_\-\.]+", r"\1=$TOKEN", c)
        out.append(c)
    return " ".join(shlex.quote(c) for c in out)


# ---------------------------------------------------------------------------------------------
# Rounds


class Entry:
    """One measured line of a scenario: a label and a function giving this round's wrk spec
    (url, headers, script, env, threads, conns) — called per round so tokens are fresh. With
    `pid`, the CPU time of that server process (and its children: gunicorn's workers) during
    each run is recorded too, as `cpu_us_per_req`."""

    def __init__(self, label, prepare, pid=None):
        self.label = label
        self.prepare = prepare
        self.pid = pid


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_tree_cpu_seconds(pid):
    """User + system CPU seconds of `pid` and every live descendant (from /proc)."""
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid ... utime(14) stime(15).
        rest = text[text.rfind(")") + 2:].split()
        stats[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p in tree or p not in stats:
            continue
        tree.add(p)
        todo.extend(c for c, (ppid, _) in stats.items() if ppid == p)
    return sum(stats[p][1] for p in tree) / CLK_TCK


def fmt_us(us):
    if us is None:
        return "—"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


def fmt_rps(x):
    return "—" if x is None else f"{x:,.0f}"


def alternate(ctx, scenario, entries, duration=None, warmup=True):
    """Runs every entry once per round, rotating the order each round; returns
    {label: [wrk result, ...]} and records the first round's commands."""
    a = ctx.args
    duration = duration or a.duration
    results = {e.label: [] for e in entries}
    if warmup and a.warmup > 0:
        for e in entries:
            spec = e.prepare()
            run_wrk(spec["url"], a.warmup, spec.get("threads", a.threads),
                    spec.get("conns", a.connections), spec.get("script", "report.lua"),
                    spec.get("headers", ()), spec.get("env"))
    n = len(entries)
    for r in range(a.rounds):
        order = entries[r % n:] + entries[: r % n]
        for e in order:
            spec = e.prepare()
            threads = spec.get("threads", a.threads)
            conns = spec.get("conns", a.connections)
            script = spec.get("script", "report.lua")
            headers = spec.get("headers", ())
            cpu0 = proc_tree_cpu_seconds(e.pid) if e.pid else None
            res = run_wrk(spec["url"], duration, threads, conns, script, headers, spec.get("env"))
            if cpu0 is not None and res["requests"]:
                cpu = proc_tree_cpu_seconds(e.pid) - cpu0
                res["cpu_us_per_req"] = cpu * 1e6 / res["requests"]
            results[e.label].append(res)
            if r == 0:
                ctx.commands[f"{scenario}: {e.label}"] = cmd_text(
                    wrk_cmd(spec["url"], duration, threads, conns, script, headers))
            err = f", {res['errors']} errors" if res["errors"] else ""
            cpu = (f"  server CPU {res['cpu_us_per_req']:.1f} µs/req"
                   if "cpu_us_per_req" in res else "")
            log(f"  round {r + 1}/{a.rounds} {e.label:<40} {res['rps']:>10,.0f} req/s  "
                f"p50 {fmt_us(res['lat_p50_us'])}  p99 {fmt_us(res['lat_p99_us'])}{cpu}  "
                f"steal {res['steal_pct']:.0f}%{err}")
    ctx.results[scenario] = results
    return results


def med(results, key):
    vals = [r[key] for r in results if key in r]
    return statistics.median(vals) if vals else None


def paired_ratio(a, b):
    """The median over rounds of a's req/s over b's in the same round (each pair measured
    back to back, so slow drift of a shared machine cancels)."""
    vals = [x["rps"] / y["rps"] for x, y in zip(a, b) if y["rps"]]
    return statistics.median(vals) if vals else None


def summary_table(results, with_latency=True):
    lines = ["| system | req/s (median) | req/s per round | p50 | p99 | errors |",
             "|---|---:|---|---:|---:|---:|"]
    if not with_latency:
        lines = ["| system | req/s (median) | req/s per round | errors |", "|---|---:|---|---:|"]
    with_cpu = any("cpu_us_per_req" in r for rs in results.values() for r in rs)
    if with_cpu:
        lines = [lines[0] + " server CPU / request |", lines[1] + "---:|"]
    for label, rs in results.items():
        per = ", ".join(f"{r['rps']:,.0f}" for r in rs)
        errs = sum(r["errors"] for r in rs)
        if with_latency:
            line = (f"| {label} | **{fmt_rps(med(rs, 'rps'))}** | {per} | "
                    f"{fmt_us(med(rs, 'lat_p50_us'))} | {fmt_us(med(rs, 'lat_p99_us'))} | {errs} |")
        else:
            line = f"| {label} | **{fmt_rps(med(rs, 'rps'))}** | {per} | {errs} |"
        if with_cpu:
            cpu = med(rs, "cpu_us_per_req")
            line += (f" {cpu:.2f} µs |" if cpu is not None else " — |")
        lines.append(line)
    return "\n".join(lines)


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def target(ctx, text, value, ok, figure):
    if value is None:
        ctx.targets.append(f"- {text}: not measured")
    else:
        ctx.targets.append(f"- {text}: **{'met' if ok(value) else 'MISSED'}** ({figure})")


def errors_note(results):
    bad = {label: sum(r["errors"] for r in rs) for label, rs in results.items()}
    bad = {k: v for k, v in bad.items() if v}
    if not bad:
        return ""
    return ("\n\n**Errors** (connect/read/write/timeout, non-2xx answers, or answers the script "
            "found wrong): " + ", ".join(f"{k}: {v}" for k, v in bad.items()) + ".")


# ---------------------------------------------------------------------------------------------
# Set-up: build, virtual environment, secret, servers


def build(ctx):
    steps = [
        ["cargo", "build", "--release", "--locked", "-p", "jwtx-server", "-p", "jwtx-bench-peer-axum"],
        ["cargo", "build", "--release", "--locked", "-p", "jwtx-sqlx", "--example", "revocation_load",
         "--example", "store_load"],
        ["cargo", "build", "--release", "--locked", "-p", "jwtx-axum", "--features", "remote",
         "--example", "downstream"],
    ]
    for cmd in steps:
        log("$ " + " ".join(cmd))
        t = time.perf_counter()
        p = run_cmd(cmd)
        if p.returncode != 0:
            sys.exit(f"build failed: {' '.join(cmd)}")
        log(f"  ({time.perf_counter() - t:.0f} s)")
        ctx.commands["build: " + cmd[-1]] = " ".join(cmd)


def ensure_venv(ctx):
    req = FLASK_DIR / "requirements.txt"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest and (VENV / "bin" / "gunicorn").exists():
        return
    log(f"creating the Flask peer's virtual environment in {VENV.relative_to(ROOT)}")
    if not (VENV / "bin" / "python").exists():
        p = run_cmd([sys.executable, "-m", "venv", VENV])
        if p.returncode != 0:
            sys.exit("python3 -m venv failed (Debian: apt-get install python3-venv)")
    p = run_cmd([VENV / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check",
                 "-r", req])
    if p.returncode != 0:
        sys.exit("pip install -r bench/peers/flask/requirements.txt failed")
    stamp.write_text(digest + "\n")


def machine_info():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = sh(["git", "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"])
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "rustc": sh(["rustc", "--version"]),
        "python": platform.python_version(),
        "wrk": wrk_v[0].split(" Copyright")[0] if wrk_v else "?",
        "commit": commit + (" + uncommitted changes" if dirty else ""),
    }


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------------------------------------
# Scenarios


def need_jwtx_hs(ctx):
    if "jwtx" not in ctx.systems:
        ctx.systems["jwtx"] = start_jwtx(ctx, "jwtx", ctx.tmp / "jwtx-hs256")
    return ctx.systems["jwtx"]


def need_jwtx_uncached(ctx):
    """A second HS256 `jwtx serve` that verifies every request (`JWTX_VERIFIED_CACHE=0`)."""
    if "jwtx-uncached" not in ctx.systems:
        ctx.systems["jwtx-uncached"] = start_jwtx(
            ctx, "jwtx-uncached", ctx.tmp / "jwtx-hs256-uncached", {"JWTX_VERIFIED_CACHE": "0"})
    return ctx.systems["jwtx-uncached"]


def need_jwtx_eddsa(ctx):
    if "jwtx-eddsa" not in ctx.systems:
        d = ctx.tmp / "jwtx-eddsa"
        p = run_cmd([JWTX, "--data-dir", d, "keys", "generate", "--alg", "EdDSA"],
                    env=jwtx_env(ctx), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"jwtx keys generate --alg EdDSA failed: {p.stderr}")
        ctx.commands["eddsa: key"] = "jwtx --data-dir $DIR keys generate --alg EdDSA"
        # Every request verified, so the scenario measures the signature algorithm.
        ctx.systems["jwtx-eddsa"] = start_jwtx(
            ctx, "jwtx-eddsa", d, {"JWTX_ALGORITHM": "EdDSA", "JWTX_VERIFIED_CACHE": "0"})
    return ctx.systems["jwtx-eddsa"]


def need_axum(ctx):
    if "axum" not in ctx.systems:
        ctx.systems["axum"] = start_axum(ctx)
    return ctx.systems["axum"]


def need_flask(ctx):
    if "flask" in ctx.systems:
        return ctx.systems["flask"]
    a = ctx.args
    if a.flask_workers:
        kind, w, t = parse_flask_setting(a.flask_workers)
        ctx.flask_setting = (kind, w, t, None)
        ctx.systems["flask"] = start_flask(ctx, kind, w, t)
        return ctx.systems["flask"]
    log("Flask peer: pre-trial of gunicorn worker settings (/protected, header token)")
    trial = []
    for kind, w, t in FLASK_CANDIDATES:
        s = start_flask(ctx, kind, w, t, tag=f"flask-pretrial-{kind}-{w}x{t}")
        try:
            tok = s.login()["access_token"]
            hdr = [f"Authorization: Bearer {tok}"]
            run_wrk(s.url("/protected"), 1, a.threads, a.connections, headers=hdr)
            res = run_wrk(s.url("/protected"), a.pretrial, a.threads, a.connections, headers=hdr)
        finally:
            s.stop()
        trial.append(((kind, w, t), res))
        log(f"  {flask_setting_text(kind, w, t):<26} {res['rps']:>8,.0f} req/s  "
            f"p99 {fmt_us(res['lat_p99_us'])}  errors {res['errors']}")
    ok = [x for x in trial if x[1]["errors"] == 0] or trial
    (kind, w, t), _ = max(ok, key=lambda x: x[1]["rps"])
    ctx.flask_setting = (kind, w, t, trial)
    log(f"  -> {flask_setting_text(kind, w, t)}")
    ctx.systems["flask"] = start_flask(ctx, kind, w, t)
    return ctx.systems["flask"]


def parse_flask_setting(text):
    m = re.fullmatch(r"(sync|gthread):(\d+)(?:x(\d+))?", text)
    if not m:
        sys.exit("--flask-workers: write sync:W or gthread:WxT, e.g. sync:3 or gthread:2x4")
    return m.group(1), int(m.group(2)), int(m.group(3) or 1)


def bearer(system, sysname=None):
    """A prepare() giving `GET /protected` with a fresh access token of `system`."""
    def prep():
        tok = system.login()["access_token"]
        return {"url": (sysname or system).url("/protected"),
                "headers": [f"Authorization: Bearer {tok}"]}
    return prep


def sanity(system, path, headers):
    hdrs = dict(h.split(": ", 1) for h in headers)
    status, _, body = request(system.port, "GET", path, headers=hdrs)
    if status != 200:
        raise RuntimeError(f"{system.name} GET {path} answered {status}: {body[:200]!r}")
    return body


def sc_protected(ctx):
    jwtx, flask, axum = need_jwtx_hs(ctx), need_flask(ctx), need_axum(ctx)
    uncached = need_jwtx_uncached(ctx)
    # One token set where it is comparable: jwtx's own token is verified by jwtx and by the
    # axum peer (same HS256 secret); the Flask peer verifies the token its own /login issued.
    jt = jwtx.login()["access_token"]
    ft = flask.login()["access_token"]
    sanity(axum, "/protected", [f"Authorization: Bearer {jt}"])
    sanity(jwtx, "/protected", [f"Authorization: Bearer {jt}"])
    sanity(flask, "/protected", [f"Authorization: Bearer {ft}"])

    def via(login_sys, target_sys, path="/protected"):
        def prep():
            tok = login_sys.login()["access_token"]
            return {"url": target_sys.url(path), "headers": [f"Authorization: Bearer {tok}"]}
        return prep

    entries = [
        Entry("jwtx /protected", via(jwtx, jwtx), jwtx.proc.pid),
        Entry("flask-jwt-extended /protected", via(flask, flask), flask.proc.pid),
        Entry("axum-peer /protected", via(jwtx, axum), axum.proc.pid),
        # The same route in the same axum process written with the jwtx-axum library: what an
        # application embedding jwtx-axum (not `jwtx serve`) gets.
        Entry("axum-peer + jwtx-axum /protected", via(jwtx, axum, "/jwtx/protected"),
              axum.proc.pid),
        Entry("jwtx /healthz", lambda: {"url": jwtx.url("/healthz")}, jwtx.proc.pid),
        # The same request bytes as /protected (the Authorization header is ignored there), so
        # the difference to /protected is what the server does with the token, not the
        # receiving and parsing of a 0.4 KB larger request.
        Entry("jwtx /healthz + token header", via(jwtx, jwtx, "/healthz"), jwtx.proc.pid),
        Entry("axum-peer /healthz", lambda: {"url": axum.url("/healthz")}, axum.proc.pid),
        Entry("jwtx /protected, verified_cache=0", via(uncached, uncached), uncached.proc.pid),
        Entry("jwtx /healthz + token header, verified_cache=0", via(uncached, uncached, "/healthz"),
              uncached.proc.pid),
    ]
    log("\n== 1. /protected, header token, HS256 ==")
    res = alternate(ctx, "protected", entries)
    j, f, x = (med(res[k], "rps") for k in ("jwtx /protected", "flask-jwt-extended /protected",
                                              "axum-peer /protected"))
    jh, xh = med(res["jwtx /healthz"], "rps"), med(res["axum-peer /healthz"], "rps")
    jht = med(res["jwtx /healthz + token header"], "rps")
    rf, rx, rh, rht = ratio(j, f), ratio(j, x), ratio(j, jh), ratio(j, jht)
    ju = med(res["jwtx /protected, verified_cache=0"], "rps")
    rhh, rjx, rux = ratio(jh, xh), ratio(j, xh), ratio(ju, x)
    target(ctx, "`/protected` HS256 at least 30× flask-jwt-extended", rf, lambda r: r >= 30,
           f"{rf:.1f}×" if rf else "")
    target(ctx, "jwtx `/healthz` at least 0.95× the axum peer's `/healthz`", rhh,
           lambda r: r >= 0.95, f"{rhh:.2f}×" if rhh else "")
    target(ctx, "jwtx `/protected` at least 0.85× the axum peer's `/healthz` (the bare framework)",
           rjx, lambda r: r >= 0.85, f"{rjx:.2f}×" if rjx else "")
    target(ctx, "`/protected` HS256 at least 1.4× the axum + jsonwebtoken peer", rx,
           lambda r: r >= 1.4, f"{rx:.2f}×" if rx else "")
    target(ctx, "`/protected` with the verified cache off at least 1.1× the axum + jsonwebtoken "
           "peer", rux, lambda r: r >= 1.1, f"{rux:.2f}×" if rux else "")
    md = [
        "### 1. `/protected`, header token, HS256",
        "",
        f"Tokens: jwtx's from its `/login` ({len(jt)} characters; also what the axum peer "
        f"verifies, same secret), the Flask peer's from its own `/login` ({len(ft)} characters). "
        "jwtx's `/protected` verifies the token, checks the in-process revocation mirror "
        "(jti, session, user cut-off) and runs the server's user loader (its user cache: one "
        "SQLite read per user per 500 ms); the Flask peer runs its blocklist query (SQLite, one "
        "SELECT); the axum peer verifies the signature and `exp` only. jwtx keeps recently "
        "verified tokens (`verified_cache`, 1,024 by default): wrk repeats one token per round, "
        "as a client repeats its access token for its 15 minutes, so from the second request on "
        "jwtx's verification is a cache hit (the whole token compared in constant time, the "
        "time claims checked again); the `verified_cache=0` rows are a second `jwtx serve` "
        "(`JWTX_VERIFIED_CACHE=0`) that verifies every request. Server CPU / request: "
        "the server process's (for Flask, gunicorn's master and workers') user + system CPU "
        "time during the run over the requests wrk completed, from `/proc/PID/stat`; unlike "
        "req/s it leaves out wrk's share of the two cores and what other tenants take.",
        "",
        summary_table(res),
        "",
        f"- jwtx / flask-jwt-extended: **{fmt_ratio(rf)}**",
        f"- jwtx / axum + jsonwebtoken: **{fmt_ratio(rx)}** "
        f"(axum `/healthz` / axum `/protected`: {fmt_ratio(ratio(xh, x))})",
        f"- jwtx `/protected` / jwtx `/healthz` with the same `Authorization` header (the same "
        f"request bytes): **{fmt_ratio(rht)}**; median of the per-round ratios: "
        f"{fmt_ratio(paired_ratio(res['jwtx /protected'], res['jwtx /healthz + token header']))}",
        f"- jwtx `/protected` / a bare jwtx `/healthz` (no header): {fmt_ratio(rh)} "
        f"(jwtx `/healthz` / axum `/healthz`: {fmt_ratio(ratio(jh, xh))}); median of the "
        f"per-round ratios: {fmt_ratio(paired_ratio(res['jwtx /protected'], res['jwtx /healthz']))}",
    ]
    xj = med(res["axum-peer + jwtx-axum /protected"], "rps")
    md.append(
        f"- Embedding (an axum application using jwtx-axum, not `jwtx serve`): axum + jwtx-axum "
        f"/ axum + jsonwebtoken {fmt_ratio(ratio(xj, x))}; against that process's bare "
        f"`/healthz` {fmt_ratio(ratio(xj, xh))}")
    un = "jwtx /protected, verified_cache=0"
    unh = "jwtx /healthz + token header, verified_cache=0"
    juh = med(res[unh], "rps")
    md.append(
        f"- Verifying every request (`verified_cache=0`): jwtx / flask-jwt-extended "
        f"{fmt_ratio(ratio(ju, f))}, jwtx / axum + jsonwebtoken {fmt_ratio(ratio(ju, x))}, "
        f"`/protected` / `/healthz` with the same header {fmt_ratio(ratio(ju, juh))} (median of "
        f"the per-round ratios: {fmt_ratio(paired_ratio(res[un], res[unh]))})")
    cp, ch, cht = (med(res[k], "cpu_us_per_req")
                   for k in ("jwtx /protected", "jwtx /healthz", "jwtx /healthz + token header"))
    if cp and ch and cht:
        md.append(
            f"- Server CPU: jwtx `/protected` {cp:.2f} µs against `/healthz` {cht:.2f} µs a "
            f"request with the same header ({ch:.2f} µs bare), so verification, revocation check "
            f"and user loader take **{(cp - cht) / cp:.1%}** of a `/protected` request's server "
            f"CPU ({(cp - ch) / cp:.1%} against the bare `/healthz`; the 0.85× target's "
            "\"under 15%\", measured without wrk's share)")
        cf, cx = (med(res[k], "cpu_us_per_req")
                  for k in ("flask-jwt-extended /protected", "axum-peer /protected"))
        if cf and cx:
            md.append(f"- Server CPU per `/protected` request: flask-jwt-extended / jwtx "
                      f"{cf / cp:.1f}×, axum peer / jwtx {cx / cp:.2f}×")
    ctx.sections.append("\n".join(md) + errors_note(res))


# The chart's rows: (scenario, label in results, system, route). The bare framework's
# `/healthz` is the floor drawn on the `/protected` row.
CHART_ROWS = [
    ("protected", "jwtx /protected", "jwtx", "/protected"),
    ("protected", "axum-peer /protected", "axum + jsonwebtoken", "/protected"),
    ("protected", "flask-jwt-extended /protected", "flask-jwt-extended", "/protected"),
    ("refresh", "jwtx /refresh (rotating)", "jwtx", "/refresh"),
    ("refresh", "flask-jwt-extended /refresh", "flask-jwt-extended", "/refresh"),
    ("login", "jwtx /login", "jwtx", "/login"),
    ("login", "flask-jwt-extended /login", "flask-jwt-extended", "/login"),
]
CHART_COLOURS = {"jwtx": "#1f5fbf", "axum + jsonwebtoken": "#6b7280",
                 "flask-jwt-extended": "#c2410c"}


def chart_svg(ctx, started):
    """The main comparison as an SVG: req/s and server CPU per request (log scales, medians over
    rounds) for each system on `/protected`, `/refresh` and `/login`, the axum peer's bare
    `/healthz` marked on the `/protected` panels as the framework's floor. Hand-written SVG:
    no plotting library, the same bytes for the same figures."""
    import math
    res = ctx.results
    rows = []
    for scenario, label, system, route in CHART_ROWS:
        runs = res.get(scenario, {}).get(label)
        if runs:
            rows.append((route, system, med(runs, "rps"), med(runs, "cpu_us_per_req")))
    if not rows:
        return None
    floor = res.get("protected", {}).get("axum-peer /healthz")
    floor_rps = med(floor, "rps") if floor else None
    floor_cpu = med(floor, "cpu_us_per_req") if floor else None
    bar_h, gap, group_gap, top, left, panel_w, mid = 18, 4, 14, 86, 250, 320, 70
    routes = list(dict.fromkeys(r[0] for r in rows))
    height = top + sum(group_gap + (bar_h + gap) * sum(1 for r in rows if r[0] == rt)
                       for rt in routes) + 60
    width = left + 2 * panel_w + mid + 30
    esc = lambda t: (t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))

    def scale(lo, hi):
        lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return lo_e, hi_e, lambda v: (math.log10(v) - lo_e) / (hi_e - lo_e) * panel_w

    rps_vals = [r[2] for r in rows if r[2]] + ([floor_rps] if floor_rps else [])
    cpu_vals = [r[3] for r in rows if r[3]] + ([floor_cpu] if floor_cpu else [])
    panels = [("req/s (more is better)", rps_vals, 2, left),
              ("server CPU per request, µs (less is better)", cpu_vals, 3, left + panel_w + mid)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="12" y="22" font-size="15" font-weight="bold">jwtx against the axum peer '
           'and flask-jwt-extended</text>',
           f'<text x="12" y="40" fill="#374151">bench/run, {esc(started)} UTC: medians over '
           'rounds, log scales</text>']
    for title, vals, idx, x0 in panels:
        if not vals:
            continue
        lo_e, hi_e, pos = scale(min(vals), max(vals))
        out.append(f'<text x="{x0}" y="{top - 28}" font-weight="bold">{esc(title)}</text>')
        for e in range(lo_e, hi_e + 1):
            x = x0 + (e - lo_e) / (hi_e - lo_e) * panel_w
            out.append(f'<line x1="{x:.1f}" y1="{top - 12}" x2="{x:.1f}" y2="{height - 50}" '
                       'stroke="#e5e7eb"/>')
            out.append(f'<text x="{x:.1f}" y="{top - 14}" text-anchor="middle" fill="#374151">'
                       f'{10 ** e:,}</text>')
        y = top
        for rt in routes:
            y += group_gap
            group_top = y
            for route, system, rps, cpu in (r for r in rows if r[0] == rt):
                v = (rps, cpu)[idx - 2]
                if idx == 2:
                    out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">'
                               f'{esc(system)} {esc(route)}</text>')
                if v:
                    w = max(pos(v), 1)
                    out.append(f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                               f'fill="{CHART_COLOURS[system]}"/>')
                    text = f"{v:,.0f}" if idx == 2 else f"{v:,.1f}"
                    out.append(f'<text x="{x0 + w + 4:.1f}" y="{y + 13}">{text}</text>')
                y += bar_h + gap
            floor_v = (floor_rps, floor_cpu)[idx - 2]
            if rt == "/protected" and floor_v:
                fx = x0 + pos(floor_v)
                out.append(f'<line x1="{fx:.1f}" y1="{group_top - 4}" x2="{fx:.1f}" '
                           f'y2="{y}" stroke="#111827" stroke-width="2" stroke-dasharray="4 3"/>')
    if floor_rps or floor_cpu:
        out.append(f'<text x="12" y="{height - 28}" fill="#111827">- - - the bare framework '
                   '(the floor): the axum peer\'s /healthz, no token, on the /protected rows'
                   '</text>')
    out.append(f'<text x="12" y="{height - 10}" fill="#374151">server CPU: the server '
               'process\'s user + system time over the requests it completed</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def fmt_ratio(r):
    return "—" if r is None else (f"{r:.1f}×" if r >= 10 else f"{r:.2f}×")


def sc_eddsa(ctx):
    ed, hs = need_jwtx_eddsa(ctx), need_jwtx_uncached(ctx)
    tok = ed.login()["access_token"]
    alg = jwt_header_alg(tok)
    if alg != "EdDSA":
        raise RuntimeError(f"jwtx-eddsa issued a {alg} token, not EdDSA")
    entries = [Entry("jwtx /protected EdDSA", bearer(ed)), Entry("jwtx /protected HS256", bearer(hs))]
    log("\n== 2. /protected, header token, EdDSA ==")
    res = alternate(ctx, "eddsa", entries)
    e, h = med(res["jwtx /protected EdDSA"], "rps"), med(res["jwtx /protected HS256"], "rps")
    md = [
        "### 2. `/protected`, header token, EdDSA",
        "",
        f"A second `jwtx serve` whose store holds an Ed25519 signing key (`jwtx keys generate "
        f"--alg EdDSA`, `JWTX_ALGORITHM=EdDSA`); its `/login` tokens are EdDSA ({len(tok)} "
        "characters). HS256 alongside, same rounds, for scale. Both servers verify every "
        "request (`JWTX_VERIFIED_CACHE=0`), so the difference is the signature check.",
        "",
        summary_table(res),
        "",
        f"- EdDSA / HS256: {fmt_ratio(ratio(e, h))}",
    ]
    ctx.sections.append("\n".join(md) + errors_note(res))


def sc_cookie(ctx):
    jwtx, flask = need_jwtx_hs(ctx), need_flask(ctx)

    def cookie(system):
        def prep():
            doc = system.login()
            if "cookie_header" not in doc:
                raise RuntimeError(f"{system.name}: /login set no access-token cookie")
            return {"url": system.url("/protected"), "headers": [doc["cookie_header"]]}
        return prep

    for s in (jwtx, flask):
        sanity(s, "/protected", cookie(s)()["headers"])
    entries = [Entry("jwtx /protected (cookie)", cookie(jwtx)),
               Entry("flask-jwt-extended /protected (cookie)", cookie(flask))]
    log("\n== 3. /protected, cookie token ==")
    res = alternate(ctx, "cookie", entries)
    j = med(res["jwtx /protected (cookie)"], "rps")
    f = med(res["flask-jwt-extended /protected (cookie)"], "rps")
    md = [
        "### 3. `/protected`, access token in a cookie",
        "",
        "`Cookie: access_token_cookie=…` as each system's `/login` set it (HS256); a GET needs no "
        "CSRF token.",
        "",
        summary_table(res),
        "",
        f"- jwtx / flask-jwt-extended: **{fmt_ratio(ratio(j, f))}**",
    ]
    ctx.sections.append("\n".join(md) + errors_note(res))


def mint_refresh_tokens(system, n, path):
    tokens = [system.login()["refresh_token"] for _ in range(n)]
    Path(path).write_text("\n".join(tokens) + "\n")


def refresh_chain(ctx, system, n, rotating):
    """A wrk run of `refresh.lua` against `system` with `n` login sessions of its own, minted
    before the round; `rotating`: an answer without the next refresh token counts as an error."""
    def prep():
        path = ctx.tmp / f"refresh-{system.name}.txt"
        mint_refresh_tokens(system, n, path)
        env = {"BENCH_TOKENS_FILE": str(path)}
        if rotating:
            env["BENCH_EXPECT_ROTATION"] = "1"
        return {"url": system.url("/refresh"), "script": "refresh.lua", "threads": n,
                "conns": n, "env": env}
    return prep


def sc_refresh(ctx):
    jwtx, flask = need_jwtx_hs(ctx), need_flask(ctx)
    n = ctx.args.refresh_connections

    entries = [Entry("jwtx /refresh (rotating)", refresh_chain(ctx, jwtx, n, True), jwtx.proc.pid),
               Entry("flask-jwt-extended /refresh", refresh_chain(ctx, flask, n, False),
                     flask.proc.pid)]
    log("\n== 5. /refresh, chained refresh tokens ==")
    res = alternate(ctx, "refresh", entries)
    j = med(res["jwtx /refresh (rotating)"], "rps")
    f = med(res["flask-jwt-extended /refresh"], "rps")
    rot = sum(r["rotated"] for r in res["jwtx /refresh (rotating)"])
    reqs = sum(r["requests"] for r in res["jwtx /refresh (rotating)"])
    md = [
        "### 4. `/refresh`",
        "",
        f"`wrk -t{n} -c{n}` with `bench/harness/refresh.lua`: one connection per wrk thread, each "
        f"with its own login session ({n} `/login`s per system per round, before the round), "
        "presenting the refresh token its previous response returned (`Authorization: Bearer`). "
        "jwtx rotates the refresh token on every call (a SQLite transaction: reuse detection, "
        "new session state) and signs an access and a refresh token; the Flask peer does not "
        "rotate: it checks its blocklist and signs an access token.",
        "",
        summary_table(res),
        "",
        f"- jwtx / flask-jwt-extended: **{fmt_ratio(ratio(j, f))}**",
        f"- jwtx answers that carried the next refresh token: {rot:,} of {reqs:,} "
        "(every other answer breaks the chain and is counted as an error: `refresh.lua` with "
        "`BENCH_EXPECT_ROTATION=1`)",
    ]
    ctx.sections.append("\n".join(md) + errors_note(res))


def hash_time(ctx, jwtx):
    """Time of one Argon2id verification with the server's defaults: the fastest of several
    sequential `POST /login` to the idle server (one Argon2 verification each, plus a session
    insert and two signatures, well under a millisecond): an upper bound on the hash time."""
    runs = 3 if ctx.args.quick else 9
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        jwtx.login()
        times.append(time.perf_counter() - t)
    ctx.commands["login: hash time"] = (
        f"{runs}× sequential POST /login to the idle jwtx server; hash <= min(latency)")
    # Lowest: other processes on a shared machine only ever add time.
    return min(times)


def sc_login(ctx):
    jwtx, flask = need_jwtx_hs(ctx), need_flask(ctx)
    entries = [Entry("jwtx /login", lambda: {"url": jwtx.url("/login"), "script": "login.lua"},
                     jwtx.proc.pid),
               Entry("flask-jwt-extended /login",
                     lambda: {"url": flask.url("/login"), "script": "login.lua"}, flask.proc.pid)]
    log("\n== 4. /login ==")
    h = hash_time(ctx, jwtx)
    log(f"  Argon2id hash (fastest of sequential /login): {h * 1000:.1f} ms")
    res = alternate(ctx, "login", entries)
    j = med(res["jwtx /login"], "rps")
    f = med(res["flask-jwt-extended /login"], "rps")
    cores = os.cpu_count() or 1
    # The server hashes at most max(1, nproc - 1) passwords at once (a core stays free for
    # token verification), so that is the bound.
    hashers = max(1, cores - 1)
    bound = hashers / h if h > 0 else None
    md = [
        "### 5. `/login`",
        "",
        "`POST /login` `{\"username\":\"testuser\",\"password\":\"testpass\"}` "
        "(`bench/harness/login.lua`). jwtx verifies an Argon2id hash (m = 19 MiB, t = 2, p = 1, "
        "the server's default; at most `nproc − 1` (at least 1) hashes at once, on threads at "
        "nice +10, so verification keeps the cores), creates a session row and signs "
        "two tokens. The Flask peer, like the seed, compares plaintext passwords: it does no "
        "hashing, so its figure is the framework's cost alone, not a like-for-like login.",
        "",
        summary_table(res),
        "",
        f"- Argon2id verification, one core: at most **{h * 1000:.1f} ms** (the fastest of "
        f"{3 if ctx.args.quick else 9} sequential `/login` to the idle server)",
        f"- Argon2 bound on {cores} cores ({hashers} hashing at once): {hashers} / {h * 1000:.1f} ms "
        f"= **{fmt_rps(bound)} logins/s**; "
        f"jwtx reached {fmt_rps(j)} logins/s = **{(j / bound * 100) if bound else 0:.0f}%** of it "
        "(wrk shares the cores)",
        f"- flask-jwt-extended (no hashing) / jwtx: {fmt_ratio(ratio(f, j))}",
    ]
    ctx.sections.append("\n".join(md) + errors_note(res))


def latency_histogram(system):
    """jwtx's /metrics latency histogram: [(upper bound in seconds, cumulative count)]."""
    status, _, body = request(system.port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"{system.name}: /metrics answered {status}")
    out = []
    for line in body.decode().splitlines():
        if line.startswith("jwtx_http_request_duration_seconds_bucket{le="):
            le = line.split('"')[1]
            out.append((math.inf if le == "+Inf" else float(le), int(line.rsplit(" ", 1)[1])))
    return out


def histogram_quantile(before, after, q):
    """(upper bound of the bucket holding quantile q of the requests answered between two
    scrapes, requests in all)."""
    delta = [(b, n_after - n_before) for (b, n_after), (_, n_before) in zip(after, before)]
    total = delta[-1][1] if delta else 0
    for bound, cumulative in delta:
        if total and cumulative >= q * total:
            return bound, total
    return math.inf, total


def fmt_bound(secs):
    return "> 5 s" if secs == math.inf else f"≤ {fmt_us(secs * 1e6)}"


def sc_storm(ctx):
    jwtx = need_jwtx_hs(ctx)
    a = ctx.args
    lc = a.latency_connections
    results = {"quiet": [], "storm": [], "logins": []}
    log(f"\n== 6. /protected latency (wrk -t1 -c{lc}) alone and under a login storm "
        f"(wrk -t1 -c{a.storm_connections} POST /login) ==")

    def probe_spec():
        tok = jwtx.login()["access_token"]
        return jwtx.url("/protected"), [f"Authorization: Bearer {tok}"]

    if a.warmup > 0:
        url, hdr = probe_spec()
        run_wrk(url, a.warmup, 1, lc, headers=hdr)
    for r in range(a.rounds):
        order = ["quiet", "storm"] if r % 2 == 0 else ["storm", "quiet"]
        for kind in order:
            url, hdr = probe_spec()
            if kind == "quiet":
                hist = latency_histogram(jwtx)
                res = run_wrk(url, a.duration, 1, lc, headers=hdr)
                if r == 0:
                    ctx.commands["storm: /protected probe"] = cmd_text(
                        wrk_cmd(url, a.duration, 1, lc, "report.lua", hdr))
            else:
                sp, scmd = start_wrk(jwtx.url("/login"), a.duration + 2, 1, a.storm_connections,
                                     script="login.lua")
                time.sleep(1.0)  # let the storm reach its 32 logins in flight
                hist = latency_histogram(jwtx)
                res = run_wrk(url, a.duration, 1, lc, headers=hdr)
                storm = finish_wrk(sp, scmd)
                results["logins"].append(storm)
                if r == 0:
                    ctx.commands["storm: login storm"] = cmd_text(scmd)
            # The probe's window in the server's own histogram (the storm's logins included:
            # a few per thousand requests at most).
            res["server_p99_s"], res["server_requests"] = histogram_quantile(
                hist, latency_histogram(jwtx), 0.99)
            results[kind].append(res)
            extra = ""
            if kind == "storm":
                extra = f"  (storm: {results['logins'][-1]['rps']:,.0f} logins/s, " \
                        f"{results['logins'][-1]['errors']} errors)"
            log(f"  round {r + 1}/{a.rounds} {kind:<6} {res['rps']:>9,.0f} req/s  p50 "
                f"{fmt_us(res['lat_p50_us'])}  p99 {fmt_us(res['lat_p99_us'])}  server p99 "
                f"{fmt_bound(res['server_p99_s'])}  steal "
                f"{res['steal_pct']:.0f}%  errors {res['errors']}{extra}")
    ctx.results["storm"] = results
    q99, s99 = med(results["quiet"], "lat_p99_us"), med(results["storm"], "lat_p99_us")
    q50, s50 = med(results["quiet"], "lat_p50_us"), med(results["storm"], "lat_p50_us")
    rr = ratio(s99, q99)
    target(ctx, "`/protected` p99 under the login storm at most 3× its p99 without", rr,
           lambda x: x <= 3, f"{fmt_us(s99)} against {fmt_us(q99)}: {rr:.2f}×" if rr else "")
    rows = [
        "| `/protected` | req/s (median) | p50 | p90 | p99 | p99.9 | server-side p99 (`/metrics`) | errors | CPU stolen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, label in (("quiet", "alone"), ("storm", f"with {a.storm_connections} logins in flight")):
        rs = results[kind]
        rows.append(f"| {label} | {fmt_rps(med(rs, 'rps'))} | {fmt_us(med(rs, 'lat_p50_us'))} | "
                    f"{fmt_us(med(rs, 'lat_p90_us'))} | {fmt_us(med(rs, 'lat_p99_us'))} | "
                    f"{fmt_us(med(rs, 'lat_p999_us'))} | {fmt_bound(med(rs, 'server_p99_s'))} | "
                    f"{sum(x['errors'] for x in rs)} | {med(rs, 'steal_pct'):.0f}% |")
    lg = results["logins"]
    md = [
        "### 6. `/protected` latency under a login storm",
        "",
        f"jwtx only. A latency probe, `wrk -t1 -c{lc}` on `/protected` (header token), run alone "
        f"and while a second wrk keeps {a.storm_connections} `POST /login`s in flight "
        f"(`-t1 -c{a.storm_connections}`, started 1 s before the probe and ending after it); "
        "quiet and storm alternate, round by round. Median over rounds of each round's "
        "percentiles. *CPU stolen*: the share of the VM's CPU time the hypervisor gave to "
        "other tenants during the probe (`/proc/stat`): its preemptions last milliseconds and land in both lines' tails. "
        "*Server-side p99*: the bucket of jwtx's own latency histogram (`jwtx_http_request_duration_seconds`, "
        "scraped from `/metrics` before and after the probe: the time from the request head to the "
        "response head) that holds the 99th percentile of the requests answered during the probe; "
        "the storm's logins are among them, under 0.1% of the requests.",
        "",
        "\n".join(rows),
        "",
        f"- p50 {fmt_us(s50)} against {fmt_us(q50)} ({fmt_ratio(ratio(s50, q50))}); "
        f"p99 {fmt_us(s99)} against {fmt_us(q99)} (**{fmt_ratio(rr)}**)",
        f"- the storm itself: {fmt_rps(med(lg, 'rps'))} logins/s (median), login p50 "
        f"{fmt_us(med(lg, 'lat_p50_us'))}, p99 {fmt_us(med(lg, 'lat_p99_us'))}, "
        f"{sum(x['errors'] for x in lg)} errors",
    ]
    ctx.sections.append("\n".join(md))


# ---------------------------------------------------------------------------------------------
# Many instances: PostgreSQL + Redis + HAProxy


PG_ADMIN = os.environ.get("JWTX_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("JWTX_BENCH_REDIS_URL", "redis://127.0.0.1:6379")


def psql(url, sql):
    p = run_cmd(["psql", url, "-qtAc", sql], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed ({sql}): {p.stderr.strip()}")
    return p.stdout.strip()


def start_pg_jwtx(ctx, name, db_url, extra_env=None):
    """A `jwtx serve` on the PostgreSQL database `db_url` (no demo users: they are refused there)."""
    env = {"JWTX_DATABASE_URL": db_url}
    env.update(extra_env or {})
    return start_jwtx(ctx, name, ctx.tmp / f"{name}-unused", env, demo=False)


def haproxy_front(ctx, backends):
    port = free_port()
    servers = "\n".join(f"    server s{i} 127.0.0.1:{b.port}" for i, b in enumerate(backends))
    cfg = ctx.tmp / "haproxy.cfg"
    cfg.write_text(f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    option forwardfor
frontend jwtx
    bind 127.0.0.1:{port}
    default_backend instances
backend instances
    balance roundrobin
{servers}
""")
    lp = ctx.log_path("haproxy")
    p = spawn(["haproxy", "-db", "-f", cfg], log_path=lp)
    wait_ready(port, "/healthz", p, 30, lp)
    return System("haproxy", port, p, lp, "haproxy -db -f haproxy.cfg (roundrobin, keep-alive)")


def propagation(ctx, writer, reader, samples):
    """Seconds from a logout's 200 on `writer` until `reader` refuses the logged-out access
    token, over `samples` logouts: each polls `reader` on one kept-alive connection."""
    out = []
    conn = http.client.HTTPConnection("127.0.0.1", reader.port, timeout=10)
    try:
        for _ in range(samples):
            token = writer.login()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            conn.request("GET", "/protected", headers=auth)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"{reader.name}: a fresh token answered {r.status}")
            # A random pause, so logouts fall anywhere in the reader's poll cycle rather than
            # just after the poll that ended the previous sample.
            time.sleep(random.uniform(0, 0.5))
            status, _, body = request(writer.port, "POST", "/logout", headers=auth)
            if status != 200:
                raise RuntimeError(f"{writer.name}: /logout answered {status}: {body[:200]!r}")
            t0 = time.perf_counter()
            while True:
                conn.request("GET", "/protected", headers=auth)
                r = conn.getresponse()
                r.read()
                if r.status == 401:
                    break
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError(f"{reader.name} still accepted a logged-out token after 10 s")
            out.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return out


def pct(vals, q):
    v = sorted(vals)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def sc_downstream(ctx):
    """The `downstream` example (jwtx-axum, `remote`) behind a `jwtx serve` gateway (ES256):
    its `/whoami` against its own `/healthz`, and `/whoami`'s p99 while the gateway rotates
    its key every second against without."""
    a = ctx.args
    data = ctx.tmp / "gateway"
    gw_env = {"JWTX_ALGORITHM": "ES256", "JWTX_JWKS_MAX_AGE": "1s", "JWTX_KEY_PUBLISH_LEAD": "2s"}
    gw = start_jwtx(ctx, "gateway-es256", str(data), gw_env)
    ctx.systems["gateway-es256"] = gw
    p = run_cmd([JWTX, "--data-dir", str(data), "service", "add", "bench"],
                env=jwtx_env(ctx, **gw_env), capture_output=True, text=True)
    credential = p.stdout.strip()
    if p.returncode != 0 or not credential.startswith("jwtxsvc_"):
        raise RuntimeError(f"jwtx service add failed: {p.stderr.strip()}")
    port = free_port()
    env = dict(os.environ, JWKS_URL=gw.url("/.well-known/jwks.json"),
               REVOCATIONS_URL=gw.url("/revocations"), REVOCATIONS_TOKEN=credential,
               PORT=str(port), RUST_LOG="warn")
    lp = ctx.log_path("downstream")
    proc = spawn([str(DOWNSTREAM)], env=env, log_path=lp)
    wait_ready(port, "/healthz", proc, 30, lp)
    ds = System("downstream", port, proc, lp,
                "JWKS_URL=… REVOCATIONS_URL=… REVOCATIONS_TOKEN=… PORT=$PORT "
                "target/release/examples/downstream")
    ctx.systems["downstream"] = ds
    tok = gw.login("admin", "adminpass")["access_token"]
    auth = [f"Authorization: Bearer {tok}"]
    deadline = time.time() + 30
    while True:
        status, _, body = request(port, "GET", "/whoami", headers=dict([auth[0].split(": ", 1)]))
        if status == 200:
            break
        if time.time() > deadline:
            raise RuntimeError(f"downstream /whoami answered {status}: {body[:200]!r}")
        time.sleep(0.1)
    entries = [
        Entry("downstream /whoami (ES256 token)",
              lambda: {"url": ds.url("/whoami"), "headers": auth}, pid=proc.pid),
        Entry("downstream /healthz", lambda: {"url": ds.url("/healthz")}, pid=proc.pid),
    ]
    log("\n== downstream: the example service behind a jwtx gateway ==")
    res = alternate(ctx, "downstream", entries)
    w = med(res["downstream /whoami (ES256 token)"], "rps")
    h = med(res["downstream /healthz"], "rps")
    r = ratio(w, h)
    target(ctx, "downstream `/whoami` ≥ 0.85× its own `/healthz`", r, lambda x: x >= 0.85,
           fmt_ratio(r))

    # /whoami's tail with and without rotations at the gateway: `keys rotate --now` every
    # second during the rotating runs (each a new key in the JWKS and a `keys` notice on the
    # feed, which makes the service refetch the JWKS while it serves).
    quiet, rotating, rotations = [], [], 0
    url = ds.url("/whoami")
    for rnd in range(a.rounds):
        for mode in (("quiet", "rotating") if rnd % 2 == 0 else ("rotating", "quiet")):
            wp, cmd = start_wrk(url, a.duration, a.threads, a.connections, headers=auth)
            if mode == "rotating":
                end = time.time() + a.duration - 0.5
                while time.time() < end:
                    q = run_cmd([JWTX, "--data-dir", str(data), "keys", "rotate", "--now"],
                                env=jwtx_env(ctx, **gw_env), capture_output=True, text=True)
                    if q.returncode != 0:
                        raise RuntimeError(f"jwtx keys rotate --now failed: {q.stderr.strip()}")
                    rotations += 1
                    time.sleep(1.0)
            out = finish_wrk(wp, cmd)
            (quiet if mode == "quiet" else rotating).append(out)
            log(f"  round {rnd + 1}/{a.rounds} /whoami {mode:<9} {out['rps']:>10,.0f} req/s  "
                f"p99 {fmt_us(out['lat_p99_us'])}  errors {out['errors']}")
    ctx.results["downstream-rotation"] = {"quiet": quiet, "rotating": rotating}
    qp, rp = med(quiet, "lat_p99_us"), med(rotating, "lat_p99_us")
    md = [
        "### Downstream service (issue 20)",
        "",
        "A `jwtx serve` gateway (ES256, SQLite) and jwtx-axum's `downstream` example following its "
        "JWKS and revocation feed (event stream), both release builds on this machine, wrk on "
        "the example. `/whoami` verifies an ES256 access token (the cache of verified tokens "
        "answers a repeated token while the key set that verified it is current), checks the "
        "feed's revocation set and answers the roles; `/healthz` is the same service with no "
        "token.",
        "",
        summary_table(res),
        "",
        f"- `/whoami` / `/healthz`: {fmt_ratio(r)} (target ≥ 0.85×); the median of the "
        f"per-round ratios (each pair back to back): "
        f"{fmt_ratio(paired_ratio(res['downstream /whoami (ES256 token)'], res['downstream /healthz']))}",
        "",
        f"`/whoami` during rotations: the gateway ran `jwtx keys rotate --now` about once a second "
        f"during each rotating run ({rotations} rotations in all), each a new key in the JWKS and "
        "a `keys` notice on the feed that makes the service refetch its key set (so the cached "
        "verifications start over).",
        "",
        summary_table({"/whoami, no rotation": quiet, "/whoami, rotating every second": rotating}),
        "",
        f"- p99 rotating / quiet: {fmt_ratio(ratio(rp, qp))}",
    ]
    errs = sum(x["errors"] for x in quiet + rotating)
    if errs:
        md.append(f"- **{errs} errors** during the rotation runs")
    ctx.sections.append("\n".join(md) + errors_note(res))
    for name in ("downstream", "gateway-es256"):
        ctx.systems.pop(name).stop()


def sc_cluster(ctx):
    for tool in ("psql", "haproxy"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (Debian: apt-get install "
                               f"{'postgresql-client' if tool == 'psql' else tool})")
    db = f"jwtx_bench_{ctx.stamp.lower()}"
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
    prefix = f"jwtx-bench-{ctx.stamp}:"
    psql(PG_ADMIN, f'CREATE DATABASE "{db}"')
    try:
        _sc_cluster(ctx, db_url, prefix)
    finally:
        for name in [n for n in ctx.systems if n.startswith("pg-") or n == "haproxy"]:
            ctx.systems.pop(name).stop()
        psql(PG_ADMIN, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        p = run_cmd(["sh", "-c", f"redis-cli -u {shlex.quote(REDIS_URL)} --scan --pattern "
                     f"{shlex.quote(prefix + '*')} | xargs -r redis-cli -u {shlex.quote(REDIS_URL)} del"],
                    capture_output=True, text=True)
        if p.returncode != 0:
            log(f"  (could not delete the Redis keys {prefix}*: {p.stderr.strip()})")


def _sc_cluster(ctx, db_url, prefix):
    a = ctx.args
    sqlite, flask = need_jwtx_hs(ctx), need_flask(ctx)
    shared = {"JWTX_REDIS_URL": REDIS_URL, "JWTX_REDIS_KEY_PREFIX": prefix,
              "JWTX_TRUSTED_PROXIES": "127.0.0.1"}
    # The first instance creates the schema; the user is created through it (the CLI).
    first = start_pg_jwtx(ctx, "pg-a", db_url, shared)
    ctx.systems["pg-a"] = first
    p = run_cmd([JWTX, "user", "add", "testuser", "--password-stdin"],
                env=jwtx_env(ctx, JWTX_DATABASE_URL=db_url), input="testpass\n",
                capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"jwtx user add failed: {p.stderr}")
    ctx.systems["pg-b"] = start_pg_jwtx(ctx, "pg-b", db_url, shared)
    ctx.systems["pg-c"] = start_pg_jwtx(ctx, "pg-c", db_url, shared)
    # Two more without Redis: revocations reach them by polling only.
    ctx.systems["pg-d"] = start_pg_jwtx(ctx, "pg-d", db_url)
    ctx.systems["pg-e"] = start_pg_jwtx(ctx, "pg-e", db_url)
    front = haproxy_front(ctx, [ctx.systems[n] for n in ("pg-a", "pg-b", "pg-c")])
    ctx.systems["haproxy"] = front
    a_, b_, c_ = ctx.systems["pg-a"], ctx.systems["pg-b"], ctx.systems["pg-c"]

    log("\n== 8. many instances: PostgreSQL, Redis, HAProxy ==")
    token = sqlite.login()["access_token"]
    pg_token = a_.login()["access_token"]
    hdr = lambda t: (f"Authorization: Bearer {t}",)
    entries = [
        Entry("jwtx on SQLite /protected", lambda: {"url": sqlite.url("/protected"),
                                                    "headers": hdr(token)}, sqlite.proc.pid),
        Entry("jwtx on PostgreSQL /protected", lambda: {"url": a_.url("/protected"),
                                                        "headers": hdr(pg_token)}, a_.proc.pid),
        Entry("HAProxy → 3 jwtx on PostgreSQL /protected",
              lambda: {"url": front.url("/protected"), "headers": hdr(pg_token)}),
    ]
    prot = alternate(ctx, "cluster-protected", entries)
    n = a.refresh_connections

    def chain(system, rotating=True):
        return refresh_chain(ctx, system, n, rotating)

    refresh = alternate(ctx, "cluster-refresh", [
        Entry("jwtx on PostgreSQL /refresh", chain(a_)),
        Entry("jwtx on SQLite /refresh", chain(sqlite)),
        # The Flask peer does not rotate: its answers carry no next refresh token.
        Entry("flask-jwt-extended /refresh", chain(flask, rotating=False)),
    ])
    login = alternate(ctx, "cluster-login", [
        Entry("jwtx on PostgreSQL /login", lambda: {"url": a_.url("/login"), "script": "login.lua"}),
        Entry("jwtx on SQLite /login", lambda: {"url": sqlite.url("/login"), "script": "login.lua"}),
    ])
    samples = 30 if a.quick else 200
    log(f"  propagation: {samples} logouts each way")
    with_redis = propagation(ctx, b_, c_, samples)
    without = propagation(ctx, ctx.systems["pg-d"], ctx.systems["pg-e"], samples)
    rss = {name: ctx.systems[name].status().get("VmRSS", "?")
           for name in ("pg-a", "pg-b", "pg-c", "pg-d", "pg-e")}
    rss["SQLite instance"] = sqlite.status().get("VmRSS", "?")

    pm = lambda label, res: med(res[label], "rps")
    sq, pg = pm("jwtx on SQLite /protected", prot), pm("jwtx on PostgreSQL /protected", prot)
    lb = pm("HAProxy → 3 jwtx on PostgreSQL /protected", prot)
    rpg, rsq = pm("jwtx on PostgreSQL /refresh", refresh), pm("jwtx on SQLite /refresh", refresh)
    rfl = pm("flask-jwt-extended /refresh", refresh)
    r50, r99 = pct(with_redis, 0.5) * 1000, pct(with_redis, 0.99) * 1000
    p50, p99 = pct(without, 0.5) * 1000, pct(without, 0.99) * 1000
    poll_ms = 500
    md = [
        "### 8. Many instances (`cluster`)",
        "",
        "One PostgreSQL database (the machine's, a fresh database per run) and one Redis; three "
        "`jwtx serve` with Redis (`pg-a`, `pg-b`, `pg-c`) behind HAProxy (round robin, keep-alive, "
        "`option forwardfor`), two more on the same database without Redis (`pg-d`, `pg-e`), and "
        "the SQLite-backed instance of the other scenarios. Every system runs on this one "
        "machine, HAProxy and PostgreSQL included.",
        "",
        "#### `/protected`",
        "",
        summary_table(prot),
        "",
        f"- PostgreSQL-backed / SQLite-backed: **{fmt_ratio(ratio(pg, sq))}** (per-round: "
        f"{fmt_ratio(paired_ratio(prot['jwtx on PostgreSQL /protected'], prot['jwtx on SQLite /protected']))}); "
        "a protected request touches no store",
        f"- through HAProxy over three instances / one instance direct: {fmt_ratio(ratio(lb, pg))} "
        "(the balancer and all three instances share the same two cores)",
        "",
        "#### `/refresh` and `/login`",
        "",
        summary_table(refresh),
        "",
        f"- PostgreSQL / flask-jwt-extended: **{fmt_ratio(ratio(rpg, rfl))}**; "
        f"PostgreSQL / SQLite: {fmt_ratio(ratio(rpg, rsq))}",
        "",
        summary_table(login),
        "",
        "#### Revocation propagation",
        "",
        f"A logout answered 200 by one instance, then the time until another instance answers "
        f"401 to its access token, polled on a kept-alive connection; {samples} logouts each.",
        "",
        "| path | p50 | p99 | max |",
        "|---|---:|---:|---:|",
        f"| `pg-b` → `pg-c`, Redis pub/sub wake-up | {r50:.1f} ms | {r99:.1f} ms | {max(with_redis) * 1000:.1f} ms |",
        f"| `pg-d` → `pg-e`, polling every {poll_ms} ms | {p50:.1f} ms | {p99:.1f} ms | {max(without) * 1000:.1f} ms |",
        "",
        "#### Resident memory per instance (after the runs)",
        "",
        "| instance | VmRSS |",
        "|---|---:|",
    ] + [f"| {k} | {v / 1024:.1f} MiB |" if isinstance(v, int) else f"| {k} | {v} |"
         for k, v in rss.items()]
    ctx.sections.append("\n".join(md) + errors_note(prot) + errors_note(refresh) + errors_note(login))
    target(ctx, "cluster: propagation p99 with Redis ≤ 50 ms", r99, lambda v: v <= 50,
           f"{r99:.1f} ms")
    target(ctx, f"cluster: propagation p99 without Redis ≤ poll interval + 50 ms = "
           f"{poll_ms + 50} ms", p99, lambda v: v <= poll_ms + 50, f"{p99:.1f} ms")
    target(ctx, "cluster: /protected on PostgreSQL ≥ 0.95× SQLite", ratio(pg, sq),
           lambda v: v >= 0.95, fmt_ratio(ratio(pg, sq)))
    target(ctx, "cluster: /refresh on PostgreSQL ≥ 2× flask-jwt-extended", ratio(rpg, rfl),
           lambda v: v >= 2, fmt_ratio(ratio(rpg, rfl)))


def timed_start(ctx, name, d):
    """Starts jwtx serve on d; returns (system, seconds from spawn to /readyz 200)."""
    port = free_port()
    cmd = [JWTX, "--data-dir", d, "serve", "--bind", f"127.0.0.1:{port}"]
    lp = ctx.log_path(name)
    t = time.perf_counter()
    p = spawn(cmd, env=jwtx_env(ctx), log_path=lp)
    wait_ready(port, "/readyz", p, 120, lp, interval=0.002)
    secs = time.perf_counter() - t
    return System(name, port, p, lp, ""), secs


def timed_starts(ctx, name, d, starts):
    """Starts jwtx serve on d `starts` times (stopping all but the last); returns (the running
    system, each start's seconds to /readyz), 1 s after the last start."""
    times = []
    for i in range(starts):
        sysm, secs = timed_start(ctx, name, d)
        times.append(secs)
        if i < starts - 1:
            sysm.stop()
    time.sleep(1.0)
    return sysm, times


def mint_access(ctx):
    """An access token from `jwtx token mint` with the run's secret, shaped like a login's:
    `roles`, and a `sid` that names no session (so the revocation check looks up jti, session
    and user, and finds nothing)."""
    sid = f'sid="{uuid_v4()}"'
    p = run_cmd([JWTX, "token", "mint", "--sub", "testuser", "--claim", 'roles=["user"]',
                 "--claim", sid], env=jwtx_env(ctx), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"jwtx token mint failed: {p.stderr}")
    ctx.commands["revocations: token"] = (
        "JWTX_SECRET_KEY=$SECRET jwtx token mint --sub testuser --claim 'roles=[\"user\"]' "
        "--claim 'sid=\"$RANDOM_UUID\"'")
    return p.stdout.strip()


def uuid_v4():
    import uuid
    return str(uuid.uuid4())


def sc_revocations(ctx):
    a = ctx.args
    counts = [0] + a.revocation_counts
    starts = 2 if a.quick else a.startup_runs
    info = {}
    log("\n== 7. revocation list: start-up, memory, /protected ==")
    for n in counts:
        d = ctx.tmp / f"jwtx-rev-{n}"
        d.mkdir(parents=True, exist_ok=True)
        fill = None
        if n:
            t = time.perf_counter()
            p = run_cmd([REVOCATION_LOAD, "--count", n, "--dir", d], capture_output=True,
                        text=True)
            if p.returncode != 0:
                raise RuntimeError(f"revocation_load failed: {p.stderr}")
            fill = time.perf_counter() - t
            (ctx.out / f"revocation_load-{n}.txt").write_text(p.stdout + p.stderr)
            ctx.commands["revocations: fill"] = (
                "target/release/examples/revocation_load --count N --dir $DIR")
        # A first, untimed start creates the demo users (one Argon2 hash each) and warms the
        # page cache; the timed starts then open an existing store, as a restart does.
        s = start_jwtx(ctx, f"jwtx-rev-{n}-first", d, demo=True, ready_timeout=120)
        s.stop()
        sysm, times = timed_starts(ctx, f"jwtx-rev-{n}", d, starts)
        st = sysm.status()
        info[n] = {"fill_s": fill, "starts": times, "rss_start": st.get("VmRSS"),
                   "hwm_start": st.get("VmHWM"), "system": sysm}
        log(f"  {n:>9,} revocations: start-up to /readyz {statistics.median(times):.3f} s "
            f"(runs {', '.join(f'{x:.3f}' for x in times)}), VmRSS {st.get('VmRSS', 0) / 1024:.1f} MiB")
    ctx.commands["revocations: start-up"] = (
        f"{JWTX_ENV_TEXT} jwtx --data-dir $DIR serve --bind 127.0.0.1:$PORT  "
        f"(time from spawn to the first 200 from GET /readyz, polled every 2 ms; {starts} starts)")
    # Tokens minted with the CLI (same secret), not by /login: a login's Argon2 work leaves
    # its memory in the process (see "after 1 /login"), which is not the revocation list's.
    def minted(system):
        def prep():
            tok = mint_access(ctx)
            return {"url": system.url("/protected"), "headers": [f"Authorization: Bearer {tok}"]}
        return prep

    for n in counts:
        sanity(info[n]["system"], "/protected", minted(info[n]["system"])()["headers"])
    entries = [Entry(f"jwtx /protected, {n:,} revocations", minted(info[n]["system"]))
               for n in counts]
    res = alternate(ctx, "revocations", entries)
    for n in counts:
        sysm = info[n]["system"]
        st = sysm.status()
        info[n]["rss_load"] = st.get("VmRSS")
        info[n]["hwm_load"] = st.get("VmHWM")
        sysm.login()
        time.sleep(0.5)
        info[n]["rss_login"] = sysm.status().get("VmRSS")
        sysm.stop()
        del info[n]["system"]
    ctx.results["revocations_info"] = info
    big = max(counts)
    if big >= 1_000_000:
        bi = info[big]
        rss = max(bi["rss_start"] or 0, bi["rss_load"] or 0) / 1024
        target(ctx, f"{big:,} live revocations: at most 128 MiB resident", rss,
               lambda v: v <= 128, f"VmRSS {rss:.1f} MiB, peak VmHWM "
               f"{max(bi['hwm_start'] or 0, bi['hwm_load'] or 0) / 1024:.1f} MiB")
        st_m = statistics.median(bi["starts"])
        target(ctx, f"{big:,} live revocations: start-up under 3 s", st_m, lambda v: v < 3,
               f"median {st_m:.2f} s to `/readyz`")
    rows = ["| live revocations | fill (example) | start-up to `/readyz` (median) | start-up runs | "
            "VmRSS after start | VmRSS after the rounds | VmHWM | VmRSS after 1 `/login` | "
            "`/protected` req/s (median) |",
            "|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for n in counts:
        i = info[n]
        label = f"jwtx /protected, {n:,} revocations"
        fill = "—" if i["fill_s"] is None else f"{i['fill_s']:.1f} s"
        rows.append(
            f"| {n:,} | {fill} | "
            f"**{statistics.median(i['starts']):.3f} s** | {', '.join(f'{x:.2f}' for x in i['starts'])} | "
            f"{(i['rss_start'] or 0) / 1024:.1f} MiB | {(i['rss_load'] or 0) / 1024:.1f} MiB | "
            f"{max(i['hwm_start'] or 0, i['hwm_load'] or 0) / 1024:.1f} MiB | "
            f"{(i['rss_login'] or 0) / 1024:.1f} MiB | "
            f"{fmt_rps(med(res[label], 'rps'))} |")
    md = [
        "### 7. Revocation list: 10 000 and 1 000 000 entries",
        "",
        "`revocation_load --count N --dir D` fills a store with N live token revocations (jtis "
        "from `jwtx::uuid4()`, live for a day; it then loads them once itself, not timed here). "
        "`jwtx serve` is started on D once untimed (creates the demo users, warms the page "
        f"cache), then {starts} times, timing spawn to the first `200` from `/readyz` (the "
        "revocation log is loaded before the port opens). Memory is the server's VmRSS 1 s after "
        "its last start and after the `/protected` rounds (VmHWM: the peak until then), and "
        "once more after a single `/login`. The `/protected` tokens come from `jwtx token mint` "
        "(same secret, `roles` and a `sid` naming no session), not from `/login`, so the "
        "rounds add no Argon2 work; none is revoked: every request pays the lookup that misses "
        "(jti, session, user cut-off). Lookup cost: criterion's `revocations` bench, below.",
        "",
        "\n".join(rows),
    ]
    ctx.sections.append("\n".join(md) + errors_note(res))


def timed_call(system, method, path, body=None, headers=None, expect=200):
    """(seconds, response body) of one request on a new connection; fails on another status."""
    t = time.perf_counter()
    status, _, data = request(system.port, method, path, body, headers, timeout=60.0)
    secs = time.perf_counter() - t
    if status != expect:
        raise RuntimeError(f"{system.name}: {method} {path} answered {status}: {data[:200]!r}")
    return secs, data


def store_load(ctx, d, **kw):
    """Grows the store in d with `store_load` (flags from kw); returns its seconds."""
    cmd = [STORE_LOAD, "--dir", d]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", v]
    t = time.perf_counter()
    p = run_cmd(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"store_load failed: {p.stderr}")
    with open(ctx.out / "store_load.txt", "a") as f:
        f.write(p.stdout + p.stderr)
    return time.perf_counter() - t


def scale_row(ctx, label, d, sessions, seeded_user):
    """One row of the cost-vs-N table: start-up, memory and the store-bound routes' latency on
    the store in d, whose `testuser` holds `sessions` live sessions."""
    a = ctx.args
    starts = 2 if a.quick else 3
    sysm, times = timed_starts(ctx, f"jwtx-scale-{len(ctx.results.get('scale', []))}", d,
                               starts)
    rss_start = sysm.status().get("VmRSS", 0)
    med_ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    logins, seeded = [], []
    for _ in range(5):
        secs, body = timed_call(sysm, "POST", "/login",
                                {"username": "testuser", "password": "testpass"})
        logins.append(secs)
        secs, _ = timed_call(sysm, "POST", "/login",
                             {"username": seeded_user, "password": "testpass"})
        seeded.append(secs)
    doc = json.loads(body)
    auth = {"Authorization": f"Bearer {doc['access_token']}"}
    refresh_token, refreshes = doc["refresh_token"], []
    for _ in range(100 if not a.quick else 20):
        secs, data = timed_call(sysm, "POST", "/refresh",
                                headers={"Authorization": f"Bearer {refresh_token}"})
        refreshes.append(secs)
        refresh_token = json.loads(data)["refresh_token"]
    pages = [timed_call(sysm, "GET", "/sessions", headers=auth)[0] for _ in range(20)]
    protected = run_wrk(sysm.url("/protected"), 3 if a.quick else 5, a.threads, a.connections,
                        headers=[f"Authorization: Bearer {doc['access_token']}"])
    live = sessions + 5  # the five logins above
    logout_all, _ = timed_call(sysm, "POST", "/logout/all", headers=auth)
    rss_end = sysm.status().get("VmRSS", 0)
    sysm.stop()
    row = {"label": label, "sessions": live, "starts": times, "rss_start": rss_start,
           "rss_end": rss_end, "login_ms": med_ms(logins), "login_seeded_ms": med_ms(seeded),
           "refresh_ms": med_ms(refreshes), "sessions_ms": med_ms(pages),
           "protected_rps": protected["rps"], "protected_errors": protected["errors"],
           "logout_all_ms": logout_all * 1000}
    ctx.results.setdefault("scale", []).append(row)
    log(f"  {label}: start-up {statistics.median(times):.3f} s, VmRSS {rss_start / 1024:.1f} MiB, "
        f"/login {row['login_ms']:.1f} ms, /refresh {row['refresh_ms']:.2f} ms, /sessions "
        f"{row['sessions_ms']:.2f} ms, /protected {protected['rps']:,.0f} req/s, /logout/all "
        f"({live} sessions) {row['logout_all_ms']:.1f} ms")
    return row


def sc_scale(ctx):
    a = ctx.args
    big = 100_000 if a.quick else 1_000_000
    log(f"\n== 9. cost as the store grows: 1,000 and {big:,} users ==")
    rows = []
    fills = {}
    for users in (1_000, big):
        d = ctx.tmp / f"jwtx-scale-{users}"
        d.mkdir(parents=True, exist_ok=True)
        # Creates the schema and the demo users, whose password hash store_load copies.
        start_jwtx(ctx, f"jwtx-scale-{users}-first", d, demo=True, ready_timeout=120).stop()
        fills[users] = store_load(ctx, d, users=users, sessions_per_user=1)
        seeded = f"load-{users // 2:08}"
        rows.append(scale_row(ctx, f"{users:,} users, 1 session each", d, 0, seeded))
        if users != big:
            continue
        for k in (100, 1000):
            # /logout/all ended testuser's sessions: it gets k live ones again.
            store_load(ctx, d, users=0, user_sessions=k)
            rows.append(scale_row(ctx, f"{users:,} users; `testuser` with {k:,} sessions", d, k,
                                  seeded))
        fills["revocations"] = store_load(ctx, d, users=0, revocations=big)
        store_load(ctx, d, users=0, user_sessions=1000)
        rows.append(scale_row(ctx, f"{users:,} users, {big:,} live revocations; `testuser` with "
                                   "1,000 sessions", d, 1000, seeded))
    ctx.commands["scale: fill"] = (
        "target/release/examples/store_load --dir $DIR --users N --sessions-per-user 1; "
        "then --users 0 --user-sessions K; then --users 0 --revocations N")
    ctx.commands["scale: measure"] = (
        f"{JWTX_ENV_TEXT} jwtx --data-dir $DIR serve --bind 127.0.0.1:$PORT; sequential "
        "requests, each on a new connection: 5 × POST /login (testuser and a seeded user), "
        "100 × POST /refresh on one chain, 20 × GET /sessions, then wrk -t2 -c32 -d5s "
        "/protected, then 1 × POST /logout/all")
    small, large = rows[0], rows[1]
    for key, text in (("login_ms", "`/login`"), ("refresh_ms", "`/refresh`")):
        r = large[key] / small[key] if small[key] else None
        target(ctx, f"{text} at {big:,} users within 1.5× its cost at 1,000", r,
               lambda x: x <= 1.5, f"{large[key]:.2f} ms against {small[key]:.2f} ms: {r:.2f}×")
    table = [
        "| store | live sessions of `testuser` | start-up to `/readyz` (median) | VmRSS after start | "
        "VmRSS at the end | `/login` p50 (testuser / a seeded user) | `/refresh` p50 | "
        "`GET /sessions` p50 | `/protected` req/s | `POST /logout/all` |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(
            f"| {r['label']} | {r['sessions']:,} | {statistics.median(r['starts']):.3f} s | "
            f"{r['rss_start'] / 1024:.1f} MiB | {r['rss_end'] / 1024:.1f} MiB | "
            f"{r['login_ms']:.1f} / {r['login_seeded_ms']:.1f} ms | {r['refresh_ms']:.2f} ms | "
            f"{r['sessions_ms']:.2f} ms | {fmt_rps(r['protected_rps'])} | "
            f"{r['logout_all_ms']:.1f} ms |")
    md = [
        f"### 9. Cost as the store grows (users, sessions per user, revocations)",
        "",
        f"A SQLite store grown by `store_load` (jwtx-sqlx example: users named `load-N` with "
        f"`testuser`'s Argon2 hash, one live session each, and live sessions of `testuser`; "
        f"one transaction, multi-row inserts: {fills[1_000]:.1f} s for 1,000 users, "
        f"{fills[big]:.1f} s for {big:,}) and, for the last row, {big:,} live token revocations "
        f"from `store_load` too ({fills['revocations']:.1f} s). Per row, `jwtx serve` is "
        f"started {2 if a.quick else 3} times on it (spawn to the first `200` from `/readyz`, "
        "median), then sequential requests, each on a new connection: five `/login`s as "
        "`testuser` and five as a seeded user (Argon2 is most of it), 100 `/refresh`es on one "
        "chain (a rotation each, `synchronous=FULL`), 20 first pages of `GET /sessions`, "
        "a 5 s `wrk -t2 -c32` on `/protected`, and last `POST /logout/all`, which ends every "
        "live session of `testuser` in one transaction (a user holds at most 1,000 live "
        "sessions: a login past that ends the oldest). Medians; one sample for `/logout/all`.",
        "",
        "\n".join(table),
    ]
    ctx.sections.append("\n".join(md))


def criterion_medians(baselines, prefix):
    """{benchmark id: lowest median ns over the baselines} for ids starting with prefix."""
    out = {}
    root = TARGET / "criterion"
    for dirpath, _dirs, files in os.walk(root):
        base = os.path.basename(dirpath)
        if base not in baselines or "estimates.json" not in files:
            continue
        bf = os.path.join(dirpath, "benchmark.json")
        if not os.path.exists(bf):
            bf = os.path.join(os.path.dirname(dirpath), "new", "benchmark.json")
        try:
            full_id = json.load(open(bf))["full_id"]
            m = json.load(open(os.path.join(dirpath, "estimates.json")))["median"]["point_estimate"]
        except (OSError, KeyError, ValueError):
            continue
        if full_id.startswith(prefix):
            out.setdefault(full_id, []).append(m)
    return out


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def sc_criterion(ctx):
    a = ctx.args
    runs = 1 if a.quick else a.criterion_runs
    tag = f"benchrun-{ctx.stamp.lower()}"
    baselines = [f"{tag}-{i + 1}" for i in range(runs)]
    quick = ["--warm-up-time", "0.5", "--measurement-time", "1", "--sample-size", "10"] if a.quick else []
    log("\n== 8. criterion ==")
    for bench in ("jws", "revocations"):
        for b in baselines:
            cmd = ["cargo", "bench", "--locked", "-p", "jwtx", "--bench", bench, "--",
                   "--save-baseline", b] + quick
            log("$ " + " ".join(cmd))
            t = time.perf_counter()
            with open(ctx.log_path(f"criterion-{bench}"), "ab") as f:
                p = run_cmd(cmd, stdout=f, stderr=subprocess.STDOUT)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed; see {ctx.log_path('criterion-' + bench)}")
            log(f"  ({time.perf_counter() - t:.0f} s)")
    shown = ",".join(baselines)
    ctx.commands["criterion"] = (
        f"for b in {' '.join(baselines)}; do cargo bench --locked -p jwtx --bench jws -- "
        f"--save-baseline $b{' ' + ' '.join(quick) if quick else ''}; cargo bench --locked -p jwtx "
        f"--bench revocations -- --save-baseline $b{' ' + ' '.join(quick) if quick else ''}; done; "
        f"python3 bench/criterion-table.py --baselines {shown}")
    p = run_cmd([sys.executable, ROOT / "bench" / "criterion-table.py", "--baselines", shown],
                capture_output=True, text=True)
    jws_table = p.stdout.strip() if p.returncode == 0 else f"(criterion-table.py failed: {p.stderr.strip()})"
    rev = criterion_medians(set(baselines), "revocations/")
    rows = ["| benchmark | median (lowest of runs) | runs |", "|---|---:|---|"]
    for k in sorted(rev):
        rows.append(f"| {k} | {fmt_ns(min(rev[k]))} | {', '.join(fmt_ns(x) for x in rev[k])} |")
    big = {k: min(v) for k, v in rev.items() if k.startswith("revocations/1M/is_revoked")}
    if big:
        worst_k = max(big, key=big.get)
        target(ctx, "1 000 000 live revocations: lookups under 200 ns", big[worst_k],
               lambda v: v < 200, f"slowest 1M lookup, `{worst_k.split('/')[-1]}`: "
               f"{fmt_ns(big[worst_k])}")
    rss_line = ""
    log_text = ctx.log_path("criterion-revocations").read_text(errors="replace")
    m = re.findall(r"^revocations/1M: .*$", log_text, re.M)
    if m:
        rss_line = "\n\nThe bench's own report of the 1M fill: `" + m[-1].strip() + "`"
    md = [
        "### 8. criterion micro-benchmarks",
        "",
        f"{runs} run(s) of each bench into baselines `{shown}`"
        + (" in criterion's short mode (`--warm-up-time 0.5 --measurement-time 1 --sample-size 10`: "
           "indicative only)" if quick else "")
        + "; `python3 bench/criterion-table.py --baselines …` for `jws`:",
        "",
        jws_table,
        "",
        "`revocations` (lookup and apply cost of the in-process mirror):",
        "",
        "\n".join(rows) + rss_line,
    ]
    ctx.sections.append("\n".join(md))


# ---------------------------------------------------------------------------------------------
# Report


def section(ctx, info, load_before, load_after, started, elapsed, argv):
    a = ctx.args
    fk = ""
    if ctx.flask_setting:
        kind, w, t, trial = ctx.flask_setting
        fk = f"gunicorn `{flask_setting_text(kind, w, t)}`"
        if trial:
            fk += (" (best of the pre-trial, /protected header token, "
                   f"{a.pretrial} s each: "
                   + "; ".join(f"{flask_setting_text(*s)} {r['rps']:,.0f} req/s"
                               for s, r in trial) + ")")
        else:
            fk += " (--flask-workers)"
    lines = [
        BEGIN,
        "## bench/run: jwtx against flask-jwt-extended and axum + jsonwebtoken",
        "",
        f"Generated by `bench/run{(' ' + ' '.join(argv)) if argv else ''}` (see "
        "[README.md](README.md), \"bench/run\"); everything between the `bench/run:begin` and "
        "`bench/run:end` markers is rewritten by the next run."
        + (" **Quick run: 1 round × 3 s, indicative only.**" if a.quick else ""),
        "",
        f"- **Date:** {started} (UTC); the run took {elapsed / 60:.1f} min.",
        f"- **Code:** commit `{info['commit']}`; {info['rustc']}, release profile."
        + (f" The jwtx binary measured: `{a.jwtx}` ({a.jwtx_label})." if a.jwtx else ""),
        f"- **Machine:** `nproc` = {info['nproc']}, CPU `{info['cpu']}`, Linux {info['kernel']}; "
        f"load average (1/5/15 min) {load_before} before, {load_after} after. A shared VM: "
        "figures from different runs are not comparable; ratios within a run are.",
        f"- **Load:** {info['wrk']}, on the same {info['nproc']} cores as the servers (no CPU "
        f"pinning): wrk takes a large share of the CPU, the same share for every system. "
        f"Throughput scenarios `wrk -t{a.threads} -c{a.connections}`, {a.rounds} round(s) × "
        f"{a.duration} s per system, the systems alternating round by round (the order rotates "
        f"each round), after a {a.warmup} s warm-up each; figures are the **median over rounds**.",
        f"- **Systems:** `jwtx serve` (release, HS256, its SQLite store, demo users, login "
        f"throttle relaxed to 10 000/s, defaults otherwise: {info['nproc']} worker threads, each "
        "with its own current-thread tokio runtime, 1,024 verified tokens kept, info logging to "
        "a file; a second one with `JWTX_VERIFIED_CACHE=0` where a scenario says so); the Flask "
        "peer (`bench/peers/flask`, flask-jwt-extended 4.7.4, Python "
        f"{info['python']}) under {fk or 'gunicorn'}; the axum peer "
        "(`bench/peers/axum-jsonwebtoken`, `#[tokio::main]`: one multi-thread runtime). One "
        "HS256 secret, from `jwtx secret generate`, for all three.",
        "",
        "### Targets",
        "",
        "\n".join(ctx.targets) if ctx.targets else "(no target measured in this run)",
        "",
    ]
    lines += [s + "\n" for s in ctx.sections]
    lines += ["### Commands", "", "```sh"]
    for k, v in ctx.commands.items():
        lines.append(f"# {k}")
        lines.append(v)
    servers = {}
    for s in ctx.systems.values():
        servers.setdefault(s.name, s.cmd_text)
    lines.append("# servers")
    for name, text in servers.items():
        if text:
            lines.append(text)
    lines += ["```", END]
    return "\n".join(lines)


def write_benchmarks(text):
    md = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# jwtx benchmarks\n"
    if BEGIN in md and END in md:
        pre, rest = md.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        md = pre + text + post
    else:
        # After the title and its introduction: before the first second-level heading.
        lines = md.split("\n")
        i = next((k for k, line in enumerate(lines) if k > 0 and line.startswith("## ")),
                 len(lines))
        md = "\n".join(lines[:i]).rstrip("\n") + "\n\n" + text + "\n\n" + "\n".join(lines[i:])
    BENCHMARKS_MD.write_text(md)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 round x 3 s, short warm-ups and criterion in short mode")
    ap.add_argument("--rounds", type=int, help="rounds per scenario (default 3)")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (default 10)")
    ap.add_argument("--warmup", type=int, help="seconds of warm-up per system (default 2)")
    ap.add_argument("--only", action="append", choices=SCENARIOS, metavar="SCENARIO",
                    help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}")
    ap.add_argument("--skip-criterion", action="store_true", help="leave out the criterion benches")
    ap.add_argument("--skip-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--refresh-connections", type=int, default=8,
                    help="/refresh chains: wrk -tN -cN (default 8)")
    ap.add_argument("--latency-connections", type=int, default=4,
                    help="connections of the /protected latency probe in the storm scenario (default 4)")
    ap.add_argument("--storm-connections", type=int, default=32,
                    help="concurrent /login connections of the storm (default 32)")
    ap.add_argument("--revocation-counts", default="10000,1000000",
                    help="revocation list sizes (default 10000,1000000)")
    ap.add_argument("--startup-runs", type=int, default=5, help="timed starts per size (default 5)")
    ap.add_argument("--criterion-runs", type=int, default=2,
                    help="criterion runs (baselines) per bench (default 2)")
    ap.add_argument("--pretrial", type=int, help="seconds per Flask worker setting (default 3)")
    ap.add_argument("--flask-workers", metavar="SETTING",
                    help="skip the pre-trial: sync:W or gthread:WxT (e.g. gthread:2x4)")
    ap.add_argument("--jwtx", metavar="PATH",
                    help="measure this jwtx binary (e.g. an earlier commit's, for an A/B) instead "
                         "of target/release/jwtx; needs --jwtx-label")
    ap.add_argument("--jwtx-label", metavar="TEXT", help="what --jwtx is (e.g. 'commit 1c52df1')")
    ap.add_argument("--save", metavar="NAME",
                    help="also keep this run's section.md and results.json in bench/results/NAME/ "
                         "(committed, so that figures quoted outside the markers trace to them)")
    args = ap.parse_args()
    argv = sys.argv[1:]
    if args.jwtx:
        if not args.jwtx_label:
            sys.exit("--jwtx needs --jwtx-label saying what the binary is")
        global JWTX
        JWTX = Path(args.jwtx).resolve()
    if args.quick:
        args.rounds = args.rounds or 1
        args.duration = args.duration or 3
        args.warmup = 1 if args.warmup is None else args.warmup
        args.pretrial = args.pretrial or 2
    args.rounds = args.rounds or 3
    args.duration = args.duration or 10
    args.warmup = 2 if args.warmup is None else args.warmup
    args.pretrial = args.pretrial or 3
    args.revocation_counts = [int(x) for x in args.revocation_counts.split(",") if x]
    chosen = args.only or SCENARIOS
    if args.skip_criterion:
        chosen = [s for s in chosen if s != "criterion"]
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    t0 = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    load_before = loadavg()
    ctx = Ctx(args)
    log(f"{' '.join(['bench/run'] + argv)}: logs and raw results in {ctx.out.relative_to(ROOT)}")
    log(f"load average before: {load_before}")
    info = machine_info()
    try:
        if not args.skip_build:
            build(ctx)
        for b in ((JWTX, AXUM) + ((REVOCATION_LOAD,) if "revocations" in chosen else ())
                  + ((STORE_LOAD,) if "scale" in chosen else ())
                  + ((DOWNSTREAM,) if "downstream" in chosen else ())):
            if not b.exists():
                sys.exit(f"{b} is missing: run without --skip-build")
        if any(s in chosen for s in ("protected", "cookie", "refresh", "login", "cluster")):
            ensure_venv(ctx)
        ctx.secret = run_cmd([JWTX, "secret", "generate"], capture_output=True,
                             text=True).stdout.strip()
        if len(ctx.secret) < 32:
            sys.exit("jwtx secret generate gave no secret")
        funcs = {"protected": sc_protected, "eddsa": sc_eddsa, "cookie": sc_cookie,
                 "refresh": sc_refresh, "login": sc_login, "storm": sc_storm,
                 "cluster": sc_cluster, "downstream": sc_downstream,
                 "revocations": sc_revocations, "scale": sc_scale,
                 "criterion": sc_criterion}
        for name in SCENARIOS:
            if name not in chosen:
                continue
            if name in ("revocations", "scale", "criterion"):
                # Nothing else runs while start-up times and micro-benchmarks are measured.
                for s in list(ctx.systems.values()):
                    s.stop()
            try:
                funcs[name](ctx)
            except RuntimeError as e:
                log(f"!! scenario {name} failed: {e}")
                ctx.sections.append(f"### {name}\n\n**Failed:** {e}")
                ctx.targets.append(f"- scenario `{name}`: **failed** ({str(e).splitlines()[0]})")
    finally:
        cleanup()
        for s in ctx.systems.values():
            if s.proc.poll() is None:
                s.stop()
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    load_after = loadavg()
    text = section(ctx, info, load_before, load_after, started, elapsed, argv)
    (ctx.out / "section.md").write_text(text + "\n")
    svg = chart_svg(ctx, started)
    if svg:
        (ctx.out / "comparison.svg").write_text(svg)
    (ctx.out / "results.json").write_text(json.dumps(ctx.results, indent=1, default=str))
    log("\n" + text + "\n")
    if args.save:
        kept = ROOT / "bench" / "results" / args.save
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(ctx.out / "section.md", kept / "section.md")
        shutil.copy(ctx.out / "results.json", kept / "results.json")
        if svg:
            shutil.copy(ctx.out / "comparison.svg", kept / "comparison.svg")
        log(f"kept in {kept.relative_to(ROOT)}")
    if not args.no_write:
        write_benchmarks(text)
        # The chart of a run that measured all three rows (not one made of some scenarios).
        if svg and all(s in chosen for s in ("protected", "refresh", "login")):
            (ROOT / "bench" / "comparison.svg").write_text(svg)
            log("chart written to bench/comparison.svg")
        log(f"written to {BENCHMARKS_MD.relative_to(ROOT)} (between the bench/run markers)")
    log(f"elapsed: {elapsed / 60:.1f} min ({elapsed:.0f} s); load average after: {load_after}")


if __name__ == "__main__":
    main()
