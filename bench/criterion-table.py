#!/usr/bin/env python3
"""Markdown tables from criterion's results for the `jws` bench (crates/jwtx/benches/jws.rs).

For every benchmark it reads criterion's point estimate of the MEDIAN time per iteration
(target/criterion/<group>/<function>/<dir>/estimates.json -> "median"."point_estimate", in ns;
the benchmark's name comes from benchmark.json next to it) and prints:

  1. verify/sign per algorithm: jwtx, jsonwebtoken and floor, jwtx's ratio to the floor and
     jsonwebtoken's time relative to jwtx (> 1 means jwtx is faster);
  2. the `parts/...` sub-step timings;
  3. one line per performance target of the issue: met or MISSED, with the figure.

Usage:
  python3 bench/criterion-table.py [--dir target/criterion] [--baselines run1,run2,run3]

Without --baselines it reads each benchmark's latest run (`new/`). With --baselines it reads
the named saved baselines (`cargo bench ... -- --save-baseline run1`) and uses, per
benchmark, the LOWEST of their medians: on a shared machine, other people's work only ever
adds time, so the lowest median of several runs is the least disturbed one. The spread
(highest / lowest median) is printed too so noisy figures are visible.
"""

import argparse
import json
import os
import sys

ALGS = ["HS256", "ES256", "EdDSA", "RS256"]
VARIANTS = ["jwtx", "jsonwebtoken", "floor"]


def load(root, subdirs):
    """{full_id: [median_ns, ...]} for every benchmark with results in any of subdirs."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) not in subdirs or "estimates.json" not in files:
            continue
        bench_file = os.path.join(dirpath, "benchmark.json")
        if not os.path.exists(bench_file):
            bench_file = os.path.join(os.path.dirname(dirpath), "new", "benchmark.json")
        with open(bench_file) as f:
            full_id = json.load(f)["full_id"]
        with open(os.path.join(dirpath, "estimates.json")) as f:
            median = json.load(f)["median"]["point_estimate"]
        out.setdefault(full_id, []).append(median)
    return out


def fmt(ns):
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="target/criterion", help="criterion output directory")
    ap.add_argument("--baselines", help="comma-separated saved baselines (lowest median wins)")
    args = ap.parse_args()

    subdirs = args.baselines.split(",") if args.baselines else ["new"]
    runs = load(args.dir, set(subdirs))
    if not runs:
        sys.exit(f"no criterion results under {args.dir}; run `cargo bench -p jwtx --bench jws`")
    m = {k: min(v) for k, v in runs.items()}
    spread = {k: max(v) / min(v) for k, v in runs.items()}
    n_runs = max(len(v) for v in runs.values())

    def get(op, alg, variant):
        return m.get(f"{op}/{alg}/{variant}")

    def cell(key):
        if key not in m:
            return "—"
        if n_runs > 1 and spread[key] >= 1.10:
            return f"{fmt(m[key])} (runs +{(spread[key] - 1) * 100:.0f}%)"
        return fmt(m[key])

    if n_runs > 1:
        print(f"Lowest median of {n_runs} runs ({', '.join(subdirs)}); \"(runs +N%)\" marks a "
              "benchmark whose slowest run was N% (10 or more) above its fastest.\n")
    print("| benchmark | jwtx | jsonwebtoken | floor | jwtx / floor | jsonwebtoken / jwtx |")
    print("|---|---:|---:|---:|---:|---:|")
    for op in ["verify", "sign"]:
        for alg in ALGS:
            j, w, f = (get(op, alg, v) for v in VARIANTS)
            if j is None and w is None and f is None:
                continue
            print(
                f"| {op}/{alg} | {cell(f'{op}/{alg}/jwtx')} | {cell(f'{op}/{alg}/jsonwebtoken')} "
                f"| {cell(f'{op}/{alg}/floor')} | {fmt_ratio(ratio(j, f))} | {fmt_ratio(ratio(w, j))} |"
            )

    parts = sorted(k for k in m if k.startswith("parts/"))
    if parts:
        print()
        print("| sub-step | median |")
        print("|---|---:|")
        for k in parts:
            print(f"| {k} | {cell(k)} |")

    print()
    lines = []

    def target(text, value, ok_if, extra=""):
        if value is None:
            lines.append(f"- {text}: not measured")
        else:
            verdict = "met" if ok_if(value) else "MISSED"
            lines.append(f"- {text}: **{verdict}** ({value:.2f}×){extra}")

    target(
        "HS256 verify at most 1.5× the floor (jwtx / floor)",
        ratio(get("verify", "HS256", "jwtx"), get("verify", "HS256", "floor")),
        lambda r: r <= 1.5,
    )
    target(
        "HS256 verify at least 2.5× faster than jsonwebtoken (jsonwebtoken / jwtx)",
        ratio(get("verify", "HS256", "jsonwebtoken"), get("verify", "HS256", "jwtx")),
        lambda r: r >= 2.5,
        extra=(f"; best possible, the floor: "
               f"{fmt_ratio(ratio(get('verify', 'HS256', 'jsonwebtoken'), get('verify', 'HS256', 'floor')))}"),
    )
    for alg in ["ES256", "EdDSA"]:
        prebuilt = ratio(m.get(f"parts/{alg}/jsonwebtoken_encode_prebuilt"), get("sign", alg, "jwtx"))
        ceiling = ratio(get("sign", alg, "jsonwebtoken"), get("sign", alg, "floor"))
        target(
            f"{alg} sign at least 1.8× faster than jsonwebtoken (jsonwebtoken / jwtx)",
            ratio(get("sign", alg, "jsonwebtoken"), get("sign", alg, "jwtx")),
            lambda r: r >= 1.8,
            extra=(f"; against jsonwebtoken with prebuilt claims: {fmt_ratio(prebuilt)}"
                   f"; best possible, the floor: {fmt_ratio(ceiling)}"),
        )
    for alg in ["ES256", "EdDSA", "RS256"]:
        sig_only = ratio(get("verify", alg, "jwtx"), m.get(f"parts/{alg}/sig_only"))
        target(
            f"{alg} verify within 1.1× of the floor (jwtx / floor)",
            ratio(get("verify", alg, "jwtx"), get("verify", alg, "floor")),
            lambda r: r <= 1.1,
            extra=f"; against the bare signature check alone: {fmt_ratio(sig_only)}",
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
