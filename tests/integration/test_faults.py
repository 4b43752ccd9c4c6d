"""Commit faults through the real server (issue 7, point 2).

For every write route, and for each failure point of its write job — every prepare and
step it makes, its SAVEPOINT and RELEASE, the batch's BEGIN and COMMIT — with the
database answering FULL, IOERR or BUSY (and, for some, dropping the transaction as
SQLite may on a real disk error), the test checks:

  * the client gets 503 storage_unavailable (or the job's own error), never a 2xx;
  * no event is recorded for a change that was not stored;
  * the change is not there, and the server then serves the same request normally;
  * after a restart, every change that was answered 2xx is there, the failed ones are
    not, and `audit verify` passes.

It needs a build with -Dfault_injection=true (tools/test.sh builds its sanitizer pass
so), whose /api/debug/faults routes arm the store's fault injection (store/fault.h);
other builds skip it. Each route gets a fresh server that lives well under a minute, so
no retention round (a write job of its own) runs while a fault is armed; before each
arming the test waits until /readyz is 200, so the readiness probe (which writes only
while the pool is unhealthy) does not run either.
"""

import itertools

import pytest

from harness import unique, wait_for

OPS = ["begin", "savepoint", "prepare", "step", "release", "commit"]
ERRORS = ["full", "ioerr", "busy"]


def fault_build(srv):
    st, _ = srv.get("/api/debug/faults")
    return st == 200


def arm(srv, **plan):
    wait_for(lambda: srv.get("/readyz")[0] == 200, timeout=5.0, msg="a healthy pool")
    st, b = srv.post("/api/debug/faults", dict(plan, writer_only=True))
    assert st == 200, b


def disarm(srv):
    st, b = srv.delete("/api/debug/faults")
    assert st == 200, b
    return b


def last_event_id(srv):
    evs = srv.all_events()
    return evs[-1]["id"] if evs else 0


# ---- the write routes: each scenario makes one fresh change and can tell whether
# ---- that change is stored. setup() runs once per server; do(tag) returns (status,
# ---- body); present(tag) says whether the change of tag is in the store.

class Scenario:
    name = ""

    def setup(self, srv):
        pass

    def pre(self, srv, tag):
        """What the change of tag needs first (runs before the fault is armed)."""

    def do(self, srv, tag):
        raise NotImplementedError

    def present(self, srv, tag):
        raise NotImplementedError


def total(srv, query):
    st, b = srv.get("/api/incidents?" + query)
    assert st == 200, b
    return b["total"]


class SignalNew(Scenario):
    name = "POST /api/signals (new)"

    def do(self, srv, tag):
        return srv.post("/api/signals", {"kind": "manual", "key": tag, "summary": "fault"})

    def present(self, srv, tag):
        return total(srv, f"q={tag}") == 1


class SignalDedup(Scenario):
    name = "POST /api/signals (dedup)"

    def setup(self, srv):
        self.key = unique("dedup")
        srv.signal(key=self.key)
        self.iid = srv.get(f"/api/incidents?q={self.key}")[1]["incidents"][0]["id"]
        self.seen = {}

    def do(self, srv, tag):
        before = srv.incident(self.iid)["occurrences"]
        st, b = srv.post("/api/signals", {"kind": "manual", "key": self.key, "summary": tag})
        self.seen[tag] = before
        return st, b

    def present(self, srv, tag):
        # the dedup event carries the signal's summary
        evs = srv.all_events(incident_id=self.iid)
        return any(e["data"].get("signal", {}).get("summary") == tag for e in evs)


class SignalBatch(Scenario):
    name = "POST /api/signals (batch)"

    def do(self, srv, tag):
        return srv.post("/api/signals", [{"kind": "manual", "key": f"{tag}-{i}", "summary": "b"}
                                         for i in range(3)])

    def present(self, srv, tag):
        n = total(srv, f"q={tag}-")
        assert n in (0, 3), f"a batch was stored in part: {n} of 3"
        return n == 3


class Alertmanager(Scenario):
    name = "POST /api/integrations/alertmanager"

    def do(self, srv, tag):
        alerts = [{"status": "firing", "labels": {"alertname": f"{tag}-{i}"},
                   "fingerprint": "%016x" % i} for i in range(3)]
        return srv.post("/api/integrations/alertmanager", {"version": "4", "alerts": alerts})

    def present(self, srv, tag):
        n = total(srv, f"kind=alert&q={tag}-")
        assert n in (0, 3), f"a notification was stored in part: {n} of 3"
        return n == 3


class Declare(Scenario):
    name = "POST /api/incidents (Idempotency-Key)"

    def do(self, srv, tag):
        st, _, b = srv.request("POST", "/api/incidents", {"summary": tag, "key": tag},
                               headers={"Idempotency-Key": tag})
        return st, b

    def present(self, srv, tag):
        return total(srv, f"q={tag}") == 1


class OnIncident(Scenario):
    def setup(self, srv):
        self.iid = srv.new_incident()


class Patch(OnIncident):
    name = "PATCH /api/incidents/{id}"

    def do(self, srv, tag):
        return srv.patch(f"/api/incidents/{self.iid}", {"metadata": {tag: 1}})

    def present(self, srv, tag):
        return tag in srv.incident(self.iid)["metadata"]


class Verb(Scenario):
    name = "POST /api/incidents/{id}/acknowledge"

    def setup(self, srv):
        self.ids = {}

    def pre(self, srv, tag):
        self.ids[tag] = srv.new_incident(key=tag)

    def do(self, srv, tag):
        return srv.post(f"/api/incidents/{self.ids[tag]}/acknowledge", {"notes": tag})

    def present(self, srv, tag):
        inc = srv.get(f"/api/incidents?q={tag}")[1]["incidents"][0]
        return inc["status"] == "acknowledged"


class Assign(OnIncident):
    name = "POST /api/incidents/{id}/assign"

    def do(self, srv, tag):
        return srv.post(f"/api/incidents/{self.iid}/assign", {"assigned_to": tag})

    def present(self, srv, tag):
        evs = srv.all_events(incident_id=self.iid)
        return any(e["data"].get("change_type") == "assigned"
                   and e["data"]["incident"].get("assigned_to") == tag for e in evs)


class Comment(OnIncident):
    name = "POST /api/incidents/{id}/comments"

    def do(self, srv, tag):
        return srv.post(f"/api/incidents/{self.iid}/comments", {"body": tag})

    def present(self, srv, tag):
        st, b = srv.get(f"/api/incidents/{self.iid}/comments?per_page=200")
        return any(c["body"] == tag for c in b["comments"])


class Silence(Scenario):
    name = "POST /api/silences"

    def do(self, srv, tag):
        return srv.post("/api/silences", {"key_glob": f"{tag}*", "reason": tag, "duration": "1h"})

    def present(self, srv, tag):
        st, b = srv.get("/api/silences?all=true&per_page=200")
        return any(s["reason"] == tag for s in b["silences"])


class SilenceEnd(Scenario):
    name = "DELETE /api/silences/{id}"

    def setup(self, srv):
        self.ids = {}

    def pre(self, srv, tag):
        st, b = srv.post("/api/silences", {"key_glob": f"{tag}*", "reason": tag, "duration": "1h"})
        assert st == 201, b
        self.ids[tag] = b["silence"]["id"]

    def do(self, srv, tag):
        return srv.delete(f"/api/silences/{self.ids[tag]}")

    def present(self, srv, tag):
        st, b = srv.get("/api/silences?per_page=200")
        return all(s["id"] != self.ids[tag] for s in b["silences"])


class TokenCreate(Scenario):
    name = "POST /api/tokens"

    def do(self, srv, tag):
        return srv.post("/api/tokens", {"name": tag, "role": "viewer"})

    def present(self, srv, tag):
        st, b = srv.get("/api/tokens?per_page=200")
        return any(t["name"] == tag for t in b["tokens"])


class Session(Scenario):
    name = "POST /api/session"

    def setup(self, srv):
        self.cookies = {}

    def do(self, srv, tag):
        st, h, b = srv.request("POST", "/api/session", {"token": srv.token}, token=None)
        if st == 200:
            self.cookies[tag] = h["set-cookie"].split(";")[0]
        else:
            assert "set-cookie" not in h, "a failed sign-in set a cookie"
        return st, b

    def present(self, srv, tag):
        cookie = self.cookies.get(tag)
        return cookie is not None and srv.request(
            "GET", "/api/session", token=None, headers={"Cookie": cookie})[0] == 200


SCENARIOS = [SignalNew, SignalDedup, SignalBatch, Alertmanager, Declare, Patch, Verb, Assign, Comment,
             Silence, SilenceEnd, TokenCreate, Session]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_commit_faults(make_server, scenario):
    srv = make_server()
    if not fault_build(srv):
        pytest.skip("needs a build with -Dfault_injection=true (tools/test.sh's sanitizer pass)")
    sc = scenario()
    sc.setup(srv)

    # Measure what one request does on the writer (the first one also prepares).
    warm, measure = unique("warm"), unique("measure")
    sc.pre(srv, warm)
    sc.do(srv, warm)
    sc.pre(srv, measure)
    arm(srv, op="step", error="none")
    st, b = sc.do(srv, measure)
    counts = disarm(srv)["calls"]
    assert 200 <= st < 300, b
    assert counts["savepoint"] >= 1 and counts["commit"] >= 1, counts

    acked, refused = [], []
    errors = itertools.cycle(ERRORS)
    for op in OPS:
        for n in range(1, counts[op] + 1):
            for lose in ([False, True] if op in ("step", "release") and n == 1 else [False]):
                error = next(errors)
                if lose and error == "busy":
                    error = "full"
                tag = unique("f")
                wait_for(lambda: srv.get("/readyz")[0] == 200, timeout=5.0, msg="healthy")
                sc.pre(srv, tag)
                before = last_event_id(srv)
                arm(srv, op=op, error=error, nth=n, lose_txn=lose)
                st, b = sc.do(srv, tag)
                injected = disarm(srv)["injected"]
                where = f"{sc.name}: {op} #{n} {error}{' (transaction lost)' if lose else ''}"
                if injected == 0:
                    # this request took another path (nothing failed): it must have worked
                    assert 200 <= st < 300, f"{where}: nothing injected but {st} {b}"
                    acked.append(tag)
                    continue
                assert not 200 <= st < 300, f"{where}: a fault was injected but the reply was {st} {b}"
                assert isinstance(b, dict) and b["error"]["code"] != "internal", f"{where}: {b}"
                if st == 503:
                    assert b["error"]["code"] == "storage_unavailable", f"{where}: {b}"
                refused.append(tag)
                wait_for(lambda: srv.get("/readyz")[0] == 200, timeout=5.0,
                         msg=f"{where}: /readyz recovering")
                new = [e for e in srv.all_events() if e["id"] > before]
                assert not new, f"{where}: events recorded for a change that was not stored: {new}"
                assert not sc.present(srv, tag), f"{where}: the change is there"
    assert refused, f"{sc.name}: no fault was ever injected"

    # The same request works again once nothing fails.
    tag = unique("after")
    sc.pre(srv, tag)
    st, b = sc.do(srv, tag)
    assert 200 <= st < 300, b
    acked.append(tag)

    # Durable: after a restart, what was acknowledged is there, the rest is not.
    srv.restart()
    for tag in acked:
        assert sc.present(srv, tag), f"{sc.name}: {tag} was answered 2xx but is gone"
    for tag in refused:
        assert not sc.present(srv, tag), f"{sc.name}: {tag} failed but is stored"
    r = srv.cli("audit", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
