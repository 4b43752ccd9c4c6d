"""End to end (issue 9, point 8): a week of daily metrics where one agent's p95 rises and
another's quality drops, eval results with a failing critical invariant, canary runs
with a regressed version; one watcher cycle opens exactly the expected incidents, and
their issues reach the tracker stand-in with the rendered text; then metrics pass again
and the gate incidents resolve after watcher.auto_resolve_after cycles."""
import datetime

from fakes.trackers import FakeGitHub
from harness import unique, wait_for


def day(n):
    return (datetime.datetime.now(datetime.timezone.utc).date()
            - datetime.timedelta(days=n)).isoformat()


def ts(seconds_ago):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def push(s, path, items):
    st, b = s.post(path, items)
    assert st == 200 and b["rejected"] == [], (path, st, b)


def cycle(s):
    st, b = s.post("/api/watcher/run", {})
    assert st == 200 and b["ok"], b
    return b["checks"]


def by_key(s):
    st, b = s.get("/api/incidents?per_page=200")
    assert st == 200, b
    return {i["key"]: i for i in b["incidents"]}


def issue_of(gh, iid):
    return wait_for(lambda: next((i for i in gh.issues if f"intervene-{iid}" in i["labels"]),
                                 None), timeout=20, msg=f"the issue of incident {iid}")


def test_a_week_of_data_one_cycle(make_server):
    slow, dull, inv, planner = (unique("search-agent"), unique("writer"), unique("inv_no_pii"),
                                unique("planner"))
    with FakeGitHub() as gh:
        s = make_server({
            "tracker": {"provider": "github", "github": gh.config_block()},
            "budgets": {slow: {"max_p95_latency_ms": 1600, "description": "p95 under 1.6 s"},
                        dull: {"min_quality_score": 80}},
            "canary": {"min_samples": 5},
            "watcher": {"auto_resolve": True, "auto_resolve_after": 2},
        })
        # baseline weeks: steady; this week: p95 of `slow` climbs, quality of `dull` drops
        rows = []
        for n in range(1, 22):
            this_week = n <= 7
            rows.append({"agent": slow, "date": day(n), "total_runs": 1000,
                         "successful_runs": 990, "avg_quality_score": 91,
                         "p95_latency_ms": 1000 + (8 - n) * 200 if this_week else 1000})
            rows.append({"agent": dull, "date": day(n), "total_runs": 500,
                         "successful_runs": 495, "p95_latency_ms": 800,
                         "avg_quality_score": 70 if this_week else 88})
        push(s, "/api/metrics/daily", rows)
        push(s, "/api/eval/results", [
            {"task_id": "t-1", "agent": dull, "timestamp": ts(60), "success": True,
             "invariants": [{"id": inv, "name": "No PII in output", "passed": True,
                             "priority": "critical"}]},
            {"task_id": "t-2", "agent": dull, "timestamp": ts(30), "success": False,
             "invariants": [{"id": inv, "name": "No PII in output", "passed": False,
                             "priority": "critical", "message": "an email address leaked",
                             "evidence": {"field": "answer"}}]}])
        runs = [{"canary": planner, "version": "v1", "variant": "baseline",
                 "quality_score": 90, "latency_ms": 900, "cost": 0.01, "timestamp": ts(100 + i)}
                for i in range(10)]
        runs += [{"canary": planner, "version": "v2", "variant": "canary",
                  "quality_score": 78, "latency_ms": 950, "cost": 0.01, "timestamp": ts(200 + i)}
                 for i in range(6)]
        push(s, "/api/canary/runs", runs)

        checks = cycle(s)
        assert checks["invariants"]["failed_invariants"] == 1
        assert checks["budgets"] == {"agents_with_new_data": 2, "evaluated": 2, "violations": 4,
                                     "resolved": 0}
        assert checks["canary"]["regressions"] == 1
        got = by_key(s)
        want = {
            f"invariant:{inv}": ("invariant", "sev1", ["rerun_dbt"]),
            f"budget:{slow}:latency_p95": ("budget", "sev2", ["clear_cache", "refresh_synonyms"]),
            f"budget:{slow}:latency_regression": ("budget", "sev2",
                                                  ["clear_cache", "refresh_synonyms"]),
            f"budget:{dull}:quality": ("budget", "sev1", ["rerun_dbt"]),
            f"budget:{dull}:quality_regression": ("budget", "sev1", ["rollback_planner"]),
            f"planner:{planner}:v2": ("planner", "sev1", ["rollback_planner",
                                                          "adjust_canary_split"]),
        }
        mine = {k: v for k, v in got.items() if k in want or slow in k or dull in k
                or planner in k or inv in k}
        assert set(mine) == set(want), sorted(mine)
        for key, (kind, sev, playbooks) in want.items():
            inc = s.incident(mine[key]["id"])
            assert (inc["kind"], inc["severity"], inc["playbooks"], inc["source"]) == \
                (kind, sev, playbooks, "watcher"), (key, inc)

        # details, exactly
        p95 = s.incident(mine[f"budget:{slow}:latency_p95"]["id"])["details"]
        assert (p95["agent"], p95["budget_type"], p95["severity"], p95["threshold"]) == \
            (slow, "latency_p95", "error", 1600)
        assert p95["actual"] == 1800  # mean of 2400 .. 1200 over equal runs
        assert p95["current"]["days"] == 7 and p95["baseline"]["days"] == 14
        assert p95["budget"] == {"enabled": True, "description": "p95 under 1.6 s",
                                 "max_p95_latency_ms": 1600}
        q = s.incident(mine[f"budget:{dull}:quality_regression"]["id"])["details"]
        assert (q["threshold"], q["actual"]) == (10, 18)
        inv_d = s.incident(mine[f"invariant:{inv}"]["id"])["details"]
        assert (inv_d["task_id"], inv_d["failure_message"], inv_d["evidence"]) == \
            ("t-2", "an email address leaked", {"field": "answer"})
        can = s.incident(mine[f"planner:{planner}:v2"]["id"])["details"]
        assert can["metrics"] == [{"name": "quality", "canary_value": 78, "baseline_value": 90,
                                   "delta": -12}]
        assert can["canary_pct"] is None and can["rollback_available"] is True

        # the tracker receives each issue rendered from its kind's template
        issue = issue_of(gh, mine[f"budget:{slow}:latency_p95"]["id"])
        assert issue["title"] == (f"[sev2] Budget violated: {slow} p95 latency 1800 ms "
                                  "(maximum 1600 ms)"), issue["title"]
        assert f"budget:latency_p95" in issue["labels"] and f"agent:{slow}" in issue["labels"]
        assert "was **1800 ms**, above its maximum of **1600 ms** by **200 ms** (12.5%)" in \
            issue["body"], issue["body"]
        assert "Budget: _p95 under 1.6 s_" in issue["body"]
        issue = issue_of(gh, mine[f"invariant:{inv}"]["id"])
        assert issue["title"].startswith("[sev1] Invariant failed: No PII in output"), issue
        assert "an email address leaked" in issue["body"]
        issue = issue_of(gh, mine[f"planner:{planner}:v2"]["id"])
        assert issue["title"] == f"[sev1] Canary regression: {planner} v2 (quality)", issue

        # the data recovers: after two passing evaluations the gate incidents resolve
        fixed = []
        for n in range(1, 8):
            fixed.append({"agent": slow, "date": day(n), "total_runs": 1000,
                          "successful_runs": 990, "avg_quality_score": 91,
                          "p95_latency_ms": 1000})
            fixed.append({"agent": dull, "date": day(n), "total_runs": 500,
                          "successful_runs": 495, "p95_latency_ms": 800,
                          "avg_quality_score": 88})
        push(s, "/api/metrics/daily", fixed)
        good = [{"canary": planner, "version": "v2", "variant": "canary", "quality_score": 90,
                 "latency_ms": 900, "cost": 0.01, "timestamp": ts(10 + i)} for i in range(20)]
        push(s, "/api/canary/runs", good)
        assert cycle(s)["budgets"]["resolved"] == 0
        push(s, "/api/metrics/daily", fixed[:2] + fixed[2:4])  # new uploads: new evaluations
        push(s, "/api/canary/runs", [dict(g, timestamp=ts(1)) for g in good[:1]])
        checks = cycle(s)
        assert checks["budgets"]["resolved"] == 4, checks
        assert checks["canary"]["resolved"] == 1, checks
        after = by_key(s)
        for key in want:
            status = after[key]["status"]
            if key.startswith("invariant:"):
                assert status == "open", (key, status)  # evidence, not a state
            else:
                assert status == "resolved", (key, status)
