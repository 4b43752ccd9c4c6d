"""Event log (SPEC §3, §6): /api/events, types, hash chain, `intervene audit verify`."""
import hashlib
import sqlite3

import pytest

from harness import ZERO_HASH, assert_error, canonical_json, event_hash, parse_ts, unique

EVENT_FIELDS = {"id", "type", "incident_id", "actor", "data", "created_at", "prev_hash", "hash"}
KNOWN_TYPES = {"incident_created", "incident_updated", "signal_suppressed", "sla_breached",
               "action_planned", "action_approved", "action_started", "action_executed",
               "action_rolled_back", "issue_delivered", "issue_failed", "settings_changed",
               "silence_created", "silence_ended", "token_created", "token_revoked",
               "audit_anchor"}


def test_spec_test_vector():
    """The formula as this suite computes it reproduces SPEC §3's test vector."""
    h = event_hash(ZERO_HASH, 1, "incident_created", 1, "local", "2026-01-01T00:00:00.000Z",
                   '{"id":1}')
    assert h == "6c4f21bfc4f206b5cc21e034254bc63e437b2c2b1541c85f1101725299f89e38"


def populate(s):
    key = unique("ev")
    iid = s.signal(key=key, details={"text": "naïve café ✓", "n": 3, "list": [1, "two", None, True]})["incident_id"]
    s.signal(key=key)
    s.transition(iid, "acknowledge", {"notes": "on it"})
    s.post(f"/api/incidents/{iid}/comments", {"body": "a comment"})
    st, sil = s.post("/api/silences", {"key_glob": key + "-s*", "reason": "r", "duration": "1h"})
    s.signal(key=key + "-s1")
    s.delete(f"/api/silences/{sil['silence']['id']}")
    s.transition(iid, "resolve")
    return iid


def check_chain(events, from_start=True):
    prev = None
    for i, e in enumerate(events):
        assert EVENT_FIELDS <= set(e), e
        assert e["type"] in KNOWN_TYPES, e["type"]
        assert isinstance(e["data"], dict), e
        parse_ts(e["created_at"])
        if i == 0 and from_start and e["id"] == 1:
            assert e["prev_hash"] == ZERO_HASH
        if prev is not None:
            assert e["id"] > prev["id"]
            assert e["prev_hash"] == prev["hash"], f"chain broken at event {e['id']}"
        want = event_hash(e["prev_hash"], e["id"], e["type"], e["incident_id"], e["actor"],
                          e["created_at"], canonical_json(e["data"]))
        assert e["hash"] == want, f"hash mismatch at event {e['id']} ({e['type']})"
        prev = e


def test_events_list_and_hash_chain(server):
    s = server
    populate(s)
    st, b = s.get("/api/events")
    assert st == 200, b
    assert {"events", "total", "page", "per_page"} <= set(b)
    evs = s.all_events()
    assert evs[0]["id"] == 1 and evs[0]["prev_hash"] == ZERO_HASH
    types = {e["type"] for e in evs}
    assert {"incident_created", "incident_updated", "signal_suppressed", "silence_created",
            "silence_ended", "token_created"} <= types, types
    check_chain(evs)
    # the full list agrees with the database: ids never reused and contiguous here
    assert [e["id"] for e in evs] == list(range(1, len(evs) + 1))


def test_events_filters(server):
    s = server
    iid = populate(s)
    evs = s.all_events()
    mid = evs[len(evs) // 2]["id"]
    st, b = s.get(f"/api/events?after_id={mid}")
    assert [e["id"] for e in b["events"]] == [e["id"] for e in evs if e["id"] > mid]
    st, b = s.get("/api/events?limit=2")
    assert [e["id"] for e in b["events"]] == [e["id"] for e in evs[:2]]
    st, b = s.get("/api/events?types=incident_created,silence_created")
    assert [e["id"] for e in b["events"]] == \
        [e["id"] for e in evs if e["type"] in ("incident_created", "silence_created")]
    st, b = s.get(f"/api/events?incident_id={iid}")
    assert [e["id"] for e in b["events"]] == [e["id"] for e in evs if e["incident_id"] == iid]
    st, b = s.get(f"/api/events?incident_id={iid}&types=incident_updated&after_id={mid}")
    assert [e["id"] for e in b["events"]] == \
        [e["id"] for e in evs if e["incident_id"] == iid and e["type"] == "incident_updated"
         and e["id"] > mid]
    st, b = s.get(f"/api/events?after_id={evs[-1]['id']}")
    assert st == 200 and b["events"] == []


@pytest.mark.parametrize("q", ["after_id=abc", "limit=1001", "limit=x",
                               "incident_id=abc"])
def test_events_invalid_params(shared_server, q):
    st, b = shared_server.get("/api/events?" + q)
    assert_error(st, b, 400, "validation_failed")


def test_stored_data_is_canonical(server):
    """`data` in the database is the exact compact, key-sorted JSON that was hashed."""
    s = server
    populate(s)
    evs = {e["id"]: e for e in s.all_events()}
    s.stop()
    con = sqlite3.connect(s.db_path)
    rows = con.execute("SELECT id, data, hash FROM events ORDER BY id").fetchall()
    con.close()
    assert len(rows) == len(evs)
    for eid, data, h in rows:
        assert data == canonical_json(evs[eid]["data"]), f"event {eid}: {data!r}"
        assert h == evs[eid]["hash"]


def test_audit_verify_ok_and_tamper(server):
    s = server
    populate(s)
    r = s.cli("audit", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK"), r.stdout
    s.stop()
    r = s.cli("audit", "verify")
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
    con = sqlite3.connect(s.db_path)
    (data,) = con.execute("SELECT data FROM events WHERE id = 3").fetchone()
    tampered = data.replace("}", ',"tampered":true}', 1) if data != "{}" else '{"tampered":true}'
    con.execute("UPDATE events SET data = ? WHERE id = 3", (tampered,))
    con.commit()
    con.close()
    r = s.cli("audit", "verify")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "event 3" in out, out
    assert "hash does not match its contents" in out, out
    assert not r.stdout.startswith("OK")


def test_audit_verify_detects_broken_link(server):
    """Event 5 is rewritten as a whole: a prev_hash that is not event 4's hash, and a hash
    that matches its new content. Its own hash check passes, so only the link check
    (prev_hash against the event before) can catch it."""
    s = server
    populate(s)
    s.stop()
    con = sqlite3.connect(s.db_path)
    row = con.execute("SELECT id, type, incident_id, actor, created_at, data, prev_hash, hash "
                      "FROM events WHERE id = 5").fetchone()
    eid, typ, iid, actor, created_at, data, prev_hash, old_hash = row
    (hash4,) = con.execute("SELECT hash FROM events WHERE id = 4").fetchone()
    assert prev_hash == hash4  # the link before the edit
    forged_prev = hashlib.sha256(b"not the previous event").hexdigest()
    forged_hash = event_hash(forged_prev, eid, typ, iid, actor, created_at, data)
    assert forged_prev != hash4 and forged_hash != old_hash
    con.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE id = 5", (forged_prev, forged_hash))
    con.commit()
    con.close()
    r = s.cli("audit", "verify")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "event 5" in out, out
    assert "broken link: prev_hash does not match the hash of event 4" in out, out
    assert "does not match its contents" not in out, out


def test_audit_verify_detects_deleted_event(server):
    s = server
    populate(s)
    s.stop()
    con = sqlite3.connect(s.db_path)
    con.execute("DELETE FROM events WHERE id = 4")
    con.commit()
    con.close()
    r = s.cli("audit", "verify")
    assert r.returncode == 1
    assert "event 5" in r.stdout + r.stderr or "event 4" in r.stdout + r.stderr


def test_audit_verify_while_server_runs(server):
    populate(server)
    r = server.cli("audit", "verify")
    assert r.returncode == 0 and r.stdout.startswith("OK")
    assert server.alive()
