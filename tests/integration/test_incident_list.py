"""GET /api/incidents (SPEC §5.1): lean items, filters, sort, paging, exact totals, 400s.
The module's server holds exactly the incidents made by the `data` fixture."""
import urllib.parse

import pytest

from harness import assert_error, parse_ts

LEAN = {"id", "kind", "key", "severity", "status", "summary", "assigned_to", "occurrences",
        "created_at", "updated_at", "issue_url", "sla"}

SPECS = [  # name, kind, key, severity, summary, transitions, assigned_to
    ("pii", "invariant", "invariant:inv_pii", "sev1", "Checkout PII leak", [], None),
    ("quality", "budget", "budget:agentx:quality", "sev2", "Quality dropped", ["acknowledge"], "alice"),
    ("canary", "planner", "planner:planner:v2", "sev2", "Canary regression", ["mitigate"], "bob"),
    ("db", "manual", "manual:db", "sev3", "Database slow", ["acknowledge", "resolve"], None),
    ("cache", "manual", "manual:cache", "sev4", "cache warm", ["mitigate", "close"], None),
    ("cost", "budget", "budget:agenty:cost", "sev1", "Cost overrun", [], "alice"),
]


@pytest.fixture(scope="module")
def data(shared_server):
    s = shared_server
    ids = {}
    for name, kind, key, sev, summary, verbs, who in SPECS:
        iid = s.signal(key=key, kind=kind, severity=sev, summary=summary)["incident_id"]
        for v in verbs:
            s.transition(iid, v)
        if who:
            s.transition(iid, "assign", {"assigned_to": who})
        ids[name] = iid
    return ids


def listing(s, query=""):
    st, b = s.get("/api/incidents" + ("?" + query if query else ""))
    assert st == 200, (query, b)
    for k in ("incidents", "total", "page", "per_page"):
        assert k in b, b
    return b


def names(data, b):
    rev = {v: k for k, v in data.items()}
    return [rev[x["id"]] for x in b["incidents"]]


def test_lean_items(shared_server, data):
    b = listing(shared_server)
    assert b["total"] == 6 and b["page"] == 1 and b["per_page"] == 50
    for item in b["incidents"]:
        assert LEAN <= set(item), f"lean item lacks {LEAN - set(item)}"
        assert "details" not in item and "notes" not in item, "list items are lean"
        parse_ts(item["created_at"])


def test_default_sort_created_desc(shared_server, data):
    b = listing(shared_server)
    assert names(data, b) == ["cost", "cache", "db", "canary", "quality", "pii"]


def test_sort_severity(shared_server, data):
    b = listing(shared_server, "sort=severity")
    assert names(data, b) == ["cost", "pii", "canary", "quality", "db", "cache"]
    b = listing(shared_server, "sort=created_at")
    assert names(data, b) == ["cost", "cache", "db", "canary", "quality", "pii"]


@pytest.mark.parametrize("query,want", [
    ("status=open", {"pii", "cost"}),
    ("status=open,acknowledged", {"pii", "quality", "cost"}),
    ("status=open&status=mitigated", {"pii", "canary", "cost"}),
    ("status=resolved", {"db"}),
    ("status=closed", {"cache"}),
    ("severity=sev1", {"pii", "cost"}),
    ("severity=sev2,sev4", {"quality", "canary", "cache"}),
    ("kind=budget", {"quality", "cost"}),
    ("kind=manual&kind=planner", {"canary", "db", "cache"}),
    ("assigned_to=alice", {"quality", "cost"}),
    ("assigned_to=alice,bob", {"quality", "canary", "cost"}),
    ("q=checkout", {"pii"}),
    ("q=PII", {"pii"}),
    ("q=BUDGET:AGENTX", {"quality"}),
    ("q=agenty", {"cost"}),
    ("q=nothing-like-this", set()),
    ("status=open&kind=budget", {"cost"}),
    ("severity=sev2&assigned_to=bob", {"canary"}),
])
def test_filters(shared_server, data, query, want):
    b = listing(shared_server, query)
    got = names(data, b)
    assert set(got) == want, (query, got)
    assert b["total"] == len(want)
    assert [x["id"] for x in b["incidents"]] == sorted((x["id"] for x in b["incidents"]), reverse=True)


def test_since(shared_server, data):
    s = shared_server
    created = {n: s.incident(i)["created_at"] for n, i in data.items()}
    since = created["db"]
    b = listing(s, "since=" + urllib.parse.quote(since))
    want = {n for n, c in created.items() if c >= since}
    assert set(names(data, b)) == want and b["total"] == len(want)
    b = listing(s, "since=" + urllib.parse.quote("2999-01-01T00:00:00.000Z"))
    assert b["incidents"] == [] and b["total"] == 0
    b = listing(s, "since=" + urllib.parse.quote("2000-01-01T00:00:00.000Z"))
    assert b["total"] == 6


def test_paging(shared_server, data):
    s = shared_server
    b1 = listing(s, "per_page=2")
    b2 = listing(s, "per_page=2&page=2")
    b3 = listing(s, "per_page=2&page=3")
    b4 = listing(s, "per_page=2&page=4")
    assert [b["total"] for b in (b1, b2, b3, b4)] == [6, 6, 6, 6]
    assert b2["page"] == 2 and b2["per_page"] == 2
    assert names(data, b1) + names(data, b2) + names(data, b3) == \
        ["cost", "cache", "db", "canary", "quality", "pii"]
    assert b4["incidents"] == []
    b = listing(s, "per_page=200")
    assert len(b["incidents"]) == 6
    b = listing(s, "per_page=1&status=open")
    assert b["total"] == 2 and len(b["incidents"]) == 1


@pytest.mark.parametrize("query,field", [
    ("status=bogus", "status"), ("status=open,bogus", "status"), ("severity=sev0", "severity"),
    ("severity=high", "severity"), ("kind=alerts", "kind"), ("page=0", "page"), ("page=-1", "page"),
    ("page=abc", "page"), ("per_page=0", "per_page"), ("per_page=201", "per_page"),
    ("per_page=x", "per_page"), ("sort=priority", "sort"), ("since=yesterday", "since"),
    ("since=2026-13-45T99:00:00.000Z", "since"),
])
def test_invalid_filters(shared_server, data, query, field):
    st, b = shared_server.get("/api/incidents?" + query)
    assert_error(st, b, 400, "validation_failed", field=field)
