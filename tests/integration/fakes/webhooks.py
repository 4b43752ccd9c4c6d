#!/usr/bin/env python3
"""Stand-in webhook receivers: real HTTP servers on 127.0.0.1 that check what intervene
sends them as the real receivers would (docs/webhooks.md). Python standard library only.

Three kinds
-----------
JsonReceiver(secret=None)   the generic signed-JSON receiver (format ``json``). Answers
    200 ``{"ok": true}`` when the request is a POST with ``Content-Type:
    application/json``, carries ``X-Intervene-Event`` (equal to the body's ``type``) and
    ``X-Intervene-Delivery`` (decimal digits), the body is a JSON object and — when a
    secret is given — ``X-Intervene-Signature`` is ``sha256=<hex HMAC-SHA256 of the body
    bytes with the secret>``. A bad or missing signature → 401 ``{"error": ...}``;
    anything else wrong → 400 (415 for another content type, 405 for another method).
SlackReceiver()             a Slack (and Mattermost) incoming webhook (format ``slack``).
    The body must be a JSON object (else 400 ``invalid_payload``) with only Slack's
    message fields (``text``, ``blocks``, ``attachments``, ``username``, ``icon_emoji``,
    ``icon_url``, ``channel``, ``mrkdwn``, ``unfurl_links``, ``unfurl_media``,
    ``link_names``, ``parse``, ``thread_ts``; others → 400 ``invalid_payload``) and
    ``text`` a non-empty string (else 400 ``no_text``). Success: 200, ``text/html``, body
    ``ok``, as Slack answers.
PagerDutyReceiver()         the PagerDuty Events API v2 (format ``pagerduty``): only
    ``POST /v2/enqueue`` (other paths 404). Checks ``routing_key`` (a 32-character
    string), ``event_action`` (trigger, acknowledge, resolve), ``dedup_key`` (a string of
    at most 255 characters; required for acknowledge and resolve), for a trigger
    ``payload`` with ``summary`` (1..1024 characters), ``source`` (non-empty),
    ``severity`` (critical, error, warning, info), optional ``timestamp`` (ISO 8601),
    ``component``, ``group``, ``class`` (strings) and ``custom_details`` (an object);
    ``links`` (objects with a string ``href``, optional ``text``), ``images`` (objects
    with ``src``), ``client``, ``client_url``; unknown keys are refused (stricter than
    PagerDuty, to catch typos), and so is a body over 512 KB. Success: 202
    ``{"status": "success", "message": "Event processed", "dedup_key": ...}``; a bad
    event: 400 ``{"status": "invalid event", "message": "Event object is invalid",
    "errors": [...]}`` — both as PagerDuty documents them. It also keeps the alerts the
    events made in ``alerts`` (dedup_key → {"status": triggered | acknowledged |
    resolved, "summary", "severity", "actions": [...]}); an acknowledge or resolve for
    no open alert is accepted and dropped, as PagerDuty does.

In-process use (pytest)
-----------------------
    from fakes.webhooks import JsonReceiver, SlackReceiver, PagerDutyReceiver

    with JsonReceiver(secret="s3cret") as rx:       # started; stopped on exit
        ...  # configure intervene with url=rx.url
        got = rx.wait_for(1, timeout=10)              # list of Request, or AssertionError
        assert got[0].json["type"] == "incident_created"

Every receiver has:
    start() -> self, stop(), a context manager
    port, base_url ("http://127.0.0.1:PORT"), url (where to point the webhook:
        base_url + "/hook"; PagerDutyReceiver: base_url + "/v2/enqueue")
    requests            a copy of the list of every Request received (controls excluded)
    wait_for(n=1, timeout=10.0)  the first n requests once they arrived, else
                                 AssertionError naming how many did
    deliveries          X-Intervene-Delivery of each request, in arrival order (ints)
    clear()             forget requests (and PagerDuty's alerts), faults kept
    fail_next(n, status, headers=None, body=None)
                        answer the next n requests with status, these headers (a dict)
                        and body (str, bytes, or a dict/list sent as JSON; default
                        {"error": "injected failure"}) instead of checking them
    hang(n=1, seconds=None)
                        hold the next n requests without an answer until release(),
                        stop() or `seconds` passed, then close the connection
    release()           let every held request go (their connections are closed)
    reset_next(n=1)     read the next n requests, then reset the connection (TCP RST)
                        without an answer
Faults queue in the order they are asked for; each request takes the first one. A
faulted request is still recorded (Request.fault says which fault it got).

Request attributes: method, path, headers (dict, lower-case names), body (bytes), json
(the parsed body or None), time (time.time() on arrival), status (what was answered,
None when nothing was), fault (None, "fail", "hang" or "reset"), error (why the request
was refused, or None), delivery (X-Intervene-Delivery as int, or None); to_dict() gives
the JSON form the script mode serves.

Script use (C tests, other languages)
-------------------------------------
    python3 tests/integration/fakes/webhooks.py --kind json|slack|pagerduty \\
        [--secret S] [--host 127.0.0.1] [--port 0]

prints ``port N`` as its first line on stdout (flushed), then serves until SIGTERM,
SIGINT or ``POST /_fake/stop``. The controls are JSON over HTTP on the same port (and
also work in-process):
    GET  /_fake/requests    → {"requests": [Request.to_dict(), ...]}
    GET  /_fake/alerts      → {"alerts": {...}} (pagerduty; {} for the others)
    POST /_fake/fail_next   {"n": 1, "status": 500, "headers": {...}, "body": ...}
    POST /_fake/hang        {"n": 1, "seconds": null}
    POST /_fake/release
    POST /_fake/reset_next  {"n": 1}
    POST /_fake/clear
    POST /_fake/stop
each answering 200 {"ok": true} (400 {"error": ...} for a bad control body).
"""
import argparse
import hashlib
import hmac
import http.server
import json
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from datetime import datetime

__all__ = ["Request", "JsonReceiver", "SlackReceiver", "PagerDutyReceiver", "KINDS"]

CONTROL = "/_fake/"
MAX_BODY = 8 * 1024 * 1024


class Request:
    """One request a receiver got."""

    def __init__(self, method, path, headers, body, when):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.time = when
        self.status = None
        self.fault = None
        self.error = None
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None
        d = headers.get("x-intervene-delivery", "")
        self.delivery = int(d) if d.isdigit() else None

    def to_dict(self):
        return {"method": self.method, "path": self.path, "headers": self.headers,
                "body": self.body.decode("utf-8", "replace"), "json": self.json,
                "time": self.time, "status": self.status, "fault": self.fault,
                "error": self.error, "delivery": self.delivery}

    def __repr__(self):
        return f"<Request {self.method} {self.path} status={self.status} fault={self.fault}>"


class _Answer:
    def __init__(self, status, body=b"", content_type="application/json", headers=None):
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})


def _json_answer(status, obj):
    return _Answer(status, obj)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-webhook/1"

    def log_message(self, fmt, *args):  # quiet: stdout belongs to the script protocol
        pass

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if te == "chunked":
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def _send(self, ans):
        self.send_response(ans.status)
        names = {k.lower() for k in ans.headers}
        if "content-type" not in names:
            self.send_header("Content-Type", ans.content_type)
        for k, v in ans.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(ans.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(ans.body)

    def _handle(self):
        rx = self.server.receiver
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(_Answer(413, {"error": "body too large"}))
            return
        path = self.path
        if path.startswith(CONTROL):
            self._send(rx._control(self.command, path[len(CONTROL):].split("?")[0], body))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, path, headers, body, time.time())
        fault = rx._take_fault()
        if fault is None:
            ans = rx.check(req)
            req.status = ans.status
            if ans.status >= 400:
                try:
                    req.error = ans.body.decode("utf-8", "replace")
                except AttributeError:
                    req.error = str(ans.body)
            rx._record(req)
            self._send(ans)
            return
        kind = fault[0]
        req.fault = kind
        if kind == "fail":
            _, status, hdrs, fbody = fault
            ans = _Answer(status, {"error": "injected failure"} if fbody is None else fbody,
                          headers=hdrs)
            req.status = status
            rx._record(req)
            self._send(ans)
            return
        rx._record(req)
        if kind == "hang":
            seconds = fault[1]
            rx._released.wait(seconds)
        else:  # reset: RST instead of FIN, no answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Receiver:
    kind = None
    endpoint = "/hook"

    def __init__(self, host="127.0.0.1", port=0):
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._requests = []
        self._faults = []
        self._released = threading.Event()
        self._stopped = threading.Event()
        self._server = None
        self._thread = None

    # -- life --
    def start(self):
        self._server = _Server((self._host, self._port), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopped.set()
        self._released.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return f"http://{self._host}:{self.port}"

    @property
    def url(self):
        return self.base_url + self.endpoint

    # -- what arrived --
    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    @property
    def deliveries(self):
        return [r.delivery for r in self.requests]

    def wait_for(self, n=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.kind} receiver: {len(self._requests)} request(s) after "
                        f"{timeout}s, expected {n}: {self._requests!r}")
                self._cond.wait(left)
            return list(self._requests[:n])

    def clear(self):
        with self._lock:
            self._requests.clear()
            self._clear_state()

    def _clear_state(self):
        pass

    def _record(self, req):
        with self._cond:
            self._requests.append(req)
            self._cond.notify_all()

    # -- faults --
    def fail_next(self, n, status, headers=None, body=None):
        with self._lock:
            self._faults.extend([("fail", int(status), dict(headers or {}), body)] * int(n))

    def hang(self, n=1, seconds=None):
        with self._lock:
            self._released.clear()
            self._faults.extend([("hang", seconds)] * int(n))

    def release(self):
        self._released.set()

    def reset_next(self, n=1):
        with self._lock:
            self._faults.extend([("reset",)] * int(n))

    def _take_fault(self):
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    # -- controls over HTTP --
    def _control(self, method, name, body):
        try:
            args = json.loads(body.decode("utf-8")) if body.strip() else {}
            if not isinstance(args, dict):
                raise ValueError("a JSON object expected")
            if method == "GET" and name == "requests":
                return _json_answer(200, {"requests": [r.to_dict() for r in self.requests]})
            if method == "GET" and name == "alerts":
                return _json_answer(200, {"alerts": self._alerts_copy()})
            if method != "POST":
                return _json_answer(405, {"error": f"{method} /_fake/{name}"})
            if name == "fail_next":
                self.fail_next(args.get("n", 1), args["status"], args.get("headers"),
                               args.get("body"))
            elif name == "hang":
                self.hang(args.get("n", 1), args.get("seconds"))
            elif name == "release":
                self.release()
            elif name == "reset_next":
                self.reset_next(args.get("n", 1))
            elif name == "clear":
                self.clear()
            elif name == "stop":
                self._stopped.set()
                self._released.set()
            else:
                return _json_answer(404, {"error": f"no control /_fake/{name}"})
            return _json_answer(200, {"ok": True})
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            return _json_answer(400, {"error": f"bad control request: {e!r}"})

    def _alerts_copy(self):
        return {}

    def check(self, req):
        raise NotImplementedError


class JsonReceiver(_Receiver):
    kind = "json"

    def __init__(self, secret=None, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.secret = secret

    def check(self, req):
        if req.method != "POST":
            return _json_answer(405, {"error": "only POST"})
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _json_answer(415, {"error": f"Content-Type {ctype!r}, not application/json"})
        event = req.headers.get("x-intervene-event")
        if not event:
            return _json_answer(400, {"error": "X-Intervene-Event is missing"})
        if req.delivery is None:
            return _json_answer(400, {"error": "X-Intervene-Delivery is missing or not a number"})
        if self.secret is not None:
            want = "sha256=" + hmac.new(self.secret.encode(), req.body, hashlib.sha256).hexdigest()
            got = req.headers.get("x-intervene-signature", "")
            if not hmac.compare_digest(want, got):
                return _json_answer(401, {"error": "invalid signature"})
        if not isinstance(req.json, dict):
            return _json_answer(400, {"error": "the body is not a JSON object"})
        if req.json.get("type") != event:
            return _json_answer(400, {"error": f"X-Intervene-Event {event!r} but the body's "
                                               f"type is {req.json.get('type')!r}"})
        return _json_answer(200, {"ok": True})


SLACK_FIELDS = {"text", "blocks", "attachments", "username", "icon_emoji", "icon_url",
                "channel", "mrkdwn", "unfurl_links", "unfurl_media", "link_names", "parse",
                "thread_ts"}


class SlackReceiver(_Receiver):
    kind = "slack"

    def check(self, req):
        def err(status, text):
            return _Answer(status, text, content_type="text/html")
        if req.method != "POST":
            return err(405, "invalid_method")
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" or not isinstance(req.json, dict):
            return err(400, "invalid_payload")
        if set(req.json) - SLACK_FIELDS:
            return err(400, "invalid_payload")
        text = req.json.get("text")
        if not isinstance(text, str) or not text:
            return err(400, "no_text")
        return _Answer(200, "ok", content_type="text/html")

    @property
    def messages(self):
        """The text of every accepted message, in order."""
        return [r.json["text"] for r in self.requests if r.status == 200]


PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_TOP = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client",
          "client_url"}
PD_PAYLOAD = {"summary", "source", "severity", "timestamp", "component", "group", "class",
              "custom_details"}
PD_MAX_BYTES = 512 * 1024


def _iso8601(s):
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def pagerduty_errors(ev):
    """What PagerDuty's Events API v2 would refuse in event ev (a parsed body)."""
    errs = []
    if not isinstance(ev, dict):
        return ["Event object is not a JSON object"]
    unknown = sorted(set(ev) - PD_TOP)
    if unknown:
        errs.append(f"Unknown field(s): {', '.join(unknown)}")
    rk = ev.get("routing_key")
    if not isinstance(rk, str) or len(rk) != 32:
        errs.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = ev.get("event_action")
    if action not in PD_ACTIONS:
        errs.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dk = ev.get("dedup_key")
    if dk is not None and (not isinstance(dk, str) or len(dk) > 255):
        errs.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and (not isinstance(dk, str) or not dk.strip()):
        errs.append("'dedup_key' is missing or blank")
    p = ev.get("payload")
    if action == "trigger" or p is not None:
        if not isinstance(p, dict):
            errs.append("'payload' is missing or not an object")
        else:
            unknown = sorted(set(p) - PD_PAYLOAD)
            if unknown:
                errs.append(f"Unknown payload field(s): {', '.join(unknown)}")
            s = p.get("summary")
            if not isinstance(s, str) or not s.strip():
                errs.append("'payload.summary' is missing or blank")
            elif len(s) > 1024:
                errs.append("'payload.summary' is longer than 1024 characters")
            src = p.get("source")
            if not isinstance(src, str) or not src.strip():
                errs.append("'payload.source' is missing or blank")
            if p.get("severity") not in PD_SEVERITIES:
                errs.append("'payload.severity' is invalid (must be one of critical, error, "
                            "warning, info)")
            ts = p.get("timestamp")
            if ts is not None and (not isinstance(ts, str) or not _iso8601(ts)):
                errs.append("'payload.timestamp' is not an ISO 8601 timestamp")
            for k in ("component", "group", "class"):
                if k in p and not isinstance(p[k], str):
                    errs.append(f"'payload.{k}' must be a string")
            if "custom_details" in p and not isinstance(p["custom_details"], dict):
                errs.append("'payload.custom_details' must be an object")
    for name, req_key in (("links", "href"), ("images", "src")):
        v = ev.get(name)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            errs.append(f"'{name}' must be a list of objects")
            continue
        for x in v:
            if not isinstance(x.get(req_key), str) or not x[req_key]:
                errs.append(f"each of '{name}' needs a string '{req_key}'")
            if name == "links" and "text" in x and not isinstance(x["text"], str):
                errs.append("'links[].text' must be a string")
    for k in ("client", "client_url"):
        if k in ev and not isinstance(ev[k], str):
            errs.append(f"'{k}' must be a string")
    return errs


class PagerDutyReceiver(_Receiver):
    kind = "pagerduty"
    endpoint = "/v2/enqueue"

    def __init__(self, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self._alerts = {}

    def _clear_state(self):
        self._alerts.clear()

    def _alerts_copy(self):
        with self._lock:
            return json.loads(json.dumps(self._alerts))

    @property
    def alerts(self):
        return self._alerts_copy()

    def check(self, req):
        if req.path.split("?")[0] != self.endpoint:
            return _json_answer(404, {"status": "not found", "message": "Not Found"})
        if req.method != "POST":
            return _json_answer(405, {"status": "invalid method", "message": "Method Not Allowed"})

        def invalid(errors):
            return _json_answer(400, {"status": "invalid event",
                                      "message": "Event object is invalid", "errors": errors})
        if len(req.body) > PD_MAX_BYTES:
            return invalid(["Event is larger than 512 KB"])
        if req.json is None:
            return invalid(["Could not parse the body as JSON"])
        errs = pagerduty_errors(req.json)
        if errs:
            return invalid(errs)
        ev = req.json
        key = ev.get("dedup_key") or uuid.uuid4().hex
        action = ev["event_action"]
        with self._lock:
            a = self._alerts.get(key)
            if action == "trigger":
                if a is None or a["status"] == "resolved":
                    a = self._alerts[key] = {"status": "triggered", "actions": []}
                a["summary"] = ev["payload"]["summary"]
                a["severity"] = ev["payload"]["severity"]
                a["actions"].append(action)
            elif a is not None and a["status"] != "resolved":
                a["status"] = "acknowledged" if action == "acknowledge" else "resolved"
                a["actions"].append(action)
        return _json_answer(202, {"status": "success", "message": "Event processed",
                                  "dedup_key": key})


KINDS = {"json": JsonReceiver, "slack": SlackReceiver, "pagerduty": PagerDutyReceiver}


def main(argv=None):
    ap = argparse.ArgumentParser(description="A stand-in webhook receiver (see the module "
                                             "docstring).")
    ap.add_argument("--kind", choices=sorted(KINDS), required=True)
    ap.add_argument("--secret", help="json: the HMAC secret the signature must match")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args(argv)
    if a.kind == "json":
        rx = JsonReceiver(secret=a.secret, host=a.host, port=a.port)
    else:
        rx = KINDS[a.kind](host=a.host, port=a.port)
    rx.start()

    def on_signal(signum, frame):
        rx._stopped.set()
        rx._released.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"port {rx.port}", flush=True)
    while not rx._stopped.wait(0.2):
        pass
    rx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
