#!/usr/bin/env python3
"""seed.py — fill an intervene store through its API, for bench/run.sh.

Creates COUNT incidents (keys PREFIX-0 .. PREFIX-COUNT-1, kind manual) with batches of
POST /api/signals, then resolves every incident from index OPEN on with batches of
resolve signals, leaving OPEN of them open. Prints how long each phase took and checks
every outcome; a wrong outcome is reported (exit status 3) but the caller only prints it.
Standard library only; one keep-alive connection.
"""
import argparse
import http.client
import json
import sys
import time


def post(conn, token, batch):
    body = json.dumps(batch, separators=(",", ":")).encode()
    conn.request("POST", "/api/signals", body=body, headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 202:
        raise RuntimeError("HTTP %d: %s" % (resp.status, data[:300].decode("utf-8", "replace")))
    return json.loads(data)["results"]


def phase(conn, token, name, items, want, batch_size):
    t0 = time.monotonic()
    bad = 0
    for i in range(0, len(items), batch_size):
        results = post(conn, token, items[i:i + batch_size])
        bad += sum(1 for r in results if r["outcome"] != want)
    dt = time.monotonic() - t0
    rate = len(items) / dt if dt > 0 else 0.0
    print("seed: %-8s %7d signals in %6.2f s (%8.0f signals/s, batches of %d)%s" % (
        name, len(items), dt, rate, batch_size,
        "" if not bad else "  WARNING: %d outcomes were not %r" % (bad, want)), flush=True)
    return dt, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--prefix", default="seed")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--open", type=int, default=None, help="how many stay open (default: all)")
    ap.add_argument("--batch", type=int, default=1000)
    a = ap.parse_args()
    keep = a.count if a.open is None else a.open
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=120)
    created = [{"kind": "manual", "key": "%s-%d" % (a.prefix, i),
                "summary": "bench seeded incident %d" % i} for i in range(a.count)]
    resolves = [{"kind": "manual", "key": "%s-%d" % (a.prefix, i), "action": "resolve",
                 "summary": "bench seeded resolve"} for i in range(keep, a.count)]
    total, bad = 0.0, 0
    try:
        dt, b = phase(conn, a.token, "create", created, "created", a.batch)
        total, bad = total + dt, bad + b
        if resolves:
            dt, b = phase(conn, a.token, "resolve", resolves, "resolved", a.batch)
            total, bad = total + dt, bad + b
    except (OSError, RuntimeError, ValueError, KeyError) as ex:
        print("seed: FAILED: %s" % ex, flush=True)
        return 2
    print("seed: total    %d incidents (%d open) in %.2f s" % (a.count, keep, total), flush=True)
    return 3 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
