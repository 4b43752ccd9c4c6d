"""The gate report: POST /api/gates/run and `intervene gates run` (SPEC §10.2–10.3,
docs/gates.md): windows of UTC dates, run-weighted aggregation, the nine budget types,
exit codes, and violations sent as budget signals that land on one incident whichever
path sends them."""
import datetime
import json

import pytest

from harness import unique


def day(n):
    """The UTC date n days before today."""
    return (datetime.datetime.now(datetime.timezone.utc).date()
            - datetime.timedelta(days=n)).isoformat()


def row(agent, n, runs=100, ok=None, **vals):
    r = {"agent": agent, "date": day(n), "total_runs": runs,
         "successful_runs": runs if ok is None else ok,
         "invariants_passed": runs, "invariants_failed": 0}
    r.update(vals)
    return r


def push(s, rows):
    st, b = s.post("/api/metrics/daily", rows)
    assert st == 200, (st, b)
    assert b["accepted"] == len(rows) and b["rejected"] == [], b


def gates(s, **body):
    st, b = s.post("/api/gates/run", body)
    assert st == 200, (st, b)
    return b


def cli(s, *args):
    return s.cli("gates", "run", "--server", f"http://127.0.0.1:{s.port}", "--token", s.token,
                 *args)


def by_agent(report):
    return {a["agent"]: a for a in report["agents"]}


def types(agent_report):
    return sorted(v["budget_type"] for v in agent_report["violations"])


def test_windows_are_half_open_and_weighted_by_runs(make_server):
    a = unique("agent")
    s = make_server({"budgets": {a: {"min_quality_score": 76}}})
    # current window [today-7, today): day 1 at 90 (100 runs) and day 2 at 70 (300 runs)
    # average 75 < 76; today (partial) and day 8 (baseline) are left out of it
    push(s, [row(a, 1, 100, avg_quality_score=90), row(a, 2, 300, avg_quality_score=70),
             row(a, 0, 1000, avg_quality_score=0), row(a, 8, 1000, avg_quality_score=0)])
    r = gates(s)
    assert r["lookback_days"] == 7 and r["baseline_days"] == 14
    assert r["window"] == {"from": day(7), "to": day(0)}
    assert r["baseline"] == {"from": day(21), "to": day(7)}
    ag = by_agent(r)[a]
    assert ag["current"]["total_runs"] == 400 and ag["current"]["days"] == 2
    assert ag["current"]["avg_quality_score"] == 75
    assert ag["baseline"]["total_runs"] == 1000
    assert not ag["passed"] and types(ag) == ["quality"]
    v = ag["violations"][0]
    assert (v["threshold"], v["actual"], v["severity"]) == (76, 75, "critical")
    assert v["message"] == "average quality score 75 is below the minimum of 76"
    # one day more of lookback takes in day 8 (quality 0 over 1000 runs)
    r = gates(s, lookback_days=8, baseline_days=0)
    assert by_agent(r)[a]["current"]["total_runs"] == 1400
    assert r["baseline"] == {"from": day(8), "to": day(8)}


def test_all_nine_types_and_exit_codes(make_server):
    a, b, c = unique("strict"), unique("warn"), unique("fine")
    s = make_server({"budgets": {
        a: {"min_quality_score": 80, "min_success_rate": 0.9, "max_avg_latency_ms": 500,
            "max_p95_latency_ms": 1600, "max_p99_latency_ms": 3000, "max_avg_cost": 0.02,
            "max_invariant_failures": 2, "description": "everything"},
        b: {"max_p99_latency_ms": 100},
        c: {"max_avg_latency_ms": 1000},
    }})
    cur = dict(avg_quality_score=70, avg_latency_ms=600, p95_latency_ms=2140,
               p99_latency_ms=3500, avg_cost=0.025)
    base = dict(avg_quality_score=85, avg_latency_ms=300, p95_latency_ms=1500,
                p99_latency_ms=2000, avg_cost=0.01)
    rows = [row(a, 1, 100, ok=85, invariants_failed=3, **cur), row(a, 10, 100, **base),
            row(b, 1, 10, p99_latency_ms=200), row(c, 1, 10, avg_latency_ms=10)]
    push(s, rows)
    r = gates(s)
    ag = by_agent(r)
    assert types(ag[a]) == sorted(["quality", "success_rate", "latency_avg", "latency_p95",
                                   "latency_p99", "cost", "invariants", "quality_regression",
                                   "latency_regression"])
    words = {v["budget_type"]: v["severity"] for v in ag[a]["violations"]}
    assert words == {"quality": "critical", "success_rate": "critical",
                     "latency_avg": "error", "latency_p95": "error", "latency_p99": "warning",
                     "cost": "error", "invariants": "critical",
                     "quality_regression": "critical", "latency_regression": "error"}
    reg = {v["budget_type"]: v for v in ag[a]["violations"]}
    assert (reg["latency_regression"]["threshold"], reg["latency_regression"]["actual"]) == \
        (1950, 2140)
    assert (reg["quality_regression"]["threshold"], reg["quality_regression"]["actual"]) == \
        (10, 15)
    assert types(ag[b]) == ["latency_p99"] and ag[c]["passed"] and types(ag[c]) == []
    assert r["summary"] == {"agents": 3, "passed": 1, "failed": 2, "critical": 4, "error": 4,
                            "warning": 2}
    assert "incidents" not in r

    # exit codes: 1 with a critical violation ...
    res = cli(s)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "latency_p95" in res.stdout and "2140" in res.stdout
    assert f"{c}: passed" in res.stdout
    # ... 0 with only a warning, 2 with --fail-on-warning ...
    res = cli(s, "--agent", b)
    assert res.returncode == 0, res.stdout + res.stderr
    res = cli(s, "--agent", b, "--fail-on-warning")
    assert res.returncode == 2, res.stdout + res.stderr
    res = cli(s, "--agent", c, "--fail-on-warning", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["agents"][0]["agent"] == c
    # ... 3 when it cannot evaluate: an unknown agent, a usage error, no server
    res = cli(s, "--agent", unique("nobody"))
    assert res.returncode == 3 and "has no budget" in res.stderr, res.stdout + res.stderr
    res = cli(s, "--lookback-days", "x")
    assert res.returncode == 3, res.stdout + res.stderr
    res = s.cli("gates", "run", "--server", "http://127.0.0.1:1", "--token", s.token)
    assert res.returncode == 3, res.stdout + res.stderr
    res = s.cli("gates", "run", "--help")
    assert res.returncode == 0 and "--fail-on-warning" in res.stdout


def test_no_data_and_disabled_pass_with_a_message(make_server):
    a, b = unique("idle"), unique("off")
    s = make_server({"budgets": {a: {"min_quality_score": 99},
                                 b: {"enabled": False, "min_quality_score": 99}}})
    push(s, [row(b, 1, 10, avg_quality_score=1), row(a, 0, 10, avg_quality_score=1)])
    ag = by_agent(gates(s))
    assert ag[a]["passed"] and ag[a]["note"] == "no data in the lookback window"
    assert ag[b]["passed"] and ag[b]["note"] == "budget disabled (enabled: false)"
    res = cli(s, "--fail-on-warning")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no data in the lookback window" in res.stdout


def test_create_incidents_one_incident_per_agent_and_type(make_server):
    a = unique("search-agent")
    s = make_server({"budgets": {a: {"max_p95_latency_ms": 1600, "min_success_rate": 0.95}},
                     "policy": {"rate_limit": {"max": 2, "window": {"budget": "4h"}}}})
    push(s, [row(a, 1, 100, ok=90, p95_latency_ms=2140), row(a, 9, 100, p95_latency_ms=2000)])
    r = gates(s, create_incidents=True)
    assert r["incidents"] == {"created": 2, "deduplicated": 0, "silenced": 0,
                              "rate_limited": 0}
    vs = {v["budget_type"]: v for v in by_agent(r)[a]["violations"]}
    assert {v["outcome"] for v in vs.values()} == {"created"}
    iid = vs["latency_p95"]["incident_id"]
    st, inc = s.get(f"/api/incidents/{iid}")
    assert st == 200
    inc = inc["incident"]
    assert inc["kind"] == "budget" and inc["key"] == f"budget:{a}:latency_p95"
    assert inc["severity"] == "sev2" and inc["source"] == "gates"
    assert inc["playbooks"] == ["clear_cache", "refresh_synonyms"]
    d = inc["details"]
    assert (d["agent"], d["budget_type"], d["threshold"], d["actual"], d["severity"]) == \
        (a, "latency_p95", 1600, 2140, "error")
    assert d["budget"] == {"enabled": True, "description": "", "max_p95_latency_ms": 1600,
                           "min_success_rate": 0.95}
    assert d["current"]["p95_latency_ms"] == 2140 and d["baseline"]["p95_latency_ms"] == 2000
    sr = s.get(f"/api/incidents/{vs['success_rate']['incident_id']}")[1]["incident"]
    assert sr["severity"] == "sev1" and sr["playbooks"] == ["rerun_dbt"]

    # the CLI with --create-incidents lands on the same incidents
    res = cli(s, "--create-incidents")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "incidents: 0 created, 2 deduplicated" in res.stdout
    # a direct signal with the same key too
    st, b = s.post("/api/signals", {"kind": "budget", "key": f"{a}:latency_p95",
                                    "summary": "p95 again", "severity": "sev2"})
    assert st == 202 and b == {"outcome": "deduplicated", "incident_id": iid}, b
    st, inc = s.get(f"/api/incidents/{iid}")
    assert inc["incident"]["occurrences"] == 3

    # the rate limit spans the paths: resolve, then the gate opens a second one, then
    # a third is refused (max 2 per 4h)
    for _ in range(2):
        st, b = s.post("/api/signals", {"kind": "budget", "key": f"budget:{a}:latency_p95",
                                        "summary": "ok now", "action": "resolve"})
        assert st == 202 and b["outcome"] == "resolved", b
        r = gates(s, agent=a, create_incidents=True)
        outcomes = {v["budget_type"]: v["outcome"] for v in r["agents"][0]["violations"]}
        last = outcomes["latency_p95"]
    assert last == "rate_limited"
    assert r["incidents"]["rate_limited"] == 1 and r["incidents"]["deduplicated"] == 1


@pytest.mark.parametrize("body,field", [
    ({"lookback_days": 0}, "lookback_days"),
    ({"lookback_days": "7"}, "lookback_days"),
    ({"baseline_days": -1}, "baseline_days"),
    ({"create_incidents": "yes"}, "create_incidents"),
    ({"agent": ""}, "agent"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_requests(make_server, body, field):
    s = make_server()
    st, b = s.post("/api/gates/run", body)
    assert st == 400, (st, b)
    assert b["error"]["details"]["field"] == field, b
