"""The watcher (SPEC §10.5, §4.4; docs/gates.md): invariant failures, budgets on new
data, canary regressions, auto-resolve, the SLA check, one key per problem across
paths, counts in the log and /metrics, and a failing check that does not stop the
others."""
import datetime
import sqlite3
import time

from harness import unique, wait_for


def day(n):
    return (datetime.datetime.now(datetime.timezone.utc).date()
            - datetime.timedelta(days=n)).isoformat()


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def post_ok(s, path, body):
    st, b = s.post(path, body)
    assert st == 200, (path, st, b)
    assert b["rejected"] == [], b
    return b


def cycle(s):
    st, b = s.post("/api/watcher/run", {})
    assert st == 200, (st, b)
    assert b["ok"] is True, b
    return b["checks"]


def incidents(s, kind):
    st, b = s.get(f"/api/incidents?kind={kind}&per_page=200")
    assert st == 200, b
    return b["incidents"]


def incident(s, iid):
    st, b = s.get(f"/api/incidents/{iid}")
    assert st == 200, b
    return b["incident"]


def eval_result(agent, inv_id, passed, priority="critical", task=None):
    return {"task_id": task or unique("t"), "agent": agent, "timestamp": now_iso(),
            "success": passed, "quality_score": 90,
            "invariants": [{"id": inv_id, "name": "No PII in output", "passed": passed,
                            "priority": priority, "message": "an email address in the answer",
                            "evidence": {"span": [3, 20]}}]}


def test_invariant_failures_once_each_also_across_restarts(make_server):
    inv, agent = unique("inv_no_pii"), unique("inbox.triage")
    s = make_server()
    post_ok(s, "/api/eval/results", [eval_result(agent, inv, True),
                                     eval_result(agent, inv, False, task="t-42")])
    checks = cycle(s)
    assert checks["invariants"] == {"results_with_failures": 1, "failed_invariants": 1}
    [i] = [x for x in incidents(s, "invariant") if x["key"] == f"invariant:{inv}"]
    full = incident(s, i["id"])
    assert full["severity"] == "sev1" and full["source"] == "watcher"
    assert full["playbooks"] == ["rerun_dbt"]
    d = full["details"]
    assert (d["invariant_id"], d["invariant_name"], d["agent"], d["task_id"]) == \
        (inv, "No PII in output", agent, "t-42")
    assert d["failure_message"] == "an email address in the answer"
    assert d["evidence"] == {"span": [3, 20]} and isinstance(d["eval_result_id"], int)
    assert d["timestamp"].endswith("Z")
    # the same evidence is never counted twice, also after a restart
    assert cycle(s)["invariants"]["results_with_failures"] == 0
    s.restart()
    assert cycle(s)["invariants"]["results_with_failures"] == 0
    assert incident(s, i["id"])["occurrences"] == 1
    # new evidence of the same invariant folds into the incident
    post_ok(s, "/api/eval/results", [eval_result(agent, inv, False, priority="low")])
    assert cycle(s)["invariants"]["failed_invariants"] == 1
    assert incident(s, i["id"])["occurrences"] == 2


def metrics_row(agent, n, p95, runs=100):
    return {"agent": agent, "date": day(n), "total_runs": runs, "successful_runs": runs,
            "p95_latency_ms": p95}


def test_budgets_on_new_data_and_auto_resolve(make_server):
    a, quiet = unique("search-agent"), unique("other")
    s = make_server({"budgets": {a: {"max_p95_latency_ms": 1600}},
                     "watcher": {"auto_resolve": True, "auto_resolve_after": 2}})
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 2140), metrics_row(quiet, 1, 9999)])
    c = cycle(s)["budgets"]
    assert c == {"agents_with_new_data": 2, "evaluated": 1, "violations": 1, "resolved": 0}
    [i] = [x for x in incidents(s, "budget") if x["key"] == f"budget:{a}:latency_p95"]
    inc = incident(s, i["id"])
    assert inc["status"] == "open" and inc["severity"] == "sev2" and inc["source"] == "watcher"
    assert inc["details"]["actual"] == 2140 and inc["details"]["threshold"] == 1600
    # no new data: nothing evaluated
    assert cycle(s)["budgets"]["agents_with_new_data"] == 0
    # the agent recovers: two consecutive passing evaluations on new data resolve it
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 900)])
    assert cycle(s)["budgets"]["resolved"] == 0
    assert incident(s, i["id"])["status"] == "open"
    assert cycle(s)["budgets"]["evaluated"] == 0  # a cycle without new data is no evaluation
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 2, 800)])
    assert cycle(s)["budgets"]["resolved"] == 1
    inc = incident(s, i["id"])
    assert inc["status"] == "resolved" and inc["resolved_by"] == "watcher"


def test_a_violation_between_passes_starts_over(make_server):
    a = unique("agent")
    s = make_server({"budgets": {a: {"max_p95_latency_ms": 1600}},
                     "watcher": {"auto_resolve_after": 2}})
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 2000)])
    cycle(s)
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 100)])  # pass 1
    cycle(s)
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 2000)])  # violated again
    cycle(s)
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 100)])  # pass 1 again
    assert cycle(s)["budgets"]["resolved"] == 0
    [i] = incidents(s, "budget")
    assert i["status"] == "open" and i["occurrences"] == 2


def canary_runs(canary, version, variant, n, q, lat, cost):
    base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return [{"canary": canary, "version": version, "variant": variant, "quality_score": q,
             "latency_ms": lat, "cost": cost,
             "timestamp": (base - datetime.timedelta(seconds=i + 1)).strftime(
                 "%Y-%m-%dT%H:%M:%S.000Z")} for i in range(n)]


def test_canary_regression_one_signal_per_version(make_server):
    c = unique("planner")
    s = make_server({"canary": {"min_samples": 5, "window_runs": 100}})
    st, _, body = s.request("PUT", f"/api/settings/canary.{c}",
                            {"value": {"version": "v2", "baseline_version": "v1",
                                       "canary_pct": 10, "kill_switch": False},
                             "reason": "rollout"})
    assert st == 200, body
    post_ok(s, "/api/canary/runs", canary_runs(c, "v1", "baseline", 10, 90, 1000, 0.01)
            + canary_runs(c, "v2", "canary", 6, 80, 2000, 0.02))
    assert cycle(s)["canary"] == {"canaries_with_new_runs": 1, "regressions": 1, "resolved": 0}
    [i] = [x for x in incidents(s, "planner") if x["key"] == f"planner:{c}:v2"]
    inc = incident(s, i["id"])
    assert inc["severity"] == "sev1"  # quality regressed
    assert inc["playbooks"] == ["rollback_planner", "adjust_canary_split"]
    d = inc["details"]
    assert (d["canary"], d["version"], d["canary_pct"], d["rollback_available"]) == \
        (c, "v2", 10, True)
    assert [m["name"] for m in d["metrics"]] == ["quality", "latency_p95"]
    assert d["metrics"][0] == {"name": "quality", "canary_value": 80, "baseline_value": 90,
                               "delta": -10}
    # only new runs are looked at
    assert cycle(s)["canary"]["canaries_with_new_runs"] == 0
    post_ok(s, "/api/canary/runs", canary_runs(c, "v2", "canary", 1, 80, 2000, 0.02))
    assert cycle(s)["canary"]["regressions"] == 1
    assert incident(s, i["id"])["occurrences"] == 2


def test_same_key_same_incident_across_paths(make_server):
    a = unique("agent")
    s = make_server({"budgets": {a: {"max_p95_latency_ms": 1600}}})
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 2000)])
    res = s.cli("gates", "run", "--server", f"http://127.0.0.1:{s.port}", "--token", s.token,
                "--create-incidents")
    assert res.returncode == 0, res.stdout + res.stderr  # an error-level violation only
    assert "incidents: 1 created" in res.stdout
    assert cycle(s)["budgets"]["violations"] == 1
    st, b = s.post("/api/signals", {"kind": "budget", "key": f"budget:{a}:latency_p95",
                                    "summary": "seen by hand", "severity": "sev2"})
    assert st == 202 and b["outcome"] == "deduplicated", b
    [i] = incidents(s, "budget")
    assert i["occurrences"] == 3


def test_watch_once_cli_and_metrics(make_server):
    s = make_server()
    res = s.cli("watch", "--once", "--server", f"http://127.0.0.1:{s.port}", "--token", s.token)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "invariants: " in res.stdout and "budgets: " in res.stdout and "canary: " in res.stdout
    assert "cycle done in" in res.stdout
    res = s.cli("watch", "--server", f"http://127.0.0.1:{s.port}", "--token", s.token)
    assert res.returncode == 2, res.stdout + res.stderr
    st, _, body = s.request("GET", "/metrics")
    text = body.decode() if isinstance(body, bytes) else body
    assert "intervene_watcher_cycles_total{result=\"ok\"} 1" in text, text
    assert "intervene_watcher_cycle_seconds " in text
    last = [l for l in text.splitlines()
            if l.startswith("intervene_watcher_last_success_timestamp_seconds ")]
    assert last and abs(float(last[0].split()[1]) - time.time()) < 60, last
    assert "watcher cycle" in s.stderr_text()
    st, b = s.post("/api/watcher/run", {"x": 1})
    assert st == 400 and b["error"]["details"]["field"] == "x", b


def test_a_failing_check_does_not_stop_the_others(make_server):
    a, inv = unique("agent"), unique("inv")
    s = make_server({"budgets": {a: {"max_p95_latency_ms": 1}}})
    post_ok(s, "/api/metrics/daily", [metrics_row(a, 1, 5)])
    post_ok(s, "/api/eval/results", [eval_result(a, inv, False)])
    # damage the stored metrics row: its agent is no longer UTF-8 text
    db = sqlite3.connect(s.db_path)
    db.execute("UPDATE agent_metrics_daily SET agent = CAST(x'ff' AS TEXT)")
    db.commit()
    db.close()
    st, b = s.post("/api/watcher/run", {})
    assert st == 200 and b["ok"] is False, b
    assert "error" in b["checks"]["budgets"], b
    assert b["checks"]["invariants"]["failed_invariants"] == 1
    assert "canary" in b["checks"] and "error" not in b["checks"]["canary"]
    assert any(x["key"] == f"invariant:{inv}" for x in incidents(s, "invariant"))


def test_sla_breached_once_per_stage(make_server):
    s = make_server({"watcher": {"enabled": True, "interval": "1h", "sla_interval": "200ms"},
                     "policy": {"sla": {"sev1": {"ack": "1s", "mitigate": "2s"}}}})
    iid = s.new_incident(severity="sev1")

    def breaches():
        return [e for e in s.all_events() if e["type"] == "sla_breached"
                and e["incident_id"] == iid]
    wait_for(lambda: len(breaches()) == 2, timeout=10, msg="two SLA breaches")
    time.sleep(0.6)  # three more checks: still exactly one per stage
    got = breaches()
    assert sorted(e["data"]["stage"] for e in got) == ["ack", "mitigate"], got
    assert all(e["data"]["incident_id"] == iid for e in got)
    st, _, body = s.request("GET", "/metrics")
    text = body.decode() if isinstance(body, bytes) else body
    assert 'intervene_sla_breaches_total{stage="ack"} 1' in text
    assert 'intervene_sla_breaches_total{stage="mitigate"} 1' in text
    s.restart()  # the breaches are stored: none is recorded again
    time.sleep(0.8)
    assert len(breaches()) == 2
