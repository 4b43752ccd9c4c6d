"""Silences (SPEC §4.5): create/list/end, matching, preview, never touching incidents."""
import datetime as dt
import urllib.parse

import pytest

from harness import assert_error, fmt_ts, parse_ts, unique, wait_for


def create(s, expect=201, **body):
    body.setdefault("reason", "maintenance window")
    st, b = s.post("/api/silences", body)
    assert st == expect, (st, b)
    return b


@pytest.fixture(scope="module")
def resp(shared_server):
    name = unique("silencer")
    tok = shared_server.create_token(name, "responder")
    wait_for(lambda: shared_server.get("/api/silences", token=tok)[0] == 200, timeout=2)
    return name, tok


def test_create_with_duration(shared_server, resp):
    s = shared_server
    name, tok = resp
    prefix = unique("sil")
    st, b = s.post("/api/silences", {"kind": "budget", "key_glob": prefix + ":*",
                                     "reason": "planned deploy", "duration": "2h"}, token=tok)
    assert st == 201, b
    sil = b["silence"]
    assert set(sil) >= {"id", "matcher", "reason", "created_by", "starts_at", "ends_at"}
    assert sil["matcher"] == {"kind": "budget", "key_glob": prefix + ":*"}
    assert sil["reason"] == "planned deploy" and sil["created_by"] == name
    assert parse_ts(sil["ends_at"]) - parse_ts(sil["starts_at"]) == dt.timedelta(hours=2)
    evs = s.all_events(types="silence_created")
    assert any(e["data"].get("id") == sil["id"] for e in evs), evs[-3:]


def test_create_with_ends_at_and_no_kind(shared_server):
    s = shared_server
    ends = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    b = create(s, key_glob=unique("sil2") + "*", ends_at=fmt_ts(ends))
    sil = b["silence"]
    assert sil["matcher"].get("kind") is None
    assert abs(parse_ts(sil["ends_at"]) - ends) < dt.timedelta(seconds=1)


@pytest.mark.parametrize("body,field", [
    ({"key_glob": "a*", "duration": "1h"}, "reason"),
    ({"key_glob": "a*", "duration": "1h", "reason": ""}, "reason"),
    ({"reason": "r", "duration": "1h"}, "key_glob"),
    ({"key_glob": "", "reason": "r", "duration": "1h"}, "key_glob"),
    ({"key_glob": "a*", "reason": "r", "duration": "8d"}, "duration"),
    ({"key_glob": "a*", "reason": "r", "duration": "169h"}, "duration"),
    ({"key_glob": "a*", "reason": "r", "duration": "soon"}, "duration"),
    ({"key_glob": "a*", "reason": "r", "kind": "nope", "duration": "1h"}, "kind"),
    ({"key_glob": "a*", "reason": "r", "ends_at": "2000-01-01T00:00:00.000Z"}, "ends_at"),
    ({"key_glob": "a*", "reason": "r", "ends_at": "tomorrow"}, "ends_at"),
    ({"key_glob": "a*", "reason": "r", "duration": "1h", "extra": 1}, "extra"),
], ids=lambda x: str(x)[:50])
def test_create_validation(shared_server, body, field):
    st, b = shared_server.post("/api/silences", body)
    assert_error(st, b, 400, "validation_failed", field=field)


def test_create_needs_an_end(shared_server):
    st, b = shared_server.post("/api/silences", {"key_glob": "a*", "reason": "r"})
    assert_error(st, b, 400, "validation_failed")


def test_create_ends_at_beyond_7_days(shared_server):
    ends = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7, hours=1)
    st, b = shared_server.post("/api/silences", {"key_glob": "a*", "reason": "r",
                                                 "ends_at": fmt_ts(ends)})
    assert_error(st, b, 400, "validation_failed", field="ends_at")
    # exactly 7 days is fine
    b = create(shared_server, key_glob=unique("seven") + "*", duration="7d")
    assert b["silence"]["id"]


def test_silence_matches_signal(shared_server):
    s = shared_server
    prefix = unique("silenced")
    sil = create(s, kind="budget", key_glob=f"budget:{prefix}:*", duration="1h")["silence"]
    r = s.signal(kind="budget", key=f"budget:{prefix}:cost")
    assert r == {"outcome": "silenced", "incident_id": None}, r
    # other kind, same key: not matched
    r = s.signal(kind="invariant", key=f"budget:{prefix}:cost")
    assert r["outcome"] == "created"
    # a key that does not match the glob
    r = s.signal(kind="budget", key=f"budget:{prefix}x:cost")
    assert r["outcome"] == "created"
    evs = [e for e in s.all_events(types="signal_suppressed")
           if e["data"].get("key") == f"budget:{prefix}:cost"]
    assert len(evs) == 1, evs
    d = evs[0]["data"]
    assert d["reason"] == "silenced" and d["kind"] == "budget" and d["silence_id"] == sil["id"]
    assert evs[0]["incident_id"] is None


def test_glob_patterns(shared_server):
    s = shared_server
    p = unique("glob")
    create(s, key_glob=f"{p}-?-db*", duration="1h")
    assert s.signal(key=f"{p}-a-db1")["outcome"] == "silenced"
    assert s.signal(key=f"{p}-a-db")["outcome"] == "silenced"
    assert s.signal(key=f"{p}-ab-db1")["outcome"] == "created"
    assert s.signal(key=f"x{p}-a-db1")["outcome"] == "created", "the glob is anchored"


def test_silence_never_touches_existing_incident(shared_server):
    s = shared_server
    key = unique("existing")
    iid = s.signal(key=key)["incident_id"]
    create(s, key_glob=key, duration="1h")
    r = s.signal(key=key)
    assert r == {"outcome": "deduplicated", "incident_id": iid}
    inc = s.incident(iid)
    assert inc["status"] == "open" and inc["occurrences"] == 2
    # once resolved, the silence applies to the next signal
    s.signal(key=key, action="resolve")
    assert s.signal(key=key)["outcome"] == "silenced"


def test_end_silence(shared_server):
    s = shared_server
    key = unique("ending")
    sil = create(s, key_glob=key, duration="1h")["silence"]
    assert s.signal(key=key)["outcome"] == "silenced"
    st, b = s.get("/api/silences")
    assert st == 200 and {"silences", "total", "page", "per_page"} <= set(b)
    assert sil["id"] in [x["id"] for x in b["silences"]]
    st, b = s.delete(f"/api/silences/{sil['id']}")
    assert st == 200, b
    ended = b["silence"]
    assert ended["id"] == sil["id"]
    assert parse_ts(ended["ends_at"]) <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert parse_ts(ended["ends_at"]) < parse_ts(sil["ends_at"])
    assert s.signal(key=key)["outcome"] == "created"
    st, b = s.get("/api/silences")
    assert sil["id"] not in [x["id"] for x in b["silences"]], "ended silences are not listed"
    st, b = s.get("/api/silences?all=true&per_page=200")
    assert sil["id"] in [x["id"] for x in b["silences"]], "?all=true includes ended ones"
    evs = s.all_events(types="silence_ended")
    assert any(e["data"].get("id") == sil["id"] for e in evs)


def test_end_missing_silence_404(shared_server):
    st, b = shared_server.delete("/api/silences/999999999")
    assert_error(st, b, 404, "not_found")


def test_preview(shared_server):
    s = shared_server
    p = unique("prev")
    active = s.signal(kind="budget", key=f"budget:{p}:cost")["incident_id"]
    gone = s.signal(kind="budget", key=f"budget:{p}:quality")["incident_id"]
    s.signal(kind="budget", key=f"budget:{p}:quality", action="resolve")
    # manual keys are the caller's own (other kinds get their "<kind>:" prefix), so this
    # manual incident's key matches the glob while its kind does not
    other = s.signal(kind="manual", key=f"budget:{p}:latency")["incident_id"]
    q = urllib.parse.urlencode({"kind": "budget", "key_glob": f"budget:{p}:*"})
    st, b = s.get("/api/silences/preview?" + q)
    assert st == 200, b
    ids = [x["id"] for x in b["incidents"]]
    assert ids == [active], (ids, gone, other)
    item = b["incidents"][0]
    assert {"id", "kind", "key", "severity", "status", "summary"} <= set(item)
    keys = [k["key"] if isinstance(k, dict) else k for k in b["keys"]]
    assert set(keys) >= {f"budget:{p}:cost", f"budget:{p}:quality"}, b["keys"]
    assert f"budget:{p}:latency" not in keys, "the kind restricts the keys too"
    # without kind: all kinds match
    q = urllib.parse.urlencode({"key_glob": f"budget:{p}:*"})
    st, b = s.get("/api/silences/preview?" + q)
    assert sorted(x["id"] for x in b["incidents"]) == sorted([active, other])
    # preview changes nothing
    assert s.signal(kind="budget", key=f"budget:{p}:cost")["outcome"] == "deduplicated"


def test_preview_needs_key_glob(shared_server):
    st, b = shared_server.get("/api/silences/preview")
    assert_error(st, b, 400, "validation_failed", field="key_glob")


def test_expired_silence_stops_matching(shared_server):
    s = shared_server
    key = unique("short")
    ends = dt.datetime.now(dt.timezone.utc) + dt.timedelta(milliseconds=600)
    create(s, key_glob=key, ends_at=fmt_ts(ends))
    first = s.signal(key=key)
    if dt.datetime.now(dt.timezone.utc) < ends - dt.timedelta(milliseconds=100):
        assert first["outcome"] == "silenced"
    wait_for(lambda: s.signal(key=key)["outcome"] in ("created", "deduplicated"), timeout=3,
             msg="silence expiry")
