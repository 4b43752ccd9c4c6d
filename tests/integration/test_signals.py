"""Signals (SPEC §4.1, §4.2, §5.1): outcomes, keys, severities, dedup, resolve, batches,
rate limit, concurrency."""
import http.client
import json
import re
import threading

import pytest

from harness import assert_error, parse_ts, unique, wait_for

OUTCOMES = {"created", "deduplicated", "silenced", "rate_limited", "resolved", "no_incident"}


def post_signal(s, body, **kw):
    return s.post("/api/signals", body, **kw)


def test_created_then_deduplicated(shared_server):
    s = shared_server
    key = unique("svc")
    st, b = post_signal(s, {"kind": "manual", "key": key, "summary": "  first summary  ",
                            "severity": "sev3", "details": {"a": 1}, "source": "it-test",
                            "playbooks": ["rerun_dbt"]})
    assert st == 202, b
    assert b["outcome"] == "created" and isinstance(b["incident_id"], int), b
    iid = b["incident_id"]
    inc = s.incident(iid)
    assert inc["kind"] == "manual" and inc["key"] == key
    assert inc["summary"] == "first summary"  # trimmed
    assert inc["status"] == "open" and inc["severity"] == "sev3"
    assert inc["occurrences"] == 1
    assert inc["details"] == {"a": 1}
    assert inc["playbooks"] == ["rerun_dbt"]
    assert inc["source"] == "it-test"
    first_seen = parse_ts(inc["last_seen_at"])

    st, b = post_signal(s, {"kind": "manual", "key": key, "summary": "second summary",
                            "severity": "sev4", "details": {"b": 2}})
    assert st == 202 and b == {"outcome": "deduplicated", "incident_id": iid}, b
    inc = s.incident(iid)
    assert inc["occurrences"] == 2
    assert inc["summary"] == "first summary" and inc["details"] == {"a": 1}
    assert inc["severity"] == "sev3"  # never lowered
    assert parse_ts(inc["last_seen_at"]) >= first_seen

    st, b = post_signal(s, {"kind": "manual", "key": key, "summary": "third", "priority": "critical"})
    assert b["outcome"] == "deduplicated"
    inc = s.incident(iid)
    assert inc["severity"] == "sev1" and inc["occurrences"] == 3  # raised

    # a different kind with the same key is a different incident
    st, b = post_signal(s, {"kind": "budget", "key": key, "summary": "other kind"})
    assert b["outcome"] == "created" and b["incident_id"] != iid


def test_dedup_event_short_form(shared_server):
    s = shared_server
    key = unique("dedup-ev")
    iid = s.signal(key=key, summary="one")["incident_id"]
    s.signal(key=key, summary="two", details={"new": True})
    evs = s.all_events(incident_id=iid)
    assert [e["type"] for e in evs] == ["incident_created", "incident_updated"], evs
    created, upd = evs
    assert created["data"]["id"] == iid and created["data"]["key"] == key  # the full incident
    d = upd["data"]
    assert d["change_type"] == "deduplicated", d
    short = d.get("incident", d)
    assert short["id"] == iid and short["occurrences"] == 2
    assert "last_seen_at" in short and "severity" in short
    assert "notes" not in short and "details" not in short, "dedup event carries the short form"
    assert "two" in json.dumps(d), "the new summary goes into the dedup event"


@pytest.mark.parametrize("given,want", [
    ({}, "sev3"), ({"severity": "sev1"}, "sev1"), ({"severity": "sev2"}, "sev2"),
    ({"severity": "sev4"}, "sev4"),
    ({"priority": "critical"}, "sev1"), ({"priority": "high"}, "sev2"),
    ({"priority": "medium"}, "sev3"), ({"priority": "low"}, "sev4"),
    ({"priority": "P0"}, "sev1"), ({"priority": "P1"}, "sev1"), ({"priority": "P2"}, "sev2"),
    ({"priority": "P3"}, "sev3"), ({"priority": "P4"}, "sev4"),
], ids=lambda x: json.dumps(x) if isinstance(x, dict) else x)
def test_severity_mapping(shared_server, given, want):
    b = shared_server.signal(key=unique("sev"), **given)
    assert b["outcome"] == "created"
    assert shared_server.incident(b["incident_id"])["severity"] == want


def test_severity_and_priority_both_400(shared_server):
    st, b = post_signal(shared_server, {"kind": "manual", "key": unique("both"), "summary": "x",
                                        "severity": "sev1", "priority": "high"})
    assert_error(st, b, 400, "validation_failed")
    assert b["error"]["details"].get("field") in ("severity", "priority"), b


@pytest.mark.parametrize("body,field", [
    ({"key": "k", "summary": "x"}, "kind"),
    ({"kind": "weird", "key": "k", "summary": "x"}, "kind"),
    ({"kind": "invariant", "summary": "x"}, "key"),
    ({"kind": "budget", "summary": "x"}, "key"),
    ({"kind": "planner", "summary": "x"}, "key"),
    ({"kind": "invariant", "key": "", "summary": "x"}, "key"),
    ({"kind": "manual", "key": "k"}, "summary"),
    ({"kind": "manual", "key": "k", "summary": ""}, "summary"),
    ({"kind": "manual", "key": "k", "summary": "   \t "}, "summary"),
    ({"kind": "manual", "key": "k", "summary": "x" * 257}, "summary"),
    ({"kind": "manual", "key": "k", "summary": "x", "severity": "SEV1x"}, "severity"),
    ({"kind": "manual", "key": "k", "summary": "x", "priority": "P9"}, "priority"),
    ({"kind": "manual", "key": "k", "summary": "x", "priority": "urgent"}, "priority"),
    ({"kind": "manual", "key": "k", "summary": "x", "action": "close"}, "action"),
    ({"kind": "manual", "key": "k", "summary": "x", "details": []}, "details"),
    ({"kind": "manual", "key": "k", "summary": "x", "playbooks": [1]}, None),
    ({"kind": "manual", "key": "k", "summary": "x", "source": 5}, "source"),
    ({"kind": "manual", "key": 7, "summary": "x"}, "key"),
], ids=lambda x: json.dumps(x)[:60] if isinstance(x, dict) else str(x))
def test_validation(shared_server, body, field):
    st, b = post_signal(shared_server, body)
    err = assert_error(st, b, 400, "validation_failed", field=field)
    if field is None:
        assert str(err["details"].get("field", "")).startswith("playbooks"), b


def test_summary_length_bounds(shared_server):
    b = shared_server.signal(key=unique("len"), summary="y" * 256)
    assert b["outcome"] == "created"
    assert shared_server.incident(b["incident_id"])["summary"] == "y" * 256
    # 256 characters (not bytes): multi-byte characters count once
    b = shared_server.signal(key=unique("len"), summary="é" * 256)
    assert b["outcome"] == "created"
    b = shared_server.signal(key=unique("len"), summary="  " + "z" * 256 + "  ")
    assert b["outcome"] == "created"


def test_manual_without_key_gets_uuid_key(shared_server):
    st, b = post_signal(shared_server, {"kind": "manual", "summary": "no key"})
    assert st == 202 and b["outcome"] == "created", b
    inc = shared_server.incident(b["incident_id"])
    assert re.fullmatch(r"manual:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        inc["key"]), inc["key"]
    st, b2 = post_signal(shared_server, {"kind": "manual", "summary": "no key"})
    assert b2["outcome"] == "created" and b2["incident_id"] != b["incident_id"]


def test_action_resolve(shared_server):
    s = shared_server
    key = unique("res")
    st, b = post_signal(s, {"kind": "invariant", "key": key, "summary": "x", "action": "resolve"})
    assert st == 202 and b["outcome"] == "no_incident" and b["incident_id"] is None, b
    iid = s.signal(key=key, kind="invariant")["incident_id"]
    st, b = post_signal(s, {"kind": "invariant", "key": key, "summary": "ok now", "action": "resolve",
                            "source": "watcher-test"})
    assert b == {"outcome": "resolved", "incident_id": iid}, b
    inc = s.incident(iid)
    assert inc["status"] == "resolved" and inc["resolved_at"] and inc["occurrences"] == 1
    # a new trigger opens a new incident
    b = s.signal(key=key, kind="invariant")
    assert b["outcome"] == "created" and b["incident_id"] != iid


@pytest.mark.parametrize("verbs", [[], ["acknowledge"], ["mitigate"], ["acknowledge", "mitigate"]])
def test_source_resolve_from_any_active_state(shared_server, verbs):
    s = shared_server
    key = unique("res-any")
    iid = s.signal(key=key)["incident_id"]
    for v in verbs:
        s.transition(iid, v)
    b = s.signal(key=key, action="resolve")
    assert b == {"outcome": "resolved", "incident_id": iid}
    assert s.incident(iid)["status"] == "resolved"


def test_resolve_signal_does_not_touch_resolved(shared_server):
    s = shared_server
    key = unique("res2")
    iid = s.signal(key=key)["incident_id"]
    s.signal(key=key, action="resolve")
    b = s.signal(key=key, action="resolve")
    assert b["outcome"] == "no_incident" and b["incident_id"] is None


def test_outcome_events(shared_server):
    s = shared_server
    key = unique("ev")
    iid = s.signal(key=key)["incident_id"]
    s.signal(key=key)
    s.signal(key=key, action="resolve")
    evs = s.all_events(incident_id=iid)
    types = [(e["type"], e["data"].get("change_type")) for e in evs]
    assert types == [("incident_created", None), ("incident_updated", "deduplicated"),
                     ("incident_updated", "resolved")], types


def test_batch(shared_server):
    s = shared_server
    k1, k2 = unique("batch"), unique("batch")
    body = [{"kind": "manual", "key": k1, "summary": "a"},
            {"kind": "manual", "key": k1, "summary": "b"},
            {"kind": "manual", "key": k2, "summary": "c", "priority": "P1"},
            {"kind": "manual", "key": k2, "summary": "c", "action": "resolve"},
            {"kind": "manual", "key": k2, "summary": "c", "action": "resolve"}]
    st, b = s.post("/api/signals", body)
    assert st == 202, b
    res = b["results"]
    assert [r["outcome"] for r in res] == ["created", "deduplicated", "created", "resolved",
                                           "no_incident"], res
    assert res[0]["incident_id"] == res[1]["incident_id"]
    assert res[2]["incident_id"] == res[3]["incident_id"] != res[0]["incident_id"]
    assert res[4]["incident_id"] is None
    assert s.incident(res[0]["incident_id"])["occurrences"] == 2


def test_batch_validated_whole(shared_server):
    s = shared_server
    k_ok = unique("batch-ok")
    body = [{"kind": "manual", "key": k_ok, "summary": "fine"},
            {"kind": "manual", "key": unique("b"), "summary": "fine"},
            {"kind": "manual", "key": unique("b"), "summary": ""},
            {"kind": "bogus", "key": unique("b"), "summary": "x"}]
    st, b = s.post("/api/signals", body)
    err = assert_error(st, b, 400, "validation_failed", field="summary")
    assert err["details"].get("index") == 2, b
    st, b = s.get(f"/api/incidents?q={k_ok}")
    assert st == 200 and b["total"] == 0, f"nothing of an invalid batch may be stored: {b}"


def test_batch_unknown_field_index(shared_server):
    body = [{"kind": "manual", "key": unique("b"), "summary": "x"},
            {"kind": "manual", "key": unique("b"), "summary": "x", "extra": 1}]
    st, b = shared_server.post("/api/signals", body)
    err = assert_error(st, b, 400, "validation_failed", field="extra")
    assert err["details"]["index"] == 1


def test_batch_of_1000_ok_and_1001_refused(shared_server):
    s = shared_server
    key = unique("big-batch")
    body = [{"kind": "manual", "key": key, "summary": f"n{i}"} for i in range(1000)]
    st, b = s.post("/api/signals", body)
    assert st == 202, b
    assert len(b["results"]) == 1000
    assert b["results"][0]["outcome"] == "created"
    assert all(r["outcome"] == "deduplicated" for r in b["results"][1:])
    assert s.incident(b["results"][0]["incident_id"])["occurrences"] == 1000
    key2 = unique("too-big")
    body = [{"kind": "manual", "key": key2, "summary": "x"} for _ in range(1001)]
    st, b = s.post("/api/signals", body)
    assert st == 400, b
    assert b["error"]["code"] in ("validation_failed", "payload_too_large") or st == 413
    st, b = s.get(f"/api/incidents?q={key2}")
    assert b["total"] == 0


def test_batch_item_not_object(shared_server):
    st, b = shared_server.post("/api/signals", [{"kind": "manual", "key": unique("b"), "summary": "x"}, 5])
    assert st == 400 and b["error"]["code"] == "validation_failed", b
    assert b["error"]["details"].get("index") == 1


def test_rate_limit(make_server):
    s = make_server({"policy": {"rate_limit": {"max": 2, "window": {"manual": "1h"}}}})
    key = unique("rl")
    ids = []
    for _ in range(2):
        b = s.signal(key=key)
        assert b["outcome"] == "created", b
        ids.append(b["incident_id"])
        assert s.signal(key=key, action="resolve")["outcome"] == "resolved"
    b = s.signal(key=key)
    assert b["outcome"] == "rate_limited", b
    assert b["incident_id"] is None
    # a closed incident still counts (any status)
    s.transition(ids[0], "close")
    assert s.signal(key=key)["outcome"] == "rate_limited"
    # other keys and other kinds are not affected
    assert s.signal(key=unique("rl-other"))["outcome"] == "created"
    assert s.signal(key=key, kind="budget")["outcome"] == "created"
    evs = s.all_events(types="signal_suppressed")
    rl = [e for e in evs if e["data"].get("key") == key]
    assert len(rl) == 2, evs
    for e in rl:
        assert e["data"]["reason"] == "rate_limited" and e["data"]["kind"] == "manual"
        assert e["incident_id"] is None


def test_rate_limit_window_per_kind(make_server):
    s = make_server({"policy": {"rate_limit": {"max": 1, "window": {"manual": "1s"}}}})
    key = unique("rlw")
    assert s.signal(key=key)["outcome"] == "created"
    s.signal(key=key, action="resolve")
    import time
    t0 = time.monotonic()
    first = s.signal(key=key)["outcome"]
    if time.monotonic() - t0 < 0.8:
        assert first == "rate_limited"
    wait_for(lambda: s.signal(key=key)["outcome"] == "created", timeout=4.0,
             msg="rate-limit window to pass")


def test_64_concurrent_identical_signals(shared_server):
    s = shared_server
    key = unique("storm")
    n = 64
    barrier = threading.Barrier(n)
    results = [None] * n
    body = json.dumps({"kind": "budget", "key": key, "summary": "storm", "severity": "sev2"}).encode()

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        try:
            conn.connect()
            barrier.wait()
            conn.request("POST", "/api/signals", body=body,
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Bearer {s.token}"})
            r = conn.getresponse()
            results[i] = (r.status, json.loads(r.read()))
        except Exception as e:  # recorded, asserted below
            results[i] = ("exc", repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None and r[0] == 202 for r in results), results
    outcomes = [r[1]["outcome"] for r in results]
    assert outcomes.count("created") == 1, outcomes
    assert outcomes.count("deduplicated") == n - 1, outcomes
    ids = {r[1]["incident_id"] for r in results}
    assert len(ids) == 1, ids
    st, b = s.get(f"/api/incidents?q={key}")
    assert b["total"] == 1, b
    inc = s.incident(ids.pop())
    assert inc["occurrences"] == n
