"""Playbooks (SPEC §9, §5.2): the catalogue, dry-run plans, four-eyes approval, the
executor, rollback — against the real binary, with the canary setting, a stand-in
`dbt` and a stand-in Elasticsearch."""
import os
import signal
import time

import pytest

from harness import Server, assert_error, unique, wait_for

BASE = "/api/playbooks/incidents"


def canary(srv, name, pct, version="v2", baseline="v1", kill=False):
    st, _, b = srv.request("PUT", f"/api/settings/canary.{name}",
                           body={"value": {"version": version, "baseline_version": baseline,
                                           "canary_pct": pct, "kill_switch": kill},
                                 "reason": "test setup"})
    assert st == 200, b


def incident(srv):
    return srv.new_incident(unique("pb"))


def dry_run(srv, iid, type_, params, token=None, expect=200):
    kw = {} if token is None else {"token": token}
    st, b = srv.post(f"{BASE}/{iid}/actions/dry-run", {"action_type": type_, "params": params}, **kw)
    assert st == expect, b
    return b


def execute(srv, iid, aid, token=None, wait=None, expect=202):
    kw = {} if token is None else {"token": token}
    q = f"?wait={wait}" if wait is not None else ""
    st, b = srv.post(f"{BASE}/{iid}/actions/execute{q}", {"action_id": aid}, **kw)
    assert st == expect, b
    return b


def action(srv, iid, aid):
    st, b = srv.get(f"{BASE}/{iid}/actions/{aid}")
    assert st == 200, b
    return b["action"]


def ended(srv, iid, aid, timeout=20):
    return wait_for(lambda: (a := action(srv, iid, aid))["status"] not in ("running",) and a,
                    timeout=timeout, msg=f"action {aid} to end")


def tokens_live(srv, *tokens):
    """Tokens made by the CLI reach a running server within a second."""
    for t in tokens:
        wait_for(lambda: srv.get("/api/session", token=t)[0] == 200, timeout=5,
                 msg="the new token to work")


@pytest.fixture(scope="module")
def srv():
    s = Server({"actions": {"canary_step_interval": "300ms", "rollback_duration": "300ms",
                            "approval_ttl": "1h"}})
    s.approver = s.create_token("alice-approver", "approver")
    s.approver2 = s.create_token("bob-approver", "approver")
    s.responder = s.create_token("carol-responder", "responder")
    tokens_live(s, s.approver, s.approver2, s.responder)
    yield s
    s.cleanup()


def test_catalogue_lists_every_type_with_its_schema(srv):
    st, b = srv.get("/api/playbooks/actions")
    assert st == 200
    names = [a["name"] for a in b["actions"]]
    assert names == ["rerun_dbt", "refresh_dbt_dependencies", "refresh_synonyms", "clear_cache",
                     "rollback_planner", "adjust_canary_split"]
    split = b["actions"][5]
    tp = next(p for p in split["params"] if p["name"] == "target_percent")
    assert tp == {"name": "target_percent", "type": "integer", "required": True,
                  "description": tp["description"], "min": 0, "max": 100}
    assert split["reversible"] is True and "above" in split["approval"]
    cache = next(a for a in b["actions"] if a["name"] == "clear_cache")
    ct = next(p for p in cache["params"] if p["name"] == "cache_types")
    assert ct["default"] == ["query", "request"] and ct["allowed"] == ["query", "request", "fielddata"]


def test_adjust_up_from_37_steps_to_50_and_needs_a_second_person(srv):
    name = unique("c")
    canary(srv, name, 37)
    iid = incident(srv)
    a = dry_run(srv, iid, "adjust_canary_split",
                {"canary": name, "version": "v2", "target_percent": 50},
                token=srv.responder)["action"]
    assert a["status"] == "dry_run_success" and a["requested_by"] == "carol-responder"
    assert a["plan"]["steps"] == [47, 50] and a["plan"]["from_percent"] == 37
    assert a["plan"]["requires_approval"] is True and a["requires_approval"] is True
    assert len(a["plan_hash"]) == 64
    # not without approval
    st, b = srv.post(f"{BASE}/{iid}/actions/execute", {"action_id": a["id"]}, token=srv.responder)
    assert_error(st, b, 403, "approval_required")
    # not by the requester, not by a responder
    st, b = srv.post(f"{BASE}/{iid}/actions/{a['id']}/approve", {}, token=srv.responder)
    assert st == 403, b
    # a hash of other params is refused
    st, b = srv.post(f"{BASE}/{iid}/actions/{a['id']}/approve", {"plan_hash": "0" * 64},
                     token=srv.approver)
    assert_error(st, b, 409, "conflict")
    st, b = srv.post(f"{BASE}/{iid}/actions/{a['id']}/approve", {"plan_hash": a["plan_hash"]},
                     token=srv.approver)
    assert st == 200 and b["action"]["status"] == "approved"
    assert b["action"]["approved_by"] == "alice-approver"
    done = execute(srv, iid, a["id"], token=srv.responder, wait=10, expect=200)["action"]
    assert done["status"] == "success", done
    assert [s["state"]["canary_pct"] for s in done["result"]["steps"]] == [47, 50]
    st, c = srv.get(f"/api/canary/{name}")
    assert c["canary_pct"] == 50
    types = [e["type"] for e in srv.all_events() if e["incident_id"] == iid]
    assert types[-4:] == ["action_planned", "action_approved", "action_started", "action_executed"][-4:] or \
        {"action_planned", "action_approved", "action_started", "action_executed"} <= set(types)


def test_adjust_down_from_60_needs_no_approval_and_rolls_back(srv):
    name = unique("c")
    canary(srv, name, 60)
    iid = incident(srv)
    a = dry_run(srv, iid, "adjust_canary_split",
                {"canary": name, "version": "v2", "target_percent": 50},
                token=srv.responder)["action"]
    assert a["plan"]["steps"] == [50] and a["plan"]["requires_approval"] is False
    done = execute(srv, iid, a["id"], token=srv.responder, wait=10, expect=200)["action"]
    assert done["status"] == "success"
    assert srv.get(f"/api/canary/{name}")[1]["canary_pct"] == 50
    # its rollback raises traffic again: it needs approval
    st, b = srv.post(f"{BASE}/{iid}/actions/{a['id']}/rollback", {}, token=srv.responder)
    assert st == 200, b
    rb = b["action"]
    assert rb["rollback_of"] == a["id"] and rb["plan"]["steps"] == [60]
    assert rb["requires_approval"] is True
    execute(srv, iid, rb["id"], token=srv.responder, expect=403)
    srv.post(f"{BASE}/{iid}/actions/{rb['id']}/approve", {}, token=srv.approver)
    done = execute(srv, iid, rb["id"], token=srv.responder, wait=10, expect=200)["action"]
    assert done["status"] == "success"
    assert srv.get(f"/api/canary/{name}")[1]["canary_pct"] == 60
    assert action(srv, iid, a["id"])["status"] == "rolled_back"
    # a second rollback of the same action is refused
    st, b = srv.post(f"{BASE}/{iid}/actions/{a['id']}/rollback", {}, token=srv.responder)
    assert st == 409, b


def test_rollback_planner_and_its_undo_restore_the_exact_state(srv):
    name = unique("planner")
    canary(srv, name, 40, version="p7", baseline="p6")
    before = srv.get(f"/api/canary/{name}")[1]
    iid = incident(srv)
    a = dry_run(srv, iid, "rollback_planner", {"canary": name, "from_version": "p7",
                                                 "immediate": True}, token=srv.responder)["action"]
    assert a["requires_approval"] is True
    srv.post(f"{BASE}/{iid}/actions/{a['id']}/approve", {}, token=srv.approver)
    done = execute(srv, iid, a["id"], token=srv.responder, wait=10, expect=200)["action"]
    assert done["status"] == "success", done
    now = srv.get(f"/api/canary/{name}")[1]
    assert now["canary_pct"] == 0 and now["kill_switch"] is True
    rb = srv.post(f"{BASE}/{iid}/actions/{a['id']}/rollback", {}, token=srv.responder)[1]["action"]
    assert rb["action_type"] == "restore_canary" and rb["requires_approval"] is True
    srv.post(f"{BASE}/{iid}/actions/{rb['id']}/approve", {}, token=srv.approver2)
    done = execute(srv, iid, rb["id"], token=srv.responder, wait=10, expect=200)["action"]
    assert done["status"] == "success"
    after = srv.get(f"/api/canary/{name}")[1]
    for k in ("version", "baseline_version", "canary_pct", "kill_switch"):
        assert after[k] == before[k]


def test_gradual_rollback_goes_through_half(srv):
    name = unique("planner")
    canary(srv, name, 40, version="p7", baseline="p6")
    iid = incident(srv)
    a = dry_run(srv, iid, "rollback_planner", {"canary": name, "from_version": "p7"},
                token=srv.responder)["action"]
    assert a["requires_approval"] is False
    assert [s["canary_pct"] for s in a["plan"]["steps"]] == [20, 0]
    done = execute(srv, iid, a["id"], token=srv.responder, wait=10, expect=200)["action"]
    assert [s["state"]["canary_pct"] for s in done["result"]["steps"]] == [20, 0]


def test_plans_that_cannot_be_made_are_stored_as_failed(srv):
    iid = incident(srv)
    a = dry_run(srv, iid, "adjust_canary_split",
                {"canary": unique("missing"), "version": "v", "target_percent": 5})["action"]
    assert a["status"] == "dry_run_failed" and "not set" in a["error"]
    name = unique("c")
    canary(srv, name, 30)
    a = dry_run(srv, iid, "adjust_canary_split",
                {"canary": name, "version": "v2", "target_percent": 30})["action"]
    assert a["status"] == "dry_run_failed" and "no-op" in a["error"]
    a = dry_run(srv, iid, "rollback_planner", {"canary": name, "from_version": "v9"})["action"]
    assert a["status"] == "dry_run_failed" and "v9" in a["error"]
    execute(srv, iid, a["id"], expect=409)


@pytest.mark.parametrize("type_,params,field", [
    ("adjust_canary_split", {"canary": "c", "version": "v", "target_percent": 101}, "params.target_percent"),
    ("adjust_canary_split", {"canary": "c", "version": "v", "target_percent": -1}, "params.target_percent"),
    ("adjust_canary_split", {"canary": "c", "version": "v", "target_percent": 5, "x": 1}, "params.x"),
    ("adjust_canary_split", {"canary": "c/../x", "version": "v", "target_percent": 5}, "params.canary"),
    ("rerun_dbt", {"models": ["-x"]}, "params.models"),
    ("rerun_dbt", {"models": ["a;rm -rf /"]}, "params.models"),
    ("rerun_dbt", {"models": ["$(id)"]}, "params.models"),
    ("rerun_dbt", {"models": ["a"], "project_dir": "/srv/../etc"}, "params.project_dir"),
    ("rerun_dbt", {"models": ["a"], "threads": 65}, "params.threads"),
    ("refresh_synonyms", {"index_name": "a/b"}, "params.index_name"),
    ("refresh_synonyms", {"index_name": "a?b"}, "params.index_name"),
    ("refresh_synonyms", {"index_name": "a#b"}, "params.index_name"),
    ("refresh_synonyms", {"index_name": "a%00b"}, "params.index_name"),
    ("refresh_synonyms", {"index_name": "Products"}, "params.index_name"),
    ("refresh_synonyms", {"index_name": "a" * 256}, "params.index_name"),
    ("clear_cache", {"cache_types": ["query", "disk"]}, "params.cache_types"),
    ("restore_canary", {"canary": "c", "state": {}}, "action_type"),
    ("nope", {}, "action_type"),
])
def test_bad_params_are_a_400_naming_the_field_and_store_nothing(srv, type_, params, field):
    iid = incident(srv)
    st, b = srv.post(f"{BASE}/{iid}/actions/dry-run", {"action_type": type_, "params": params})
    assert_error(st, b, 400, "validation_failed", field=field)
    st, h = srv.get(f"{BASE}/{iid}/actions/history")
    assert st == 200 and h["total"] == 0


def test_a_nul_in_params_is_refused_before_anything(srv):
    iid = incident(srv)
    st, b = srv.post(f"{BASE}/{iid}/actions/dry-run",
                     {"action_type": "clear_cache", "params": {"index_name": "a\u0000b"}})
    assert st == 400 and b["error"]["code"] in ("invalid_json", "validation_failed")
    assert srv.get(f"{BASE}/{iid}/actions/history")[1]["total"] == 0


def test_expired_plans_cannot_be_approved_or_run():
    s = Server({"actions": {"approval_ttl": "1s"}})
    try:
        appr = s.create_token("dave", "approver")
        tokens_live(s, appr)
        name = unique("c")
        canary(s, name, 10)
        iid = s.new_incident(unique("pb"))
        a = dry_run(s, iid, "adjust_canary_split",
                    {"canary": name, "version": "v2", "target_percent": 20})["action"]
        st, b = s.post(f"{BASE}/{iid}/actions/{a['id']}/approve", {}, token=appr)
        assert st == 200
        time.sleep(1.3)
        st, b = s.post(f"{BASE}/{iid}/actions/execute", {"action_id": a["id"]})
        assert_error(st, b, 403, "approval_required")
        assert "expired" in b["error"]["message"]
        a2 = dry_run(s, iid, "adjust_canary_split",
                     {"canary": name, "version": "v2", "target_percent": 20})["action"]
        time.sleep(1.3)
        st, b = s.post(f"{BASE}/{iid}/actions/{a2['id']}/approve", {}, token=appr)
        assert st == 409 and "expired" in b["error"]["message"]
    finally:
        s.cleanup()


def test_offered_actions_for_a_planner_regression(srv):
    name = unique("planner")
    canary(srv, name, 25, version="p9", baseline="p8")
    st, b = srv.post("/api/signals", {"kind": "planner", "key": f"planner:{name}:p9",
                                      "summary": "planner regressed",
                                      "details": {"canary": name, "version": "p9"}})
    assert st in (200, 202), b
    iid = b["incident_id"] if "incident_id" in b else b["results"][0]["incident_id"]
    st, o = srv.get(f"{BASE}/{iid}/actions")
    assert st == 200
    offered = {a["action_type"]: a for a in o["actions"]}
    assert set(offered) >= {"rollback_planner", "adjust_canary_split"}
    rb = offered["rollback_planner"]
    assert rb["params"]["canary"] == name and rb["params"]["from_version"] == "p9"
    assert rb["requires_approval"] is False


def test_execute_honours_idempotency_key_and_counts_in_metrics(srv):
    name = unique("c")
    canary(srv, name, 80)
    iid = incident(srv)
    a = dry_run(srv, iid, "adjust_canary_split",
                {"canary": name, "version": "v2", "target_percent": 70})["action"]
    key = unique("idem")
    st1, _, b1 = srv.request("POST", f"{BASE}/{iid}/actions/execute", body={"action_id": a["id"]},
                             headers={"Idempotency-Key": key})
    st2, _, b2 = srv.request("POST", f"{BASE}/{iid}/actions/execute", body={"action_id": a["id"]},
                             headers={"Idempotency-Key": key})
    assert st1 == st2 == 202 and b1 == b2
    wait_for(lambda: action(srv, iid, a["id"])["status"] == "success", timeout=10)
    events = [e for e in srv.all_events() if e["incident_id"] == iid]
    assert [e["type"] for e in events].count("action_started") == 1
    assert [e["type"] for e in events].count("action_executed") == 1
    # without the key a second execute of the same plan is a conflict
    st, b = srv.post(f"{BASE}/{iid}/actions/execute", {"action_id": a["id"]})
    assert_error(st, b, 409, "conflict")
    st, _, text = srv.request("GET", "/metrics")
    line = [l for l in text.splitlines()
            if l.startswith('intervene_actions_total{type="adjust_canary_split",status="success"}')]
    assert line and int(line[0].split()[-1]) >= 1, text[-2000:]
    assert "intervene_actions_running 0" in text


def test_history_is_newest_first_and_paged(srv):
    name = unique("c")
    canary(srv, name, 10)
    iid = incident(srv)
    ids = [dry_run(srv, iid, "adjust_canary_split",
                   {"canary": name, "version": "v2", "target_percent": 5 + i})["action"]["id"]
           for i in range(3)]
    st, h = srv.get(f"{BASE}/{iid}/actions/history?per_page=2")
    assert st == 200 and h["total"] == 3 and [a["id"] for a in h["actions"]] == ids[::-1][:2]
    st, h = srv.get(f"{BASE}/{iid}/actions/history?page=2&per_page=2")
    assert [a["id"] for a in h["actions"]] == ids[:1]
    assert srv.get(f"{BASE}/999999/actions/history")[0] == 404
    assert srv.get(f"{BASE}/{iid}/actions/999999")[0] == 404
    other = incident(srv)
    assert srv.get(f"{BASE}/{other}/actions/{ids[0]}")[0] == 404


def test_approval_is_evaluated_again_against_the_state_at_execute_time(srv):
    name = unique("c")
    canary(srv, name, 60)
    iid = incident(srv)
    a = dry_run(srv, iid, "adjust_canary_split",
                {"canary": name, "version": "v2", "target_percent": 50},
                token=srv.responder)["action"]
    assert a["requires_approval"] is False
    canary(srv, name, 40)  # meanwhile someone lowered it: 50 is now a raise
    st, b = srv.post(f"{BASE}/{iid}/actions/execute", {"action_id": a["id"]}, token=srv.responder)
    assert_error(st, b, 403, "approval_required")
    assert srv.post(f"{BASE}/{iid}/actions/{a['id']}/approve", {}, token=srv.approver)[0] == 200
    done = execute(srv, iid, a["id"], token=srv.responder, wait=10, expect=200)["action"]
    assert done["status"] == "success"
    # it moved from where the canary really was, not from the 60 it was planned at
    assert done["result"]["from_percent"] == 40
    assert [s["state"]["canary_pct"] for s in done["result"]["steps"]] == [50]


def test_action_events_reach_the_webhooks_that_list_them():
    from fakes.webhooks import JsonReceiver
    with JsonReceiver(secret="whsecret") as rx:
        s = Server({"notify": {"webhooks": [{
            "name": "ops", "url": rx.url, "format": "json", "secret": "whsecret",
            "events": ["action_planned", "action_started", "action_executed"]}]}})
        try:
            name = unique("c")
            canary(s, name, 40)
            iid = s.new_incident(unique("pb"))
            a = dry_run(s, iid, "adjust_canary_split",
                        {"canary": name, "version": "v2", "target_percent": 30})["action"]
            execute(s, iid, a["id"], wait=10, expect=200)
            got = rx.wait_for(3, timeout=15)
            assert [r.json["type"] for r in got] == ["action_planned", "action_started",
                                                     "action_executed"]
            assert got[2].json["data"]["status"] == "success"
            assert got[2].json["data"]["action_id"] == a["id"]
            assert all(r.error is None for r in got)
        finally:
            s.cleanup()
