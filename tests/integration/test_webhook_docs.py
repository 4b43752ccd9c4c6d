"""docs/webhooks.md: its signature-verification snippets (Python and shell) run against a
body signed here, and its example bodies are accepted by the stand-in receivers of
fakes/webhooks.py — whose own behaviour (checks, faults, controls, script mode) is
tested here too, since other tests rely on it. No intervene server is needed."""
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from fakes.webhooks import JsonReceiver, PagerDutyReceiver, SlackReceiver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "webhooks.md")
SCRIPT = os.path.join(ROOT, "tests", "integration", "fakes", "webhooks.py")

# The body and signature tests/unit/test_webhook.c (test_json_signed) checks that
# webhook_build produces: the snippets must accept exactly what intervene sends.
SECRET = b"s3cret"
BODY = (b'{"actor":"admin","created_at":"2026-01-02T03:04:05.678Z","data":{"name":"ci",'
        b'"role":"viewer"},"id":41,"incident_id":null,"type":"token_created"}')
SIGNATURE = "sha256=9ffaf15c78ab03dbf74c59f246c330691945f5e5ba3e1328bc954b114dc3241f"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"


def doc_blocks(marker, name=None):
    """Fenced blocks that follow `<!-- marker: name -->` lines in docs/webhooks.md."""
    text = open(DOC, encoding="utf-8").read()
    pat = re.compile(r"<!-- " + marker + r": ([\w-]+) -->\n```\w*\n(.*?)\n```", re.S)
    return [body for n, body in pat.findall(text) if name is None or n == name]


def sign(secret, body):
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def post(url, body, headers=None, timeout=10):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


# --------------------------------------------------------------------------- snippets

def test_signed_vector_is_hmac_sha256():
    assert sign(SECRET, BODY) == SIGNATURE


def python_verify():
    (snippet,) = doc_blocks("snippet", "verify-python")
    ns = {}
    exec(compile(snippet, "docs/webhooks.md:verify-python", "exec"), ns)
    return ns["verify"]


def test_python_snippet_verifies():
    verify = python_verify()
    assert verify(SECRET, BODY, SIGNATURE) is True
    assert verify(SECRET, BODY + b" ", SIGNATURE) is False
    assert verify(SECRET, BODY.replace(b"viewer", b"admin"), SIGNATURE) is False
    assert verify(b"another", BODY, SIGNATURE) is False
    assert verify(SECRET, BODY, SIGNATURE.replace("sha256=", "sha1=")) is False
    assert verify(SECRET, BODY, "") is False
    body = json.dumps({"type": "incident_created", "data": {"summary": "é <b> & \"q\""}},
                      ensure_ascii=False).encode()
    assert verify(b"k" * 100, body, sign(b"k" * 100, body)) is True


def run_shell(tmp_path, secret, body, signature):
    (snippet,) = doc_blocks("snippet", "verify-shell")
    (tmp_path / "body.json").write_bytes(body)
    env = dict(os.environ, WEBHOOK_SECRET=secret, SIGNATURE=signature)
    return subprocess.run(["bash", "-c", snippet], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=30)


def test_shell_snippet_verifies(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: the shell snippet needs it")
    r = run_shell(tmp_path, SECRET.decode(), BODY, SIGNATURE)
    assert (r.returncode, r.stdout) == (0, "signature ok\n"), r.stderr
    r = run_shell(tmp_path, SECRET.decode(), BODY + b"\n", SIGNATURE)
    assert (r.returncode, r.stdout) == (1, "signature BAD\n"), r.stderr
    r = run_shell(tmp_path, "wrong", BODY, SIGNATURE)
    assert (r.returncode, r.stdout) == (1, "signature BAD\n"), r.stderr


# --------------------------------------------------------------------------- examples

def test_json_example_accepted():
    (example,) = doc_blocks("example", "json")
    body = example.encode()
    event = json.loads(body)
    with JsonReceiver(secret="s3cret") as rx:
        h = {"X-Intervene-Event": event["type"], "X-Intervene-Delivery": "12",
             "X-Intervene-Signature": sign(b"s3cret", body)}
        status, answer, _ = post(rx.url, body, h)
        assert status == 200, answer
        assert python_verify()(b"s3cret", rx.requests[0].body, h["X-Intervene-Signature"])


def test_slack_examples_accepted():
    examples = doc_blocks("example", "slack")
    assert len(examples) == 2
    with SlackReceiver() as rx:
        for ex in examples:
            status, answer, headers = post(rx.url, ex.encode())
            assert (status, answer) == (200, b"ok")
            assert headers["Content-Type"].startswith("text/html")
        first = rx.messages[0]
    # SPEC §8.2: severity, summary, status, key and the incident link
    for part in ("[sev2]", "search-agent p95 latency", "*open*", "`budget:search-agent:",
                 "<https://intervene.example.com/incidents/7|"):
        assert part in first


def test_pagerduty_examples_accepted_in_order():
    examples = [json.loads(e) for e in doc_blocks("example", "pagerduty")]
    assert [e["event_action"] for e in examples] == ["trigger", "acknowledge", "resolve"]
    with PagerDutyReceiver() as rx:
        for ex in examples:
            status, answer, _ = post(rx.url, ex)
            assert status == 202, answer
            assert json.loads(answer) == {"status": "success", "message": "Event processed",
                                          "dedup_key": ex["dedup_key"]}
        alert = rx.alerts["budget:search-agent:latency_p95"]
        assert alert["status"] == "resolved"
        assert alert["actions"] == ["trigger", "acknowledge", "resolve"]
        assert alert["severity"] == "error"


# --------------------------------------------------------------------------- receivers

def json_headers(body, secret=b"s3cret", event="incident_created", delivery="5"):
    return {"X-Intervene-Event": event, "X-Intervene-Delivery": delivery,
            "X-Intervene-Signature": sign(secret, body)}


def test_json_receiver_checks():
    body = b'{"type":"incident_created","id":1}'
    with JsonReceiver(secret="s3cret") as rx:
        assert post(rx.url, body, json_headers(body))[0] == 200
        assert post(rx.url, body, json_headers(body, secret=b"other"))[0] == 401
        h = json_headers(body)
        del h["X-Intervene-Signature"]
        assert post(rx.url, body, h)[0] == 401
        h = json_headers(body)
        del h["X-Intervene-Delivery"]
        assert post(rx.url, body, h)[0] == 400
        h = json_headers(body)
        del h["X-Intervene-Event"]
        assert post(rx.url, body, h)[0] == 400
        assert post(rx.url, body, json_headers(body, event="incident_updated"))[0] == 400
        assert post(rx.url, body, dict(json_headers(body), **{"Content-Type": "text/plain"}))[0] == 415
        assert post(rx.url, b"[1]", json_headers(b"[1]"))[0] == 400
        got = rx.wait_for(8)
        assert [r.status for r in got] == [200, 401, 401, 400, 400, 400, 415, 400]
        assert got[0].json == {"type": "incident_created", "id": 1}
        assert got[0].headers["x-intervene-delivery"] == "5"
        assert rx.deliveries[:3] == [5, 5, 5]
        assert got[1].error and "invalid signature" in got[1].error
    with JsonReceiver() as rx:  # no secret: signatures are not looked at
        assert post(rx.url, body, {"X-Intervene-Event": "incident_created",
                                   "X-Intervene-Delivery": "9"})[0] == 200


def test_slack_receiver_checks():
    with SlackReceiver() as rx:
        cases = [
            ({"text": "hi", "mrkdwn": True, "username": "intervene"}, 200, b"ok"),
            ({"text": ""}, 400, b"no_text"),
            ({"text": None}, 400, b"no_text"),
            ({"blocks": []}, 400, b"no_text"),
            ({"text": "hi", "nope": 1}, 400, b"invalid_payload"),
            (["text"], 400, b"invalid_payload"),
            (b"text=hi", 400, b"invalid_payload"),
        ]
        for body, status, answer in cases:
            got = post(rx.url, body)
            assert got[:2] == (status, answer), body
        assert rx.messages == ["hi"]


def pd_event(**over):
    ev = {"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "k",
          "payload": {"summary": "s", "source": "intervene", "severity": "critical"}}
    ev.update(over)
    return ev


@pytest.mark.parametrize("event,error", [
    (pd_event(routing_key="short"), "Length of 'routing_key' is incorrect"),
    (pd_event(event_action="escalate"), "'event_action' is invalid"),
    (pd_event(dedup_key="x" * 256), "at most 255"),
    (pd_event(event_action="resolve", dedup_key=None), "'dedup_key' is missing"),
    (pd_event(payload=None), "'payload' is missing"),
    (pd_event(payload={"summary": "x" * 1025, "source": "s", "severity": "info"}), "1024"),
    (pd_event(payload={"summary": "s", "source": "", "severity": "info"}), "payload.source"),
    (pd_event(payload={"summary": "s", "source": "s", "severity": "sev1"}), "payload.severity"),
    (pd_event(payload={"summary": "s", "source": "s", "severity": "info",
                       "timestamp": "yesterday"}), "ISO 8601"),
    (pd_event(payload={"summary": "s", "source": "s", "severity": "info",
                       "custom_details": []}), "custom_details"),
    (pd_event(links=[{"text": "no href"}]), "'href'"),
    (pd_event(extra=1), "Unknown field"),
])
def test_pagerduty_receiver_refuses(event, error):
    event = {k: v for k, v in event.items() if v is not None}
    with PagerDutyReceiver() as rx:
        status, answer, _ = post(rx.url, event)
        assert status == 400
        doc = json.loads(answer)
        assert doc["status"] == "invalid event" and doc["message"] == "Event object is invalid"
        assert any(error in e for e in doc["errors"]), doc
        assert rx.alerts == {}


def test_pagerduty_receiver_paths_and_lifecycle():
    with PagerDutyReceiver() as rx:
        assert post(rx.base_url + "/v2/other", pd_event())[0] == 404
        assert post(rx.url, b"{not json")[0] == 400
        # acknowledge for no open alert: accepted and dropped
        assert post(rx.url, pd_event(event_action="acknowledge", payload=None,
                                     dedup_key="none"))[0] == 202
        assert rx.alerts == {}
        # a trigger without dedup_key gets one
        status, answer, _ = post(rx.url, {k: v for k, v in pd_event().items()
                                          if k != "dedup_key"})
        assert status == 202 and len(json.loads(answer)["dedup_key"]) == 32
        # after a resolve, a trigger with the same key opens a new alert
        for action in ("trigger", "resolve", "trigger"):
            ev = pd_event(event_action=action)
            if action != "trigger":
                del ev["payload"]
            assert post(rx.url, ev)[0] == 202
        assert rx.alerts["k"] == {"status": "triggered", "actions": ["trigger"],
                                  "summary": "s", "severity": "critical"}
        rx.clear()
        assert rx.alerts == {} and rx.requests == []


def test_faults_in_process():
    body = b'{"type":"incident_created"}'
    with JsonReceiver() as rx:
        h = {"X-Intervene-Event": "incident_created", "X-Intervene-Delivery": "1"}
        rx.fail_next(2, 503, headers={"Retry-After": "4"}, body={"error": "busy"})
        rx.reset_next(1)
        rx.fail_next(1, 400, body="plain words")
        status, answer, headers = post(rx.url, body, h)
        assert (status, json.loads(answer), headers["Retry-After"]) == (503, {"error": "busy"}, "4")
        assert post(rx.url, body, h)[0] == 503
        with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
            post(rx.url, body, h)
        assert post(rx.url, body, h)[:2] == (400, b"plain words")
        assert post(rx.url, body, h)[0] == 200
        assert [(r.fault, r.status) for r in rx.requests] == [
            ("fail", 503), ("fail", 503), ("reset", None), ("fail", 400), (None, 200)]

        rx.hang(1, seconds=30)
        t = time.monotonic()
        with pytest.raises((socket.timeout, urllib.error.URLError, OSError)):
            post(rx.url, body, h, timeout=0.5)
        assert time.monotonic() - t < 5
        rx.release()
        assert rx.requests[-1].fault == "hang"
        rx.hang(1, seconds=0.2)  # let go by itself: the connection closes, no answer
        with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
            post(rx.url, body, h)
        assert post(rx.url, body, h)[0] == 200
        with pytest.raises(AssertionError, match="8 request"):
            rx.wait_for(9, timeout=0.2)


def test_script_mode_and_controls():
    p = subprocess.Popen([sys.executable, SCRIPT, "--kind", "json", "--secret", "S"],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.fullmatch(r"port (\d+)\n", line)
        assert m, line
        base = f"http://127.0.0.1:{m.group(1)}"
        body = b'{"type":"token_created"}'
        h = {"X-Intervene-Event": "token_created", "X-Intervene-Delivery": "3",
             "X-Intervene-Signature": sign(b"S", body)}
        assert post(base + "/_fake/fail_next", {"n": 1, "status": 429,
                                                "headers": {"Retry-After": "2"}})[0] == 200
        assert post(base + "/x", body, h)[0] == 429
        assert post(base + "/x", body, h)[0] == 200
        assert post(base + "/x", body, dict(h, **{"X-Intervene-Signature": "sha256=00"}))[0] == 401
        with urllib.request.urlopen(base + "/_fake/requests", timeout=10) as r:
            reqs = json.loads(r.read())["requests"]
        assert [(q["status"], q["fault"], q["delivery"]) for q in reqs] == [
            (429, "fail", 3), (200, None, 3), (401, None, 3)]
        assert reqs[1]["json"] == {"type": "token_created"} and reqs[1]["path"] == "/x"
        assert reqs[1]["headers"]["x-intervene-signature"] == sign(b"S", body)
        assert post(base + "/_fake/fail_next", {"n": 1})[0] == 400  # no status
        assert post(base + "/_fake/nothing", {})[0] == 404
        assert post(base + "/_fake/clear", {})[0] == 200
        with urllib.request.urlopen(base + "/_fake/requests", timeout=10) as r:
            assert json.loads(r.read()) == {"requests": []}
        assert post(base + "/_fake/stop", {})[0] == 200
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()


def test_script_mode_stops_on_sigterm():
    p = subprocess.Popen([sys.executable, SCRIPT, "--kind", "pagerduty"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("port ")
        p.terminate()
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
