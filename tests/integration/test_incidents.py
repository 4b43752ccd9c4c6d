"""Incidents (SPEC §3, §4.3, §4.4, §5.1): full object, lifecycle, notes, assignment,
reopen, manual declaration with Idempotency-Key, PATCH, comments, timeline, SLA."""
import datetime as dt

import pytest

from harness import assert_error, parse_ts, unique, wait_for

FULL_FIELDS = ["id", "kind", "key", "severity", "status", "summary", "details", "source",
               "playbooks", "assigned_to", "parent_id", "issue_url", "issue_ref", "occurrences",
               "last_seen_at", "created_at", "updated_at", "acknowledged_at", "acknowledged_by",
               "mitigated_at", "mitigated_by", "resolved_at", "resolved_by", "closed_at",
               "closed_by", "reopened_at", "notes", "metadata", "sla", "available_transitions",
               "comments_count"]
TS_FIELDS = ["last_seen_at", "created_at", "updated_at", "acknowledged_at", "mitigated_at",
             "resolved_at", "closed_at", "reopened_at"]

VERBS = ["acknowledge", "mitigate", "resolve", "close", "reopen"]
ALLOWED = {"open": {"acknowledge", "mitigate"}, "acknowledged": {"mitigate", "resolve"},
           "mitigated": {"resolve", "close"}, "resolved": {"close", "reopen"},
           "closed": {"reopen"}}
RESULT = {"acknowledge": "acknowledged", "mitigate": "mitigated", "resolve": "resolved",
          "close": "closed", "reopen": "open"}
PATH_TO = {"open": [], "acknowledged": ["acknowledge"], "mitigated": ["mitigate"],
           "resolved": ["acknowledge", "resolve"], "closed": ["acknowledge", "resolve", "close"]}
STAMP = {"acknowledge": "acknowledged", "mitigate": "mitigated", "resolve": "resolved",
         "close": "closed"}


@pytest.fixture(scope="module")
def resp(shared_server):
    name = unique("responder")
    tok = shared_server.create_token(name, "responder")
    wait_for(lambda: shared_server.get("/api/incidents", token=tok)[0] == 200, timeout=2)
    return name, tok


def in_state(s, state, **kw):
    iid = s.new_incident(**kw)
    for v in PATH_TO[state]:
        s.transition(iid, v)
    assert s.incident(iid)["status"] == state
    return iid


def check_full(inc):
    missing = [f for f in FULL_FIELDS if f not in inc]
    assert not missing, f"incident lacks {missing}: {sorted(inc)}"
    for f in TS_FIELDS:
        if inc[f] is not None:
            parse_ts(inc[f])
    assert isinstance(inc["details"], dict)
    assert isinstance(inc["notes"], dict)
    assert isinstance(inc["metadata"], dict)
    assert isinstance(inc["playbooks"], list)
    assert isinstance(inc["occurrences"], int) and inc["occurrences"] >= 1
    assert isinstance(inc["comments_count"], int)
    assert isinstance(inc["available_transitions"], list)
    assert set(inc["available_transitions"]) == ALLOWED[inc["status"]], inc
    assert inc["severity"] in ("sev1", "sev2", "sev3", "sev4")
    for stage in ("ack", "mitigate", "resolve"):
        st = inc["sla"][stage]
        assert "due_at" in st and "met" in st, inc["sla"]
        if st["due_at"] is not None:
            parse_ts(st["due_at"])
        assert st["met"] in (True, False, None)


# ------------------------------------------------------------------ full object, lifecycle

def test_full_object(shared_server):
    s = shared_server
    iid = s.new_incident(details={"nested": {"a": [1, 2]}}, playbooks=["clear_cache"])
    inc = s.incident(iid)
    check_full(inc)
    assert inc["id"] == iid and inc["status"] == "open" and inc["occurrences"] == 1
    assert inc["details"] == {"nested": {"a": [1, 2]}}
    assert inc["playbooks"] == ["clear_cache"]
    for f in ("acknowledged_at", "acknowledged_by", "mitigated_at", "resolved_at", "closed_at",
              "reopened_at", "parent_id", "assigned_to", "issue_url"):
        assert inc[f] is None, (f, inc[f])
    assert inc["comments_count"] == 0
    assert inc["notes"] == {} and inc["metadata"] == {}
    assert inc["created_at"] <= inc["updated_at"]


@pytest.mark.parametrize("state", list(ALLOWED))
def test_transition_table(shared_server, state):
    s = shared_server
    iid = in_state(s, state)
    inc = s.incident(iid)
    assert set(inc["available_transitions"]) == ALLOWED[state]
    for verb in VERBS:
        if verb in ALLOWED[state]:
            continue
        st, b = s.post(f"/api/incidents/{iid}/{verb}", {})
        err = assert_error(st, b, 409, "conflict")
        assert state in err["message"], f"409 message should name the state {state}: {err}"
    assert s.incident(iid)["status"] == state
    for verb in sorted(ALLOWED[state]):
        iid2 = in_state(s, state)
        b = s.transition(iid2, verb)
        inc = b["incident"]
        check_full(inc)
        assert inc["status"] == RESULT[verb]
        assert set(inc["available_transitions"]) == ALLOWED[RESULT[verb]]


def test_transition_sets_at_and_by(shared_server, resp):
    s = shared_server
    name, tok = resp
    iid = s.new_incident()
    created = parse_ts(s.incident(iid)["created_at"])
    prev = created
    for verb in ("acknowledge", "mitigate", "resolve", "close"):
        inc = s.transition(iid, verb, token=tok)["incident"]
        at = parse_ts(inc[f"{STAMP[verb]}_at"])
        assert inc[f"{STAMP[verb]}_by"] == name
        assert at >= prev, f"timestamps never go backwards ({verb})"
        assert parse_ts(inc["updated_at"]) >= at
        prev = at
    evs = s.all_events(incident_id=iid)
    changes = [(e["data"].get("change_type"), e["actor"]) for e in evs[1:]]
    assert changes == [("acknowledged", name), ("mitigated", name), ("resolved", name),
                       ("closed", name)], changes


def test_notes_per_verb(shared_server, resp):
    s = shared_server
    name, tok = resp
    iid = s.new_incident()
    s.transition(iid, "acknowledge", {"notes": "looking into it"}, token=tok)
    s.transition(iid, "resolve", {"notes": "fixed the job"}, token=tok)
    s.transition(iid, "reopen", {"notes": "came back"}, token=tok)
    inc = s.transition(iid, "acknowledge", {"notes": "again"}, token=tok)["incident"]
    notes = inc["notes"]
    assert set(notes) == {"acknowledge", "resolve", "reopen"}, notes
    assert [n["text"] for n in notes["acknowledge"]] == ["looking into it", "again"]
    for lst in notes.values():
        for n in lst:
            assert set(n) == {"at", "by", "text"}, n
            assert n["by"] == name
            parse_ts(n["at"])
    # a transition without notes adds none
    inc = s.transition(iid, "mitigate")["incident"]
    assert "mitigate" not in inc["notes"]


def test_transition_body_validation(shared_server):
    s = shared_server
    iid = s.new_incident()
    st, b = s.post(f"/api/incidents/{iid}/acknowledge", {"notes": 5})
    assert_error(st, b, 400, "validation_failed", field="notes")
    st, b = s.post(f"/api/incidents/{iid}/acknowledge", {"nope": "x"})
    assert_error(st, b, 400, "validation_failed", field="nope")
    assert s.incident(iid)["status"] == "open", "a refused request changes nothing"


def test_transition_assigns(shared_server):
    s = shared_server
    iid = s.new_incident()
    inc = s.transition(iid, "acknowledge", {"assigned_to": "erin"})["incident"]
    assert inc["assigned_to"] == "erin"


def test_assign_route(shared_server):
    s = shared_server
    iid = s.new_incident()
    inc = s.transition(iid, "assign", {"assigned_to": "carol"})["incident"]
    assert inc["assigned_to"] == "carol" and inc["status"] == "open"
    st, b = s.post(f"/api/incidents/{iid}/assign", {})
    assert_error(st, b, 400, "validation_failed", field="assigned_to")
    evs = s.all_events(incident_id=iid)
    assert evs[-1]["type"] == "incident_updated" and evs[-1]["data"]["change_type"] == "assigned"


def test_reopen(shared_server):
    s = shared_server
    iid = in_state(s, "closed")
    inc = s.transition(iid, "reopen")["incident"]
    assert inc["status"] == "open" and inc["reopened_at"]
    assert parse_ts(inc["reopened_at"]) >= parse_ts(inc["closed_at"])
    assert set(inc["available_transitions"]) == {"acknowledge", "mitigate"}
    inc = s.transition(iid, "acknowledge")["incident"]
    assert parse_ts(inc["acknowledged_at"]) >= parse_ts(inc["reopened_at"])
    evs = s.all_events(incident_id=iid)
    assert "reopened" in [e["data"].get("change_type") for e in evs]


def test_reopen_refused_while_key_active(shared_server):
    s = shared_server
    key = unique("reopen")
    a = s.signal(key=key)["incident_id"]
    assert s.signal(key=key, action="resolve")["outcome"] == "resolved"
    b = s.signal(key=key)["incident_id"]
    assert a != b
    st, body = s.post(f"/api/incidents/{a}/reopen", {})
    assert_error(st, body, 409, "conflict")
    assert s.incident(a)["status"] == "resolved"
    s.transition(b, "mitigate")
    s.transition(b, "close")
    assert s.transition(a, "reopen")["incident"]["status"] == "open"


# ------------------------------------------------------------------ manual declaration

def test_declare(shared_server, resp):
    s = shared_server
    name, tok = resp
    key = unique("manual-decl")
    st, b = s.post("/api/incidents", {"summary": " DB is down ", "severity": "sev2", "key": key,
                                      "details": {"host": "db1"}, "playbooks": ["clear_cache"]},
                   token=tok)
    assert st == 201, b
    inc = b["incident"]
    check_full(inc)
    assert inc["kind"] == "manual" and inc["key"] == key and inc["severity"] == "sev2"
    assert inc["summary"] == "DB is down" and inc["status"] == "open"
    assert inc["details"] == {"host": "db1"} and inc["playbooks"] == ["clear_cache"]
    assert isinstance(inc["source"], str) and inc["source"]
    assert s.incident(inc["id"])["key"] == key
    evs = s.all_events(incident_id=inc["id"])
    assert evs[0]["type"] == "incident_created" and evs[0]["actor"] == name

    st, b2 = s.post("/api/incidents", {"summary": "again", "key": key})
    err = assert_error(st, b2, 409, "conflict")
    assert err["details"].get("incident_id") == inc["id"], b2
    # a signal for the same manual key deduplicates into it
    r = s.signal(key=key)
    assert r == {"outcome": "deduplicated", "incident_id": inc["id"]}


def test_declare_defaults(shared_server):
    st, b = shared_server.post("/api/incidents", {"summary": "defaults"})
    assert st == 201, b
    inc = b["incident"]
    assert inc["severity"] == "sev3" and inc["kind"] == "manual"
    assert inc["key"].startswith("manual:") and len(inc["key"]) == len("manual:") + 36


def test_declare_after_resolved_key(shared_server):
    s = shared_server
    key = unique("decl-res")
    st, b = s.post("/api/incidents", {"summary": "x", "key": key})
    first = b["incident"]["id"]
    s.transition(first, "mitigate")
    s.transition(first, "resolve")
    st, b = s.post("/api/incidents", {"summary": "x", "key": key})
    assert st == 201 and b["incident"]["id"] != first


@pytest.mark.parametrize("body,field", [
    ({}, "summary"), ({"summary": ""}, "summary"), ({"summary": "x" * 257}, "summary"),
    ({"summary": "x", "severity": "high"}, "severity"), ({"summary": "x", "kind": "budget"}, "kind"),
    ({"summary": "x", "details": "str"}, "details"),
])
def test_declare_validation(shared_server, body, field):
    st, b = shared_server.post("/api/incidents", body)
    assert_error(st, b, 400, "validation_failed", field=field)


def test_idempotency_key(shared_server):
    s = shared_server
    ikey = unique("idem")
    r1 = s.request("POST", "/api/incidents", {"summary": "idempotent"},
                   headers={"Idempotency-Key": ikey})
    r2 = s.request("POST", "/api/incidents", {"summary": "idempotent"},
                   headers={"Idempotency-Key": ikey})
    assert r1[0] == 201 and r2[0] == 201, (r1, r2)
    assert r1[2] == r2[2], "a repeat returns the first response"
    iid = r1[2]["incident"]["id"]
    r3 = s.request("POST", "/api/incidents", {"summary": "idempotent"},
                   headers={"Idempotency-Key": unique("idem")})
    assert r3[0] == 201 and r3[2]["incident"]["id"] != iid
    created = [e for e in s.all_events(types="incident_created") if e["incident_id"] == iid]
    assert len(created) == 1


def test_idempotency_key_repeats_error_response(shared_server):
    s = shared_server
    key = unique("idem-conf")
    s.post("/api/incidents", {"summary": "x", "key": key})
    ikey = unique("idem")
    r1 = s.request("POST", "/api/incidents", {"summary": "x", "key": key},
                   headers={"Idempotency-Key": ikey})
    r2 = s.request("POST", "/api/incidents", {"summary": "x", "key": key},
                   headers={"Idempotency-Key": ikey})
    assert r1[0] == r2[0] == 409
    assert r1[2]["error"]["details"] == r2[2]["error"]["details"]


# ------------------------------------------------------------------ PATCH

def test_patch(shared_server, resp):
    s = shared_server
    name, tok = resp
    iid = s.new_incident(severity="sev3")
    before = s.incident(iid)
    st, b = s.patch(f"/api/incidents/{iid}", {"summary": "new summary", "assigned_to": "dave",
                                              "playbooks": ["rerun_dbt"],
                                              "metadata": {"a": 1, "b": {"c": 2}}}, token=tok)
    assert st == 200, b
    inc = b["incident"]
    check_full(inc)
    assert inc["summary"] == "new summary" and inc["assigned_to"] == "dave"
    assert inc["playbooks"] == ["rerun_dbt"] and inc["metadata"] == {"a": 1, "b": {"c": 2}}
    assert inc["updated_at"] >= before["updated_at"]
    st, b = s.patch(f"/api/incidents/{iid}", {"metadata": {"b": 3, "d": 4}})
    assert st == 200 and b["incident"]["metadata"] == {"a": 1, "b": 3, "d": 4}, b  # shallow merge
    assert s.incident(iid)["metadata"] == {"a": 1, "b": 3, "d": 4}
    assert s.incident(iid)["summary"] == "new summary"


def test_patch_severity_needs_reason(shared_server):
    s = shared_server
    iid = s.new_incident(severity="sev3")
    st, b = s.patch(f"/api/incidents/{iid}", {"severity": "sev1"})
    assert_error(st, b, 400, "validation_failed", field="reason")
    assert s.incident(iid)["severity"] == "sev3"
    st, b = s.patch(f"/api/incidents/{iid}", {"severity": "sev1", "reason": "customer impact"})
    assert st == 200 and b["incident"]["severity"] == "sev1", b
    # lowering is allowed by hand
    st, b = s.patch(f"/api/incidents/{iid}", {"severity": "sev4", "reason": "false alarm"})
    assert st == 200 and b["incident"]["severity"] == "sev4", b
    evs = s.all_events(incident_id=iid)
    sc = [e for e in evs if e["data"].get("change_type") == "severity_changed"]
    assert len(sc) == 2, [e["data"] for e in evs]
    assert "customer impact" in str(sc[0]["data"])


@pytest.mark.parametrize("body,field", [
    ({"summary": ""}, "summary"), ({"summary": "  "}, "summary"), ({"severity": "sev7", "reason": "r"}, "severity"),
    ({"metadata": [1]}, "metadata"), ({"playbooks": "x"}, "playbooks"), ({"status": "closed"}, "status"),
    ({"occurrences": 5}, "occurrences"),
])
def test_patch_validation(shared_server, body, field):
    s = shared_server
    iid = s.new_incident()
    st, b = s.patch(f"/api/incidents/{iid}", body)
    assert_error(st, b, 400, "validation_failed", field=field)


# ------------------------------------------------------------------ comments, timeline

def test_comments(shared_server, resp):
    s = shared_server
    name, tok = resp
    iid = s.new_incident()
    st, b = s.post(f"/api/incidents/{iid}/comments", {"body": "first comment"}, token=tok)
    assert st == 201, b
    c = b["comment"]
    assert set(c) >= {"id", "incident_id", "author", "body", "created_at"}
    assert c["incident_id"] == iid and c["author"] == name and c["body"] == "first comment"
    parse_ts(c["created_at"])
    st, b = s.post(f"/api/incidents/{iid}/comments", {"body": "x" * 10000})
    assert st == 201, b
    st, b = s.get(f"/api/incidents/{iid}/comments")
    assert st == 200, b
    assert b["total"] == 2 and b["page"] == 1 and isinstance(b["per_page"], int)
    assert [x["body"] for x in b["comments"]] in (["first comment", "x" * 10000],
                                                  ["x" * 10000, "first comment"])
    st, b = s.get(f"/api/incidents/{iid}/comments?per_page=1&page=2")
    assert st == 200 and b["total"] == 2 and len(b["comments"]) == 1
    assert s.incident(iid)["comments_count"] == 2
    evs = s.all_events(incident_id=iid)
    assert [e["data"].get("change_type") for e in evs].count("commented") == 2


@pytest.mark.parametrize("body,field", [({}, "body"), ({"body": ""}, "body"),
                                         ({"body": "x" * 10001}, "body"), ({"body": 3}, "body")])
def test_comment_validation(shared_server, body, field):
    iid = shared_server.new_incident()
    st, b = shared_server.post(f"/api/incidents/{iid}/comments", body)
    assert_error(st, b, 400, "validation_failed", field=field)


def test_comment_on_missing_incident(shared_server):
    st, b = shared_server.post("/api/incidents/999999999/comments", {"body": "x"})
    assert_error(st, b, 404, "not_found")


def test_timeline(shared_server):
    s = shared_server
    key = unique("tl")
    iid = s.signal(key=key)["incident_id"]
    s.signal(key=key)
    s.transition(iid, "acknowledge")
    s.post(f"/api/incidents/{iid}/comments", {"body": "hi"})
    s.transition(iid, "resolve")
    st, b = s.get(f"/api/incidents/{iid}/timeline")
    assert st == 200, b
    evs = b["events"]
    assert b["total"] == len(evs) == 5 and b["page"] == 1
    ids = [e["id"] for e in evs]
    assert ids == sorted(ids), "oldest first"
    assert evs[0]["type"] == "incident_created"
    assert all(e["incident_id"] == iid for e in evs)
    assert [e["data"].get("change_type") for e in evs[1:]] == ["deduplicated", "acknowledged",
                                                               "commented", "resolved"]
    for e in evs:
        assert set(e) >= {"id", "type", "incident_id", "actor", "data", "created_at", "prev_hash",
                          "hash"}
        parse_ts(e["created_at"])
    st, b2 = s.get(f"/api/incidents/{iid}/timeline?per_page=2&page=2")
    assert st == 200 and b2["total"] == 5 and [e["id"] for e in b2["events"]] == ids[2:4]


# ------------------------------------------------------------------ SLA

def add_ms(ts, ms):
    return parse_ts(ts) + dt.timedelta(milliseconds=ms)


def test_sla_default_targets(shared_server):
    s = shared_server
    iid = s.new_incident(severity="sev1")
    inc = s.incident(iid)
    sla = inc["sla"]
    assert parse_ts(sla["ack"]["due_at"]) == add_ms(inc["created_at"], 5 * 60_000)
    assert parse_ts(sla["mitigate"]["due_at"]) == add_ms(inc["created_at"], 30 * 60_000)
    assert parse_ts(sla["resolve"]["due_at"]) == add_ms(inc["created_at"], 4 * 3600_000)
    assert [sla[k]["met"] for k in ("ack", "mitigate", "resolve")] == [None, None, None]
    inc = s.transition(iid, "acknowledge")["incident"]
    assert [inc["sla"][k]["met"] for k in ("ack", "mitigate", "resolve")] == [True, None, None]
    inc = s.transition(iid, "resolve")["incident"]
    # a later stage by the due time meets the earlier ones too
    assert [inc["sla"][k]["met"] for k in ("ack", "mitigate", "resolve")] == [True, True, True]


def test_sla_later_stage_meets_earlier(shared_server):
    s = shared_server
    iid = s.new_incident(severity="sev2")
    inc = s.transition(iid, "mitigate")["incident"]
    assert inc["sla"]["ack"]["met"] is True and inc["sla"]["mitigate"]["met"] is True
    assert inc["sla"]["resolve"]["met"] is None
    assert parse_ts(inc["sla"]["resolve"]["due_at"]) == add_ms(inc["created_at"], 24 * 3600_000)


def test_sla_sev4_no_targets(shared_server):
    inc = shared_server.incident(shared_server.new_incident(severity="sev4"))
    for k in ("ack", "mitigate", "resolve"):
        assert inc["sla"][k] == {"due_at": None, "met": None}


def test_sla_breached_and_reopen(make_server):
    s = make_server({"policy": {"sla": {"sev2": {"ack": "1s", "mitigate": "1h", "resolve": "2h"}}}})
    iid = s.new_incident(severity="sev2")
    inc = s.incident(iid)
    assert parse_ts(inc["sla"]["ack"]["due_at"]) == add_ms(inc["created_at"], 1000)
    wait_for(lambda: s.incident(iid)["sla"]["ack"]["met"] is False, timeout=4,
             msg="ack.met false once due_at passed")
    inc = s.transition(iid, "acknowledge")["incident"]
    assert inc["sla"]["ack"]["met"] is False, "acknowledged after the due time"
    inc = s.transition(iid, "resolve")["incident"]
    assert inc["sla"]["mitigate"]["met"] is True and inc["sla"]["resolve"]["met"] is True
    inc = s.transition(iid, "reopen")["incident"]
    assert parse_ts(inc["sla"]["ack"]["due_at"]) == add_ms(inc["reopened_at"], 1000)
    assert parse_ts(inc["sla"]["resolve"]["due_at"]) == add_ms(inc["reopened_at"], 2 * 3600_000)
    # list items carry sla too
    st, b = s.get("/api/incidents")
    item = [x for x in b["incidents"] if x["id"] == iid][0]
    assert item["sla"]["ack"]["due_at"] == inc["sla"]["ack"]["due_at"]


def test_patch_that_changes_nothing_records_nothing(server):
    iid = server.new_incident(severity="sev2")
    before = server.incident(iid)
    n = len(server.all_events(incident_id=iid))
    for body in ({}, {"severity": "sev2"}, {"summary": before["summary"]},
                 {"metadata": {}}, {"playbooks": []}):
        st, b = server.patch(f"/api/incidents/{iid}", body)
        assert st == 200, b
        assert b["incident"]["updated_at"] == before["updated_at"]
    st, _, b = server.request("PATCH", f"/api/incidents/{iid}", raw=b"")
    assert st == 200, b
    assert len(server.all_events(incident_id=iid)) == n
    st, b = server.patch(f"/api/incidents/{iid}", {"summary": "new words", "severity": "sev2"})
    assert st == 200
    ev = server.all_events(incident_id=iid)[-1]
    assert ev["data"]["change_type"] == "updated" and ev["data"]["changed_fields"] == ["summary"]


def test_verbs_unassign_with_null_like_patch_and_assign(server):
    iid = server.new_incident()
    server.transition(iid, "acknowledge", {"assigned_to": "alice"})
    assert server.incident(iid)["assigned_to"] == "alice"
    server.transition(iid, "mitigate", {})
    assert server.incident(iid)["assigned_to"] == "alice"
    server.transition(iid, "resolve", {"assigned_to": None})
    assert server.incident(iid)["assigned_to"] is None
