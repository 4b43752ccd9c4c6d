"""Webhook notifications end to end (SPEC §8.2, §5.3, §14; docs/webhooks.md).

A real server with `notify.webhooks` pointed at the stand-in receivers of
fakes/webhooks.py, which check what they get as the real receivers do (a signed-JSON
receiver, a Slack incoming webhook, the PagerDuty Events API v2). Each test has its own
server(s) and receivers and checks one promise of the feature:

  * json: every delivery is signed (HMAC-SHA256 of the raw body), names its event and
    its outbox row, and carries the event exactly as GET /api/events shows it; a
    webhook without a secret sends no signature;
  * slack: the messages' text, field by field, with incident text escaped so that it
    can neither mention anyone nor make a link;
  * pagerduty: trigger / acknowledge / resolve with the incident key as dedup_key, the
    severity mapping, and nothing for changes PagerDuty cannot act on;
  * filters: `events` and `min_severity`;
  * retries: 5xx, 429 with Retry-After and a reset connection are retried, and the
    rows of an incident stay in order behind a row being retried;
  * a non-retryable 4xx makes the row dead and holds the rows behind it until
    POST /api/outbox/{id}/retry;
  * isolation: a receiver that hangs delays neither another webhook nor the API;
  * durability: rows pending at a SIGTERM or a kill -9 are delivered after a restart,
    a repeated notification keeping its X-Intervene-Delivery;
  * metrics: intervene_outbox_deliveries_total, intervene_outbox_dead,
    intervene_outbox_pending.
"""

import hashlib
import hmac
import json
import re
import time

import pytest

from fakes.webhooks import JsonReceiver, PagerDutyReceiver, SlackReceiver
from harness import unique, wait_for

PUBLIC = "https://intervene.example.test"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
SECRET = "s3cret"
INCIDENT_EVENTS = ["incident_created", "incident_updated"]
ZWSP = "\u200b"


# --------------------------------------------------------------------------- helpers

@pytest.fixture
def receivers():
    """Factory of started receivers, stopped after the test (after its servers: request
    this fixture before make_server)."""
    made = []

    def factory(cls, **kw):
        rx = cls(**kw).start()
        made.append(rx)
        return rx

    yield factory
    for rx in made:
        rx.stop()


def hook(name, rx, fmt="json", events=None, **kw):
    h = {"name": name, "url": rx.url, "format": fmt,
         "events": list(INCIDENT_EVENTS if events is None else events)}
    if fmt == "pagerduty":
        h["routing_key"] = ROUTING_KEY
    h.update(kw)
    return h


def webhook_config(*hooks, public_url=PUBLIC):
    return {"server": {"public_url": public_url}, "notify": {"webhooks": list(hooks)}}


def outbox(s, **params):
    """The outbox rows matching params (GET /api/outbox), oldest first."""
    q = "&".join(f"{k}={v}" for k, v in params.items())
    st, b = s.get("/api/outbox?per_page=200" + ("&" + q if q else ""))
    assert st == 200, (st, b)
    assert b["total"] <= 200, b["total"]
    return sorted(b["outbox"], key=lambda r: r["id"])


def rows_of(s, target, **params):
    return [r for r in outbox(s, **params) if r["target"] == target]


def waited(cond, timeout, msg, explain):
    """wait_for(cond), naming explain() (the state at the end) when it times out."""
    try:
        return wait_for(cond, timeout=timeout, msg=msg)
    except AssertionError as e:
        raise AssertionError(f"{e}; now: {explain()}") from None


def settle(s, timeout=10.0):
    """Wait until no outbox row is pending or uncertain (a receiver sees a delivery a
    moment before the server records its outcome); → every row."""
    def all_settled():
        rows = outbox(s)
        return all(r["status"] in ("done", "dead") for r in rows) and rows
    return waited(all_settled, timeout, "every outbox row done or dead",
                  lambda: [(r["id"], r["target"], r["status"], r["attempts"], r["last_error"])
                           for r in outbox(s)])


def incident_events(s, iid):
    """The incident's events as GET /api/events shows them, in id order."""
    return [e for e in s.all_events(incident_id=iid)
            if e["type"] in ("incident_created", "incident_updated")]


def delivered(rx):
    """Requests the receiver answered 2xx."""
    return [r for r in rx.requests if r.status is not None and 200 <= r.status < 300]


def seen(rx):
    return [(r.delivery, r.status, r.fault) for r in rx.requests]


def wait_delivered(rx, n, timeout=10.0):
    return waited(lambda: len(delivered(rx)) >= n and delivered(rx), timeout,
                  f"{n} deliveries answered 2xx by the {rx.kind} receiver", lambda: seen(rx))


def comment(s, iid, body):
    st, b = s.post(f"/api/incidents/{iid}/comments", {"body": body})
    assert st == 201, (st, b)
    return b


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(s):
    """{(name, frozenset of labels): value} of GET /metrics."""
    st, _, text = s.request("GET", "/metrics")
    assert st == 200, (st, text)
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def deliveries_total(samples, target, result):
    return metric(samples, "intervene_outbox_deliveries_total", target=target, op="notify",
                  result=result) or 0


def first_success_order(requests):
    """Delivery ids in the order of their first 2xx answer."""
    seen = []
    for r in requests:
        if r.status is not None and 200 <= r.status < 300 and r.delivery not in seen:
            seen.append(r.delivery)
    return seen


# --------------------------------------------------------------------------- 1. json

def test_json_signed_body_is_the_event(receivers, make_server):
    rx = receivers(JsonReceiver, secret=SECRET)
    plain = receivers(JsonReceiver)  # no secret: it refuses nothing about signatures
    s = make_server(webhook_config(hook("j", rx, secret=SECRET), hook("u", plain)))

    key = unique("json")
    iid = s.new_incident(key=key, severity="sev2", summary="naïve café ✓ <b> & \"q\"",
                         details={"agent": "search-agent", "n": 3, "list": [1, None, True]})
    s.transition(iid, "acknowledge", {"notes": "on it"})
    comment(s, iid, "a comment")
    s.transition(iid, "resolve")

    got = rx.wait_for(4)
    plain_got = plain.wait_for(4)
    settle(s)
    events = incident_events(s, iid)
    assert [e["type"] for e in events] == ["incident_created"] + ["incident_updated"] * 3
    rows = {r["id"]: r for r in rows_of(s, "webhook:j", incident_id=iid)}
    assert len(rows) == 4, rows

    for r, ev in zip(got, events):
        # The receiver's own checks passed: signature, headers, body's type.
        assert r.status == 200, (r.status, r.error)
        assert r.method == "POST" and r.path == "/hook"
        # The signature recomputed here over the raw body bytes.
        assert r.headers["x-intervene-signature"] == sign(SECRET, r.body)
        assert r.headers["x-intervene-signature"] != sign("not-the-secret", r.body)
        assert r.headers["content-type"].split(";")[0].strip() == "application/json"
        assert r.headers.get("user-agent", "").startswith("intervene/")
        body = r.json
        assert r.headers["x-intervene-event"] == body["type"]
        # The body is the event exactly as GET /api/events shows it, as compact JSON
        # with sorted keys.
        assert body == ev
        assert (body["type"], body["incident_id"], body["data"]) == (ev["type"], iid, ev["data"])
        assert r.body == json.dumps(body, separators=(",", ":"), sort_keys=True,
                                    ensure_ascii=False).encode("utf-8")
        # X-Intervene-Delivery is the id of the outbox row of this event and webhook.
        row = rows[r.delivery]
        assert r.headers["x-intervene-delivery"] == str(row["id"])
        assert row["payload"]["event"]["id"] == ev["id"]
        assert (row["target"], row["op"], row["status"], row["attempts"]) == \
            ("webhook:j", "notify", "done", 1)
        assert [(c["n"], c["http_status"], c["error"]) for c in row["calls"]] == [(1, 200, None)]
    assert [r.json["data"].get("change_type") for r in got] == \
        [None, "acknowledged", "commented", "resolved"]

    # Without a secret: the same events, unsigned, under rows of their own.
    plain_rows = {r["id"]: r for r in rows_of(s, "webhook:u", incident_id=iid)}
    for r, ev in zip(plain_got, events):
        assert r.status == 200, (r.status, r.error)
        assert "x-intervene-signature" not in r.headers, r.headers
        assert r.headers["x-intervene-event"] == ev["type"]
        assert r.json == ev
        assert plain_rows[r.delivery]["payload"]["event"]["id"] == ev["id"]
    assert not set(plain_rows) & set(rows)


# --------------------------------------------------------------------------- 2. slack

# Incident text with everything Slack or Mattermost would turn into a mention or a link,
# and what docs/webhooks.md ("Escaping") promises it becomes.
SLACK_SUMMARY = ("Deploy <!channel> & @here: p95 > 2s <@U123> mail ops@example.com "
                 "[runbook](http://evil.test) <http://evil.test|click>")
SLACK_SUMMARY_ESC = ("Deploy &lt;!channel&gt; &amp; @" + ZWSP + "here: p95 &gt; 2s &lt;@" + ZWSP
                     + "U123&gt; mail ops@example.com [runbook]" + ZWSP + "(http://evil.test) "
                     "&lt;http://evil.test|click&gt;")
SLACK_NOTES = "on it @alice\nsecond line <!here>"
SLACK_NOTES_ESC = "on it @" + ZWSP + "alice second line &lt;!here&gt;"
SLACK_COMMENT = "ping @channel & <!everyone> & a>b"
SLACK_COMMENT_ESC = "ping @" + ZWSP + "channel &amp; &lt;!everyone&gt; &amp; a&gt;b"


def test_slack_messages_and_escaping(receivers, make_server):
    sr = receivers(SlackReceiver)
    s = make_server(webhook_config(hook("s", sr, "slack")))

    key = unique("slack")
    iid = s.new_incident(key=key, severity="sev2", summary=SLACK_SUMMARY)
    s.transition(iid, "acknowledge", {"notes": SLACK_NOTES})
    comment(s, iid, SLACK_COMMENT)
    s.transition(iid, "resolve")

    got = sr.wait_for(4)
    for r in got:
        assert r.status == 200, (r.status, r.error)  # Slack's own checks: fields, text
        assert set(r.json) == {"text"}, r.json
        assert "x-intervene-signature" not in r.headers
    events = incident_events(s, iid)
    actor = events[0]["actor"]
    rows = {r["id"]: r for r in rows_of(s, "webhook:s", incident_id=iid)}
    for r, ev in zip(got, events):
        assert r.headers["x-intervene-event"] == ev["type"]
        assert rows[r.delivery]["payload"]["event"]["id"] == ev["id"]

    link = f"<{PUBLIC}/incidents/{iid}|Open incident #{iid}>"

    def tail(status):
        return f"Status: *{status}* · Key: `{key}` · {link}"

    texts = [r.json["text"] for r in got]
    lines = [t.split("\n") for t in texts]
    # created: severity, number and summary, then status, key and link
    assert lines[0][0] == f":rotating_light: *[sev2] New incident #{iid}:* {SLACK_SUMMARY_ESC}"
    assert lines[0][-1] == tail("open")
    # acknowledged: who, the notes on one line
    assert lines[1][0] == f"*[sev2] Incident #{iid}:* {SLACK_SUMMARY_ESC}"
    assert lines[1][1] == f":eyes: Acknowledged by {actor}"
    assert lines[1][2] == f"> {SLACK_NOTES_ESC}"
    assert lines[1][-1] == tail("acknowledged")
    # the comment
    assert lines[2][0] == f"*[sev2] Incident #{iid}:* {SLACK_SUMMARY_ESC}"
    assert lines[2][1] == f":speech_balloon: Comment by {actor}: {SLACK_COMMENT_ESC}"
    assert lines[2][-1] == tail("acknowledged")
    # resolved
    assert lines[3][0] == f"*[sev2] Incident #{iid}:* {SLACK_SUMMARY_ESC}"
    assert lines[3][1] == f":white_check_mark: Resolved by {actor}"
    assert lines[3][-1] == tail("resolved")
    assert [len(x) for x in lines] == [2, 4, 3, 3], texts

    for t in texts:
        # The only Slack control sequence is the template's own link to the incident.
        assert t.count("<") == 1 and t.count(">") == 1 + t.count("\n> "), t
        assert "<!" not in t and "<@" not in t and "<http://evil" not in t
        assert re.search(r"(?<![\w])@(?!" + ZWSP + r")", t) is None, t
        assert "](" not in t
        assert "ops@example.com" in t  # an @ inside a word is left alone


# --------------------------------------------------------------------------- 3. pagerduty

def test_pagerduty_trigger_acknowledge_resolve(receivers, make_server):
    pr = receivers(PagerDutyReceiver)
    s = make_server(webhook_config(hook("p", pr, "pagerduty")))

    key = unique("pd")
    summary = "search-agent p95 latency 2140 ms over budget 1600 ms"
    details = {"agent": "search-agent", "threshold": 1600, "actual": 2140}
    iid = s.new_incident(key=key, severity="sev1", summary=summary, details=details)
    st, b = s.post(f"/api/incidents/{iid}/assign", {"assigned_to": "alice"})
    assert st == 200, (st, b)
    comment(s, iid, "looking")
    s.transition(iid, "acknowledge", {"notes": "mine"})
    s.transition(iid, "mitigate")
    s.transition(iid, "resolve")
    s.transition(iid, "close")

    got = pr.wait_for(4)
    settle(s)
    for r in got:
        assert r.status == 202, (r.status, r.error)  # PagerDuty's own checks
        assert r.path == "/v2/enqueue"
        assert "x-intervene-signature" not in r.headers
    created = incident_events(s, iid)[0]
    assert created["type"] == "incident_created"
    assert got[0].json == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": f"[sev1] {summary}",
            "severity": "critical",
            "source": "intervene",
            "timestamp": created["created_at"],
            "class": "manual",
            "custom_details": {"id": iid, "kind": "manual", "key": key, "status": "open",
                               "details": details},
        },
        "links": [{"href": f"{PUBLIC}/incidents/{iid}", "text": f"Incident #{iid} in intervene"}],
        "client": "intervene",
        "client_url": PUBLIC,
    }
    # acknowledged → acknowledge; resolved and closed → resolve; the assignment, the
    # comment and the mitigation are not sent.
    only = {"routing_key": ROUTING_KEY, "dedup_key": key}
    assert [r.json for r in got[1:]] == [dict(only, event_action="acknowledge"),
                                         dict(only, event_action="resolve"),
                                         dict(only, event_action="resolve")]
    assert [r.headers["x-intervene-event"] for r in got] == \
        ["incident_created"] + ["incident_updated"] * 3
    rows = rows_of(s, "webhook:p", incident_id=iid)
    assert [r.delivery for r in got] == [r["id"] for r in rows]
    assert [r["payload"]["event"]["data"].get("change_type") for r in rows] == \
        [None, "acknowledged", "resolved", "closed"]
    assert all(r["status"] == "done" for r in rows), rows
    alert = pr.alerts[key]
    assert alert["status"] == "resolved", alert
    assert alert["actions"] == ["trigger", "acknowledge", "resolve"], alert
    assert alert["severity"] == "critical"

    # The severity mapping: sev2 error, sev3 warning, sev4 info.
    keys = {}
    for sev in ("sev2", "sev3", "sev4"):
        k = unique(sev)
        keys[k] = (sev, s.new_incident(key=k, severity=sev, summary=f"a {sev} problem"))
    more = pr.wait_for(7)[4:]
    assert len(pr.requests) == 7, pr.requests
    want = {"sev2": "error", "sev3": "warning", "sev4": "info"}
    for r in more:
        ev = r.json
        sev, _ = keys[ev["dedup_key"]]
        assert r.status == 202, (r.status, r.error)
        assert ev["event_action"] == "trigger"
        assert ev["payload"]["severity"] == want[sev]
        assert ev["payload"]["summary"] == f"[{sev}] a {sev} problem"
        assert pr.alerts[ev["dedup_key"]]["status"] == "triggered"
    assert {r.json["dedup_key"] for r in more} == set(keys)


# --------------------------------------------------------------------------- 4. filters

def test_event_types_and_min_severity_filter(receivers, make_server):
    created_only = receivers(JsonReceiver)
    sev2_up = receivers(JsonReceiver)
    nothing = receivers(JsonReceiver)
    s = make_server(webhook_config(
        hook("created-only", created_only, events=["incident_created"]),
        hook("sev2-up", sev2_up, min_severity="sev2"),
        hook("nothing", nothing, events=[])))

    a = s.new_incident(severity="sev3", summary="a sev3 problem")
    s.transition(a, "acknowledge")
    b = s.new_incident(severity="sev1", summary="a sev1 problem")
    s.transition(b, "acknowledge")
    c = s.new_incident(severity="sev2", summary="a sev2 problem")
    d = s.new_incident(severity="sev4", summary="a sev4 problem")
    s.transition(d, "acknowledge")

    # Each lane delivers its rows in id order, so once the last wanted event arrived
    # an unwanted one queued before it would have arrived too.
    got = created_only.wait_for(4)
    assert [(r.json["type"], r.json["incident_id"]) for r in got] == \
        [("incident_created", i) for i in (a, b, c, d)]
    got = sev2_up.wait_for(3)
    assert [(r.json["type"], r.json["incident_id"]) for r in got] == \
        [("incident_created", b), ("incident_updated", b), ("incident_created", c)]
    assert all(r.status == 200 for r in created_only.requests + sev2_up.requests)

    # Nothing else was queued for them: filtering happens when rows are queued.
    rows = settle(s)
    assert {r["target"] for r in rows} == {"webhook:created-only", "webhook:sev2-up"}, rows
    assert sorted(r["incident_id"] for r in rows if r["target"] == "webhook:sev2-up") == \
        sorted([b, b, c])
    assert len([r for r in rows if r["target"] == "webhook:created-only"]) == 4
    assert all(r["status"] == "done" for r in rows), rows
    assert len(created_only.requests) == 4 and len(sev2_up.requests) == 3
    assert nothing.requests == []


def test_listed_events_about_no_incident_are_sent(receivers, make_server):
    """docs/webhooks.md, "Which events are sent": an event about no incident has no
    severity to compare and is sent wherever it is listed."""
    rx = receivers(JsonReceiver)
    sr = receivers(SlackReceiver)
    types = ["token_created", "silence_created", "signal_suppressed", "silence_ended",
             "incident_created"]
    s = make_server(webhook_config(hook("j", rx, events=types, min_severity="sev1"),
                                   hook("s", sr, "slack", events=types)))
    glob = unique("quiet")
    before = max([e["id"] for e in s.all_events()], default=0)  # the bootstrap token's
    assert before
    st, b = s.post("/api/tokens", {"name": unique("bot"), "role": "viewer"})
    assert st == 201, (st, b)
    st, sil = s.post("/api/silences", {"key_glob": glob + "*", "reason": "maintenance",
                                       "duration": "1h"})
    assert st == 201, (st, sil)
    assert s.signal(key=glob + "-1")["outcome"] == "silenced"
    st, b = s.delete(f"/api/silences/{sil['silence']['id']}")
    assert st == 200, (st, b)
    iid = s.new_incident(severity="sev1", summary="queued last")

    # Rows go out in id order: once the incident's arrived, the earlier ones had.
    wait_for(lambda: any(r.json["type"] == "incident_created" for r in rx.requests),
             timeout=5, msg="the incident's notification")
    sr.wait_for(1)
    settle(s)
    want = [e for e in s.all_events() if e["type"] in types and e["id"] > before]
    assert [e["type"] for e in want] == ["token_created", "silence_created",
                                         "signal_suppressed", "silence_ended",
                                         "incident_created"]
    # The bootstrap admin token's token_created (event `before`) went out first.
    assert rx.requests[0].json["id"] == before and rx.requests[0].json["type"] == "token_created"
    jr, sl = rx.requests[1:], sr.requests[1:]
    assert [r.json["type"] for r in jr] == [e["type"] for e in want]
    assert [r.json for r in jr] == want
    assert [r.headers["x-intervene-event"] for r in sl] == [e["type"] for e in want]
    assert all(r.status == 200 for r in rx.requests + sr.requests)
    assert sl[0].json["text"].startswith(":information_source: *token_created*")
    assert jr[-1].json["incident_id"] == iid


# --------------------------------------------------------------------------- 5. retries

def test_5xx_retried_with_backoff_and_order_kept(receivers, make_server):
    rx = receivers(JsonReceiver, secret=SECRET)
    s = make_server(webhook_config(hook("j", rx, secret=SECRET)))
    rx.fail_next(2, 500)

    a = s.new_incident(summary="first incident")
    s.transition(a, "acknowledge")
    comment(s, a, "behind the retried row")

    wait_delivered(rx, 3, timeout=10)
    settle(s)
    reqs = rx.requests
    assert len(reqs) == 5, reqs
    ev_a = incident_events(s, a)
    rows_a = rows_of(s, "webhook:j", incident_id=a)
    first = rows_a[0]
    assert first["payload"]["event"]["id"] == ev_a[0]["id"]

    tries = [r for r in reqs if r.delivery == first["id"]]
    assert [r.status for r in tries] == [500, 500, 200]
    assert len({r.body for r in tries}) == 1  # the same notification every time
    assert all(r.headers["x-intervene-signature"] == sign(SECRET, r.body) for r in tries)
    # backoff: 1 s, then 2 s (±20 % jitter)
    assert tries[1].time - tries[0].time >= 0.75, [r.time for r in tries]
    assert tries[2].time - tries[1].time >= 1.5, [r.time for r in tries]

    # The ledger: three calls, 500, 500, 200.
    row = rows_of(s, "webhook:j", incident_id=a)[0]
    assert (row["status"], row["attempts"], row["last_error"]) == ("done", 3, None)
    assert [(c["n"], c["http_status"]) for c in row["calls"]] == [(1, 500), (2, 500), (3, 200)]
    assert all("500" in c["error"] for c in row["calls"][:2]), row["calls"]
    assert row["calls"][2]["error"] is None

    # The later events arrived after the first was delivered, in order.
    assert first_success_order(reqs) == [r["id"] for r in rows_a]
    a_reqs = [r for r in reqs if r.json["incident_id"] == a]
    assert [r.json["id"] for r in a_reqs] == [ev_a[0]["id"]] * 3 + [e["id"] for e in ev_a[1:]]
    assert all(r.time >= tries[2].time for r in a_reqs[3:])


def test_429_retry_after_is_honoured(receivers, make_server):
    rx = receivers(JsonReceiver)
    s = make_server(webhook_config(hook("j", rx)))
    rx.fail_next(1, 429, headers={"Retry-After": "2"}, body={"error": "slow down"})

    iid = s.new_incident(summary="rate limited")
    wait_delivered(rx, 1, timeout=10)
    settle(s)
    first, second = rx.requests
    assert (first.status, second.status) == (429, 200)
    assert first.delivery == second.delivery
    # The backoff alone would be about 1 s; the receiver asked for 2.
    assert second.time - first.time >= 1.9, second.time - first.time
    row = rows_of(s, "webhook:j", incident_id=iid)[0]
    assert [c["http_status"] for c in row["calls"]] == [429, 200]
    assert "slow down" in row["calls"][0]["error"]
    assert row["status"] == "done"


def test_connection_reset_is_retried(receivers, make_server):
    rx = receivers(JsonReceiver)
    s = make_server(webhook_config(hook("j", rx)))
    rx.reset_next(1)

    iid = s.new_incident(summary="reset")
    wait_delivered(rx, 1, timeout=10)
    settle(s)
    first, second = rx.requests
    assert (first.fault, first.status, second.status) == ("reset", None, 200)
    assert first.delivery == second.delivery and first.body == second.body
    row = rows_of(s, "webhook:j", incident_id=iid)[0]
    assert row["status"] == "done" and row["attempts"] == 2
    assert row["calls"][0]["http_status"] is None and row["calls"][0]["error"], row["calls"]
    assert row["calls"][1]["http_status"] == 200


# --------------------------------------------------------------------------- 6. dead, retry

def test_non_retryable_4xx_is_dead_and_holds_the_rows_behind_it(receivers, make_server):
    rx = receivers(JsonReceiver)
    s = make_server(webhook_config(hook("j", rx)))
    rx.fail_next(1, 400, body={"error": "unknown channel XYZ-42"})

    a = s.new_incident(summary="goes dead first")
    s.transition(a, "acknowledge")
    comment(s, a, "waits behind the dead row")
    dead = wait_for(lambda: rows_of(s, "webhook:j", incident_id=a, status="dead"), timeout=5,
                    msg="a dead row")
    assert len(dead) == 1, dead
    d = dead[0]
    ev_a = incident_events(s, a)
    assert d["payload"]["event"]["id"] == ev_a[0]["id"]
    assert (d["op"], d["attempts"]) == ("notify", 1)
    assert "400" in d["last_error"] and "unknown channel XYZ-42" in d["last_error"], d
    assert [(c["n"], c["http_status"]) for c in d["calls"]] == [(1, 400)]
    assert "unknown channel XYZ-42" in d["calls"][0]["error"]

    # Another incident goes through; a's later rows stay pending, never tried.
    b = s.new_incident(summary="another incident")
    wait_delivered(rx, 1)
    assert [r.json["incident_id"] for r in delivered(rx)] == [b]
    behind = rows_of(s, "webhook:j", incident_id=a)[1:]
    assert len(behind) == 2
    assert all((r["status"], r["attempts"], r["calls"]) == ("pending", 0, []) for r in behind), \
        behind
    assert len(rx.requests) == 2

    # Only an admin re-queues, and only a dead row.
    viewer = s.create_token(unique("viewer"), "viewer")
    wait_for(lambda: s.get("/api/outbox", token=viewer)[0] == 200, timeout=3,
             msg="the new token accepted")
    st, body = s.post(f"/api/outbox/{d['id']}/retry", {}, token=viewer)
    assert st == 403, (st, body)
    st, body = s.post(f"/api/outbox/{behind[0]['id']}/retry", {})
    assert st == 409, (st, body)

    st, body = s.post(f"/api/outbox/{d['id']}/retry", {})
    assert st == 200, (st, body)
    assert body["outbox"]["id"] == d["id"] and body["outbox"]["status"] == "pending"

    wait_delivered(rx, 4)
    settle(s)
    assert first_success_order(rx.requests)[1:] == [d["id"]] + [r["id"] for r in behind]
    assert [r.json["id"] for r in delivered(rx)[1:]] == [e["id"] for e in ev_a]
    rows = rows_of(s, "webhook:j", incident_id=a)
    assert all(r["status"] == "done" for r in rows), rows
    assert [c["http_status"] for c in rows[0]["calls"]] == [400, 200]  # the ledger kept the 400
    assert outbox(s, status="dead") == []


# --------------------------------------------------------------------------- 7. isolation

def test_hanging_receiver_delays_nobody_else(receivers, make_server):
    slow = receivers(JsonReceiver)
    fast = receivers(JsonReceiver)
    s = make_server(webhook_config(hook("slow", slow), hook("fast", fast)))
    slow.hang(1)

    first = s.new_incident(summary="the slow receiver hangs on this one")
    slow.wait_for(1)
    fast.wait_for(1)
    assert slow.requests[0].fault == "hang"

    for i in range(3):
        t0 = time.time()
        st, b = s.post("/api/signals", {"kind": "manual", "key": unique("iso"),
                                        "summary": f"while it hangs {i}"}, timeout=5)
        assert st == 202 and b["outcome"] == "created", (st, b)
        assert time.time() - t0 < 1.0
        for path in ("/api/incidents", "/api/outbox", "/readyz", "/metrics"):
            t1 = time.time()
            st, _ = s.get(path, timeout=5)
            assert st == 200, (path, st)
            assert time.time() - t1 < 1.0, path
        # the other webhook gets the new incident at once
        got = fast.wait_for(2 + i, timeout=2.0)
        assert got[1 + i].json["incident_id"] == b["incident_id"]
        assert got[1 + i].time - t0 < 1.5
    assert all(r.status == 200 for r in fast.requests)
    assert len(slow.requests) == 1  # its lane waits on the hung call

    slow.release()  # the hung connection closes without an answer: retried
    wait_delivered(slow, 4, timeout=10)
    settle(s)
    rows = rows_of(s, "webhook:slow")
    assert len(rows) == 4 and all(r["status"] == "done" for r in rows), rows
    # every incident's notification arrived once, the hung one again under its id
    assert sorted(first_success_order(slow.requests)) == [r["id"] for r in rows]
    assert slow.requests[0].delivery == rows[0]["id"]
    assert rows[0]["payload"]["event"]["incident_id"] == first
    assert [c["http_status"] for c in rows[0]["calls"]] == [None, 200]
    assert rows[0]["calls"][0]["error"], rows[0]["calls"]


# --------------------------------------------------------------------------- 8. durability

def check_all_delivered(s, rx, iids):
    """Every incident event of iids reached rx answered 2xx, per incident in order, and
    each repeated notification kept its delivery id and its body."""
    events = {iid: incident_events(s, iid) for iid in iids}
    want = sum(len(v) for v in events.values())
    waited(lambda: len(set(r.delivery for r in delivered(rx))) >= want, 10,
           f"{want} notifications delivered", lambda: seen(rx))
    rows = {r["id"]: r for r in settle(s)}
    by_delivery = {}
    for r in rx.requests:
        assert r.delivery in rows, r.delivery
        assert r.json["id"] == rows[r.delivery]["payload"]["event"]["id"]
        by_delivery.setdefault(r.delivery, set()).add(r.body)
    # a repeated notification is the same one: same delivery id, same bytes
    assert all(len(bodies) == 1 for bodies in by_delivery.values()), by_delivery
    order = first_success_order(rx.requests)
    for iid, evs in events.items():
        got = [rows[d]["payload"]["event"]["id"] for d in order
               if rows[d]["incident_id"] == iid]
        assert got == [e["id"] for e in evs], (iid, got)  # none lost, none out of order
    assert all(r["status"] == "done" for r in rows.values()), rows
    return order


def test_pending_rows_survive_sigterm(receivers, make_server):
    rx = receivers(JsonReceiver, secret=SECRET)
    s = make_server(webhook_config(hook("j", rx, secret=SECRET)))
    rx.fail_next(1, 503)  # a's first row: retried after a backoff...
    rx.hang(1)  # ...while b's, sent meanwhile, hangs: a call is in flight at the stop

    a = s.new_incident(summary="pending at the stop")
    s.transition(a, "acknowledge")
    comment(s, a, "also pending")
    rx.wait_for(1)
    b = s.new_incident(summary="another")
    wait_for(lambda: any(r.fault == "hang" for r in rx.requests), timeout=5,
             msg="the hung call")
    pending = outbox(s, status="pending")
    assert len(pending) == 4, pending

    t0 = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - t0 < 5.0, "a hung webhook call held up the stop"
    rx.release()
    s.start()
    check_all_delivered(s, rx, [a, b])
    first = rows_of(s, "webhook:j", incident_id=a)[0]
    assert (rx.requests[0].delivery, rx.requests[0].status) == (first["id"], 503)
    assert (rx.requests[1].fault, rx.requests[1].status) == ("hang", None)
    for r in rx.requests:
        assert r.headers["x-intervene-signature"] == sign(SECRET, r.body)


def test_kill9_mid_call_redelivers_with_the_same_delivery_id(receivers, make_server):
    rx = receivers(JsonReceiver, secret=SECRET)
    s = make_server(webhook_config(hook("j", rx, secret=SECRET)))
    rx.hang(1)

    a = s.new_incident(summary="in flight at the crash")
    s.transition(a, "acknowledge")
    b = s.new_incident(summary="queued behind it")
    s.transition(b, "acknowledge")
    hung = rx.wait_for(1)[0]
    assert hung.fault == "hang"
    assert len(outbox(s, status="pending")) == 4

    s.kill9()
    rx.release()
    s.start()
    order = check_all_delivered(s, rx, [a, b])
    assert order[0] == hung.delivery
    again = [r for r in rx.requests if r.delivery == hung.delivery]
    assert len(again) == 2 and again[1].status == 200
    assert again[1].body == hung.body
    assert again[1].headers["x-intervene-signature"] == hung.headers["x-intervene-signature"]
    assert again[1].headers["x-intervene-delivery"] == hung.headers["x-intervene-delivery"]


# --------------------------------------------------------------------------- 9. metrics

def test_delivery_metrics(receivers, make_server):
    ok = receivers(JsonReceiver)
    bad = receivers(JsonReceiver)
    s = make_server(webhook_config(hook("ok", ok, events=["incident_created"]),
                                   hook("bad", bad, events=["incident_created"])))
    bad.fail_next(1, 500)  # the first incident: retried, then delivered
    bad.fail_next(1, 404, body={"error": "no such hook"})  # the second: dead

    a = s.new_incident(summary="retried")
    bad.wait_for(1)
    b = s.new_incident(summary="dead")
    ok.wait_for(2)
    wait_delivered(bad, 1)
    settle(s)
    dead = outbox(s, status="dead")
    assert [(r["incident_id"], r["target"]) for r in dead] == [(b, "webhook:bad")]
    assert delivered(bad)[0].json["incident_id"] == a

    want = {("webhook:ok", "delivered"): 2, ("webhook:ok", "retried"): 0,
            ("webhook:ok", "dead"): 0, ("webhook:bad", "delivered"): 1,
            ("webhook:bad", "retried"): 1, ("webhook:bad", "dead"): 1}

    def counts():
        m = metrics(s)
        return m, {k: deliveries_total(m, *k) for k in want}
    # the counters move right after the outcome is recorded
    wait_for(lambda: counts()[1] == want, timeout=5, msg=f"deliveries_total {want}")
    m, got = counts()
    assert got == want
    assert metric(m, "intervene_outbox_dead") == 1
    assert metric(m, "intervene_outbox_pending") == 0

    st, body = s.post(f"/api/outbox/{dead[0]['id']}/retry", {})
    assert st == 200, (st, body)
    wait_delivered(bad, 2)
    settle(s)
    want[("webhook:bad", "delivered")] = 2
    wait_for(lambda: counts()[1] == want, timeout=5, msg=f"deliveries_total {want}")
    m, got = counts()
    assert got == want  # the dead one stays counted as dead once
    assert metric(m, "intervene_outbox_dead") == 0
    assert metric(m, "intervene_outbox_pending") == 0
