"""The running server prunes what it no longer has to keep (SPEC §3; issue 7, point 6):
events of incidents closed longer than storage.event_retention ago (and of no incident),
with an audit_anchor so `audit verify` still passes; idempotency records after 24 h;
dead sessions. core/retention.c's rules are unit-tested (tests/unit/test_retention.c);
this checks the server runs them by itself, on its timer, as write jobs."""

import sqlite3
import time

from harness import unique, wait_for


def sql(srv, query, *args):
    con = sqlite3.connect(srv.db_path, timeout=10)
    try:
        rows = con.execute(query, args).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def test_old_events_are_pruned_with_an_anchor(make_server):
    srv = make_server({"storage": {"event_retention": "1s"}})
    old = srv.new_incident()
    for verb in ("acknowledge", "resolve", "close"):
        srv.transition(old, verb)
    old_events = [e["id"] for e in srv.all_events(incident_id=old)]
    assert len(old_events) == 4
    time.sleep(1.2)
    keep = srv.new_incident()  # open: its events and every later one stay

    def anchored():
        # rounds may prune in steps (the bootstrap token's event first): wait for the
        # anchor past the old incident's events
        evs = srv.all_events(types="audit_anchor")
        return evs[-1] if evs and evs[-1]["data"]["first_kept_id"] > max(old_events) else None

    anchor = wait_for(anchored, timeout=8.0, msg="an audit_anchor past the old events")
    first_kept = anchor["data"]["first_kept_id"]
    remaining = {e["id"] for e in srv.all_events()}
    assert not remaining & set(old_events), "events of the long-closed incident survived"
    assert min(remaining) == first_kept
    assert [e["id"] for e in srv.all_events(incident_id=keep)], "the open incident lost events"
    assert srv.incident(old)["status"] == "closed"  # only its events go, never the incident
    r = srv.cli("audit", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "anchor" in r.stdout, r.stdout


def test_events_of_recently_closed_incidents_stay(make_server):
    srv = make_server({"storage": {"event_retention": "1h"}})
    iid = srv.new_incident()
    srv.transition(iid, "acknowledge")
    srv.transition(iid, "resolve")
    srv.transition(iid, "close")
    time.sleep(2.5)  # a retention round runs every second at most, here every 30 min
    assert len(srv.all_events(incident_id=iid)) == 4
    assert not srv.all_events(types="audit_anchor")


def test_idempotency_records_expire_after_a_day(make_server):
    srv = make_server({"storage": {"event_retention": "2s"}})
    key = unique("idem")
    st, _, b = srv.request("POST", "/api/incidents", {"summary": "once"},
                           headers={"Idempotency-Key": key})
    assert st == 201, b
    assert sql(srv, "SELECT count(*) FROM idempotency WHERE key = ?", key) == [(1,)]
    # a record from 25 hours ago, as if the clock had moved on
    sql(srv, "UPDATE idempotency SET created_at = created_at - 25 * 3600 * 1000 WHERE key = ?", key)
    wait_for(lambda: sql(srv, "SELECT count(*) FROM idempotency WHERE key = ?", key) == [(0,)],
             timeout=8.0, msg="the expired idempotency record pruned")
    # and the key is new again
    st, _, b2 = srv.request("POST", "/api/incidents", {"summary": "once"},
                            headers={"Idempotency-Key": key})
    assert st == 201 and b2["incident"]["id"] != b["incident"]["id"], b2


def test_dead_sessions_are_pruned(make_server):
    srv = make_server({"storage": {"event_retention": "2s"}})
    name = unique("s")
    tok = srv.create_token(name, "viewer")
    wait_for(lambda: srv.get("/api/incidents", token=tok)[0] == 200, timeout=2.0, msg="token")
    cookies = []
    for _ in range(3):
        st, h, _ = srv.request("POST", "/api/session", {"token": tok}, token=None)
        assert st == 200
        cookies.append(h["set-cookie"].split(";")[0])
    # one signed out, then the token revoked: every session of it is dead
    origin = {"Origin": f"http://127.0.0.1:{srv.port}"}
    st, _, _ = srv.request("DELETE", "/api/session", token=None,
                           headers={"Cookie": cookies[0], **origin})
    assert st == 200
    live = sql(srv, "SELECT count(*) FROM sessions")[0][0]
    assert live >= 3
    assert srv.delete(f"/api/tokens/{name}")[0] == 200
    wait_for(lambda: sql(srv, "SELECT count(*) FROM sessions s JOIN tokens t ON t.id = s.token_id "
                              "WHERE t.name = ?", name) == [(0,)],
             timeout=8.0, msg="the dead sessions pruned")
