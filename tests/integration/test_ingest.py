"""Gate inputs (issue 9 points 1 and 9): POST /api/eval/results, /api/metrics/daily and
/api/canary/runs, and the push commands of the CLI.

Valid items are stored, invalid ones are refused by index naming the field, duplicates
within a request are refused, nothing is half-stored, and an oversized batch is cut at
10,000 items with every item past the limit refused by index. The stored rows are read
from the test's database file, read-only.
"""
import json
import re
import socket
import sqlite3
import time

import pytest

from harness import unique

TS = "2026-03-01T10:00:00Z"


def rows(srv, sql, *args):
    con = sqlite3.connect(f"file:{srv.db_path}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def ev(agent, task="t-1", ts=TS, **kw):
    return dict({"task_id": task, "agent": agent, "timestamp": ts, "success": True}, **kw)


def met(agent, date="2026-03-01", total=10, ok=9, **kw):
    return dict({"agent": agent, "date": date, "total_runs": total, "successful_runs": ok}, **kw)


def can(canary, version="v2", variant="canary", ts=TS, **kw):
    return dict({"canary": canary, "version": version, "variant": variant, "timestamp": ts}, **kw)


def ndjson(srv, path, text, **kw):
    st, _, b = srv.request("POST", path, raw=text, content_type="application/x-ndjson", **kw)
    return st, b


def rejected_by_index(body):
    return {r["index"]: r["error"] for r in body["rejected"]}


# --------------------------------------------------------------------------- happy paths

def test_eval_results_stored(shared_server):
    s = shared_server
    agent = unique("ev")
    inv = [{"id": "inv_no_pii", "name": "No PII in output", "passed": False,
            "priority": "critical", "message": "found an email", "evidence": {"field": "body"}},
           {"id": "inv_2", "passed": True}]
    st, b = s.post("/api/eval/results", [
        ev(agent, "t-1", quality_score=91.5, latency_ms=420, cost=0.8, invariants=inv),
        ev(agent, "t-2", success=False)])
    assert st == 200, b
    assert b == {"accepted": 2, "rejected": []}
    got = rows(s, "SELECT task_id, timestamp, success, quality_score, latency_ms, cost, invariants,"
               " failed_invariants, received_at FROM eval_results WHERE agent = ? ORDER BY id",
               agent)
    assert len(got) == 2
    t1, t2 = got
    assert t1[:6] == ("t-1", 1772359200000, 1, 91.5, 420.0, 0.8)
    assert json.loads(t1[6]) == inv and t1[7] == 1
    assert abs(t1[8] - time.time() * 1000) < 60000
    assert t2[:6] == ("t-2", 1772359200000, 0, None, None, None)
    assert t2[6] == "[]" and t2[7] == 0


def test_metrics_upsert_by_agent_and_date(shared_server):
    s = shared_server
    agent = unique("met")
    st, b = s.post("/api/metrics/daily", [
        met(agent, "2026-03-01", avg_quality_score=88, p95_latency_ms=900, avg_cost=0.5,
            invariants_passed=40, invariants_failed=2),
        met(agent, "2026-03-02")])
    assert st == 200 and b == {"accepted": 2, "rejected": []}, b
    first = rows(s, "SELECT updated_at FROM agent_metrics_daily WHERE agent = ? AND date = ?",
                 agent, "2026-03-01")[0][0]
    time.sleep(0.01)
    st, b = s.post("/api/metrics/daily", [met(agent, "2026-03-01", total=20, ok=20)])
    assert st == 200 and b["accepted"] == 1, b
    got = rows(s, "SELECT date, total_runs, successful_runs, avg_quality_score, p95_latency_ms, "
               "avg_cost, invariants_passed, invariants_failed, updated_at FROM "
               "agent_metrics_daily WHERE agent = ? ORDER BY date", agent)
    assert [g[:8] for g in got] == [("2026-03-01", 20, 20, None, None, None, 0, 0),
                                    ("2026-03-02", 10, 9, None, None, None, 0, 0)]
    assert got[0][8] > first


def test_canary_runs_stored(shared_server):
    s = shared_server
    name = unique("can")
    st, b = s.post("/api/canary/runs", [
        can(name, "v1", "baseline", quality_score=90, latency_ms=100, cost=1),
        can(name, "v2", "canary", quality_score=70, latency_ms=300)])
    assert st == 200 and b == {"accepted": 2, "rejected": []}, b
    got = rows(s, "SELECT version, variant, quality_score, latency_ms, cost, timestamp FROM "
               "canary_runs WHERE canary = ? ORDER BY id", name)
    assert got == [("v1", "baseline", 90.0, 100.0, 1.0, 1772359200000),
                   ("v2", "canary", 70.0, 300.0, None, 1772359200000)]
    # the literal path wins over GET /api/canary/{name}
    st, h, _ = s.request("GET", "/api/canary/runs")
    assert st == 405 and h.get("allow") == "POST", h
    assert s.get("/api/canary/runz")[0] == 404


def test_empty_batch_and_role(shared_server, role_tokens):
    s = shared_server
    st, b = s.post("/api/canary/runs", [])
    assert st == 200 and b == {"accepted": 0, "rejected": []}
    st, b = s.post("/api/canary/runs", [can("x")], token=role_tokens["viewer"][1])
    assert st == 403, b


# --------------------------------------------------------------------------- NDJSON

def test_ndjson_with_a_bad_line(shared_server):
    s = shared_server
    agent = unique("nd")
    text = "\n".join([json.dumps(ev(agent, "a")), "", "   ", json.dumps(ev(agent, "b")),
                      '{"task_id": "c", "agent": ', json.dumps(ev(agent, "d", cost=-1)),
                      "NaN", json.dumps(ev(agent, "e"))]) + "\n"
    st, b = ndjson(s, "/api/eval/results", text)
    assert st == 200, b
    assert b["accepted"] == 3
    rej = rejected_by_index(b)
    assert set(rej) == {2, 3, 4}
    assert rej[2]["code"] == "invalid_json" and "line 5" in rej[2]["message"]
    assert rej[3]["code"] == "validation_failed" and rej[3]["details"]["field"] == "cost"
    assert rej[4]["code"] == "invalid_json" and "line 7" in rej[4]["message"]
    got = rows(s, "SELECT task_id FROM eval_results WHERE agent = ? ORDER BY id", agent)
    assert [g[0] for g in got] == ["a", "b", "e"]


def test_ndjson_only_where_documented(shared_server):
    st, _, b = shared_server.request("POST", "/api/metrics/daily", raw=json.dumps(met("x")),
                                     content_type="application/x-ndjson")
    assert st == 415, b


# --------------------------------------------------------------------------- bad input

BAD_EVAL = [
    (ev("A", quality_score="NaN"), "quality_score", "number"),
    (ev("A", latency_ms="Infinity"), "latency_ms", "number"),
    (ev("A", quality_score=100.01), "quality_score", "between 0 and 100"),
    (ev("A", latency_ms=-1), "latency_ms", "negative"),
    (ev("A", cost=-0.5), "cost", "negative"),
    (ev("A", success="yes"), "success", "boolean"),
    (ev("A", ts="2026-02-30T10:00:00Z"), "timestamp", "RFC 3339"),
    (ev("A", ts="1772359200000"), "timestamp", "RFC 3339"),
    (ev("A", task="x" * 129), "task_id", "1 to 128"),
    (ev("", ), "agent", "1 to 128"),
    (ev("A", surprise=1), "surprise", "unknown field"),
    (ev("A", invariants=[{"id": "i", "passed": "false"}]), "invariants[0].passed", "boolean"),
    (ev("A", invariants=[{"passed": False}]), "invariants[0].id", "required"),
    (ev("A", invariants=[{"id": "i", "passed": True, "evidence": "x"}]),
     "invariants[0].evidence", "object"),
    (ev("A", invariants=[{"id": "i", "passed": True}] * 101), "invariants", "at most 100"),
    ("not an object", "body", "object"),
]

BAD_METRICS = [
    (met("A", total=5, ok=6), "successful_runs", "must not exceed total_runs"),
    (met("A", total=-1, ok=0), "total_runs", "negative"),
    (met("A", invariants_failed=-1), "invariants_failed", "negative"),
    (met("A", invariants_passed=-3), "invariants_passed", "negative"),
    (met("A", total=1.5), "total_runs", "integer"),
    (met("A", date="2026-02-30"), "date", "existing calendar date"),
    (met("A", date="2026-13-01"), "date", "existing calendar date"),
    (met("A", date="2025-02-29"), "date", "existing calendar date"),
    (met("A", date="01/03/2026"), "date", "YYYY-MM-DD"),
    (met("A", avg_quality_score="NaN"), "avg_quality_score", "number"),
    (met("A", p99_latency_ms="Infinity"), "p99_latency_ms", "number"),
    (met("A", avg_cost=-0.01), "avg_cost", "negative"),
    (met("A", avg_quality_score=-5), "avg_quality_score", "between 0 and 100"),
]

BAD_CANARY = [
    (can("A", variant="control"), "variant", "one of: baseline, canary"),
    (can("A", latency_ms=-1), "latency_ms", "negative"),
    (can("A", cost="Infinity"), "cost", "number"),
    (can("A", quality_score=101), "quality_score", "between 0 and 100"),
    (can("A", version=""), "version", "1 to 128"),
    (can("A", ts="2026-13-01T00:00:00Z"), "timestamp", "RFC 3339"),
]


@pytest.mark.parametrize("path,cases,key", [
    ("/api/eval/results", BAD_EVAL, "agent"),
    ("/api/metrics/daily", BAD_METRICS, "agent"),
    ("/api/canary/runs", BAD_CANARY, "canary"),
], ids=["eval", "metrics", "canary"])
def test_bad_items_rejected_by_index_siblings_stored(shared_server, path, cases, key):
    """Each bad item sits between two good ones; exactly the good ones are stored."""
    s = shared_server
    tag = unique("bad")
    good = {"/api/eval/results": lambda i: ev(tag, f"good-{i}"),
            "/api/metrics/daily": lambda i: met(tag, f"2026-01-{i + 1:02d}"),
            "/api/canary/runs": lambda i: can(tag, ts=f"2026-03-01T10:{i:02d}:00Z")}[path]
    items, want = [], {}
    for n, (bad, field, words) in enumerate(cases):
        items.append(good(n))
        if isinstance(bad, dict) and bad.get(key) == "A":
            bad = dict(bad, **{key: tag})
        want[len(items)] = (field, words)
        items.append(bad)
    items.append(good(len(cases)))
    st, b = s.post(path, items)
    assert st == 200, b
    rej = rejected_by_index(b)
    assert set(rej) == set(want), (sorted(rej), sorted(want))
    for i, (field, words) in want.items():
        assert rej[i]["code"] == "validation_failed", rej[i]
        assert rej[i]["details"].get("field") == field, (i, rej[i])
        assert words in rej[i]["message"], (i, rej[i])
    assert b["accepted"] == len(cases) + 1
    table = {"/api/eval/results": "eval_results", "/api/metrics/daily": "agent_metrics_daily",
             "/api/canary/runs": "canary_runs"}[path]
    n = rows(s, f"SELECT count(*) FROM {table} WHERE {key} = ?", tag)[0][0]
    assert n == len(cases) + 1


def test_nothing_half_stored(shared_server):
    """An eval result whose last invariant is bad stores nothing of it."""
    s = shared_server
    agent = unique("half")
    invs = [{"id": f"i{k}", "passed": False} for k in range(50)] + [{"id": "last", "passed": 1}]
    st, b = s.post("/api/eval/results", [ev(agent, invariants=invs)])
    assert st == 200 and b["accepted"] == 0, b
    assert b["rejected"][0]["error"]["details"]["field"] == "invariants[50].passed"
    assert rows(s, "SELECT count(*) FROM eval_results WHERE agent = ?", agent) == [(0,)]


def test_duplicates_within_a_request(shared_server):
    s = shared_server
    tag = unique("dup")
    st, b = s.post("/api/metrics/daily", [met(tag, "2026-03-01"), met(tag, "2026-03-02"),
                                          met(tag, "2026-03-01", total=1, ok=1),
                                          met(tag, "2026-03-01", total=2, ok=2)])
    assert st == 200 and b["accepted"] == 2, b
    rej = rejected_by_index(b)
    assert set(rej) == {2, 3}
    assert rej[2]["details"]["field"] == "date" and "duplicate of item 0" in rej[2]["message"]
    # the first occurrence is the one stored
    assert rows(s, "SELECT total_runs FROM agent_metrics_daily WHERE agent = ? AND date = ?",
                tag, "2026-03-01") == [(10,)]
    st, b = s.post("/api/eval/results", [ev(tag, "t"), ev(tag, "t", success=False),
                                         ev(tag, "t", ts="2026-03-01T10:00:01Z"), ev(tag, "u")])
    assert st == 200 and b["accepted"] == 3 and list(rejected_by_index(b)) == [1], b
    st, b = s.post("/api/canary/runs", [can(tag), can(tag, variant="baseline"), can(tag),
                                        can(tag, version="v3")])
    assert st == 200 and b["accepted"] == 3 and list(rejected_by_index(b)) == [2], b


def test_malformed_bodies(shared_server):
    s = shared_server
    tag = unique("mal")
    for path in ("/api/eval/results", "/api/metrics/daily", "/api/canary/runs"):
        st, b = s.post(path, {"agent": tag})
        assert st == 400 and b["error"]["code"] == "validation_failed", b
        st, b = s.post(path, "text")
        assert st == 400 and b["error"]["details"]["field"] == "body", b
        st, _, b = s.request("POST", path, raw="[1, 2")
        assert st == 400 and b["error"]["code"] == "invalid_json", b
    # a valid single item is still not a batch
    st, b = s.post("/api/eval/results", ev(tag))
    assert st == 400 and b["error"]["details"]["field"] == "body", b
    assert "JSON array" in b["error"]["message"]
    # a bare NaN is not JSON: the whole array is refused, nothing stored
    raw = "[%s, %s]" % (json.dumps(ev(tag, "a")), json.dumps(ev(tag, "b"))[:-1] + ', "cost": NaN}')
    st, _, b = s.request("POST", "/api/eval/results", raw=raw)
    assert st == 400 and b["error"]["code"] == "invalid_json", b
    raw = json.dumps([ev(tag, "a")])[:-2] + ', "cost": 1e999}]'
    st, _, b = s.request("POST", "/api/eval/results", raw=raw)
    assert st == 400 and b["error"]["code"] == "invalid_json", b
    assert rows(s, "SELECT count(*) FROM eval_results WHERE agent = ?", tag) == [(0,)]


# --------------------------------------------------------------------------- the item limit

def test_100k_items_in_one_ndjson_body(make_server):
    s = make_server({"server": {"max_body_bytes": 32 * 1024 * 1024}})
    agent = unique("big")
    lines = [json.dumps({"task_id": f"t{i}", "agent": agent, "timestamp": TS, "success": True,
                         "latency_ms": i}) for i in range(100000)]
    text = "\n".join(lines) + "\n"
    assert len(text) > 9 * 1024 * 1024
    t0 = time.monotonic()
    st, b = ndjson(s, "/api/eval/results", text, timeout=60)
    took = time.monotonic() - t0
    assert st == 200, str(b)[:300]
    assert b["accepted"] == 10000
    assert len(b["rejected"]) == 90000
    assert [r["index"] for r in b["rejected"]] == list(range(10000, 100000))
    first = b["rejected"][0]["error"]
    assert first["code"] == "payload_too_large" and "limit of 10000 items" in first["message"]
    got = rows(s, "SELECT count(*), min(latency_ms), max(latency_ms) FROM eval_results "
               "WHERE agent = ?", agent)
    assert got == [(10000, 0.0, 9999.0)]
    assert took < 20, f"100,000 items took {took:.1f} s"
    # past the body limit: 413 from the head alone, before the body is read
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall((f"POST /api/eval/results HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {s.token}\r\nContent-Type: application/x-ndjson\r\n"
                   f"Content-Length: {40 * 1024 * 1024}\r\n\r\n").encode())
        head = c.recv(4096).decode("utf-8", "replace")
    assert head.startswith("HTTP/1.1 413"), head


# --------------------------------------------------------------------------- push commands

def push(srv, kind, path, *extra, input=None):
    return srv.cli(kind, "push", path, "--format", "json", *extra, input=input,
                   env={"INTERVENE_TOKEN": srv.token}, timeout=120)


def test_push_ndjson_larger_than_one_body(shared_server, tmp_path):
    """25,000 eval results (about 3 MB, over the 1 MiB body limit) as NDJSON with blank
    lines, a line that is not JSON and bad items: sent in several requests, rejected items
    reported with their index in the file."""
    s = shared_server
    agent = unique("push")
    bad = {7: "cost", 12345: "quality_score", 24999: "timestamp"}
    out = []
    for i in range(25000):
        item = {"task_id": f"t{i}", "agent": agent, "timestamp": TS, "success": True,
                "quality_score": 50, "invariants": [{"id": "inv", "passed": True,
                                                     "message": "x" * 40}]}
        if bad.get(i) == "cost":
            item["cost"] = -1
        elif bad.get(i) == "quality_score":
            item["quality_score"] = 101
        elif bad.get(i) == "timestamp":
            item["timestamp"] = "2026-02-30T00:00:00Z"
        out.append(json.dumps(item))
        if i % 1000 == 0:
            out.append("")  # blank lines do not count as items
    out[20001] = "{not json"  # replaces a good item
    nd_index = sum(1 for line in out[:20001] if line)  # its index: non-blank lines before it
    assert nd_index not in bad
    f = tmp_path / "evals.ndjson"
    f.write_text("\n".join(out) + "\n")
    assert f.stat().st_size > 2 * 1024 * 1024
    r = push(s, "eval", str(f))
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert rep["requests"] >= 6, rep["requests"]
    got = {x["index"]: x["error"] for x in rep["rejected"]}
    assert set(got) == set(bad) | {nd_index}, sorted(got)
    assert got[nd_index]["code"] == "invalid_json"
    for i, field in bad.items():
        assert got[i]["details"]["field"] == field, got[i]
    assert rep["accepted"] == 25000 - 4 and rep["rejected_count"] == 4
    stored = rows(s, "SELECT count(*) FROM eval_results WHERE agent = ?", agent)[0][0]
    assert stored == 25000 - 4
    # the same file as text: the totals line and one line per rejected item
    r = s.cli("eval", "push", str(f), env={"INTERVENE_TOKEN": s.token}, timeout=120)
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("24996 accepted, 4 rejected, in "), lines[-1]
    assert any(l.startswith("rejected item 12345: quality_score must be between 0 and 100")
               and "(field quality_score)" in l for l in lines), lines
    # requests over the server's body limit fail (413): the run stops, exit 1
    r = s.cli("eval", "push", str(f), "--max-bytes", "2000000", env={"INTERVENE_TOKEN": s.token},
              timeout=120)
    assert r.returncode == 1 and "payload_too_large" in r.stderr, r.stderr
    assert re.search(r"items 0\.\.\d+ of .* were not stored", r.stderr), r.stderr
    assert r.stdout.strip().splitlines()[-1] == "0 accepted, 0 rejected, in 0 requests"


def test_push_array_in_several_requests(shared_server, tmp_path):
    s = shared_server
    agent = unique("pushm")
    items = []
    for i in range(350):
        d = f"{2025 + i // 336}-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}"
        items.append(met(agent, d, total=10, ok=5))
    items[120]["date"] = "2025-02-29"
    items[301]["successful_runs"] = 11
    items[130] = dict(items[129])  # a duplicate within the same request of 100
    f = tmp_path / "metrics.json"
    f.write_text(json.dumps(items, indent=1))
    r = push(s, "metrics", str(f), "--max-items", "100")
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert rep["requests"] == 4
    got = {x["index"]: x["error"]["details"].get("field") for x in rep["rejected"]}
    assert got == {120: "date", 130: "date", 301: "successful_runs"}, got
    assert rep["accepted"] == 347
    assert rows(s, "SELECT count(*) FROM agent_metrics_daily WHERE agent = ?", agent) == [(347,)]
    # everything valid: exit 0; sent again, the rows are replaced (upsert), not added
    good = [x for i, x in enumerate(items) if i not in (120, 130, 301)]
    f.write_text(json.dumps(good))
    r = push(s, "metrics", str(f), "--max-items", "100")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["accepted"] == 347
    assert rows(s, "SELECT count(*) FROM agent_metrics_daily WHERE agent = ?", agent) == [(347,)]


def test_push_canary_from_stdin_and_usage(shared_server, tmp_path):
    s = shared_server
    name = unique("pushc")
    text = "\n".join(json.dumps(can(name, ts=f"2026-03-01T10:00:{i:02d}Z", latency_ms=i))
                     for i in range(30))
    r = push(s, "canary", "-", input=text)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["accepted"] == 30
    assert rows(s, "SELECT count(*) FROM canary_runs WHERE canary = ?", name) == [(30,)]
    assert s.cli("canary", "push", env={"INTERVENE_TOKEN": s.token}).returncode == 2
    assert push(s, "canary", "-", "--max-items", "0", input=text).returncode == 2
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert push(s, "canary", str(bad)).returncode == 2
    assert push(s, "canary", str(tmp_path / "missing.json")).returncode == 1
    # a request that fails (no token): exit 1, nothing counted as accepted
    r = s.cli("canary", "push", "-", input=text, env={"INTERVENE_TOKEN": "nope"})
    assert r.returncode == 1 and "were not stored" in r.stderr, r.stderr
