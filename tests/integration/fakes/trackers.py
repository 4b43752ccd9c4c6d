#!/usr/bin/python3
"""Stand-ins for the GitHub, GitLab and Jira Cloud REST APIs, for tests.

Each class serves real HTTP/1.1 on 127.0.0.1 (port 0: the kernel picks one) from a
background thread, answers the endpoints intervene's adapters use with the response
shapes of the providers' documentation, and checks what it receives as the real API
would (authentication, required headers, payload types and limits). Everything it
receives and does is kept in memory for assertions. Python 3 standard library only;
python3-jsonschema for the Jira ADF check (see FakeJira).

In-process (pytest)::

    from fakes.trackers import FakeGitHub, FakeGitLab, FakeJira

    with FakeGitHub(token="t0k", owner="acme", repo="ops") as gh:
        cfg = {"tracker": {"provider": "github", "github": gh.config_block()}}
        ...                                  # drive intervene
        gh.wait_for_calls(1)                 # never sleep: wait for a condition
        assert gh.issues[0]["labels"] == ["sev2", "intervene", "intervene-7", "priority:sev2"]

Common API (every class)

  Constructor keywords (all optional): host="127.0.0.1", port=0, plus the provider's
  credentials (below). Not started until start() or `with`.
  start() -> self, stop(); context manager (starts, stops).
  port, url            the server's port and "http://127.0.0.1:<port>" (the base_url).
  config_block()       dict for the config's tracker.<provider> section.

  State (issues, comments, closes: deep copies taken under the lock; calls: a new list of
  the Call objects themselves)
  issues               list of the provider's issue objects, oldest first
                       (GitHub: the issue JSON with "labels" as a list of names;
                       GitLab: the issue JSON; Jira: {"id", "key", "fields": {...}}).
  comments             list of {"issue": <number|iid|key>, "body": <str or ADF dict>,
                       "id": <int>, "t": <monotonic>}.
  closes               list of {"issue": ..., "t": ..., plus "state_reason" (GitHub) or
                       "transition" (Jira: the transition's id) }.
  calls                list of Call: every request except /_fake/ controls, in arrival
                       order (listed on arrival; status and outcome are set when it has
                       been answered). Call attributes: method, path (as sent, percent-encoding
                       kept), query (dict of str -> last value), headers (dict,
                       lower-case names), body (parsed JSON, or None), raw (bytes),
                       t (time.monotonic() on arrival), status (int answered, or None),
                       outcome ("answered", "failed" (fail_next), "reset", "dropped",
                       "hung"). Call.as_dict() gives JSON-able data.
  get_issue(ref)       the issue by number / iid / key (str or int), or None.
  calls_to(method=None, path=None)  calls whose method equals and whose path matches the
                       regular expression (re.search), as a list.
  wait_for_calls(n, timeout=10.0, method=None, path=None)  block until at least n such
                       calls arrived; returns them; AssertionError on timeout.

  Controls (thread-safe; each applies to requests that arrive after it)
  fail_next(n, status, headers=None, body=None, *, method=None, path=None)
                       answer the next n matching requests with status instead of
                       handling them (nothing is created). headers: dict added to the
                       answer (e.g. {"Retry-After": "3"}, {"x-ratelimit-remaining":
                       "0", "x-ratelimit-reset": "1700000000"}); body: dict/list (sent
                       as JSON), str/bytes (sent as is), or None for the provider's own
                       error body for that status.
  reset_next(n, *, method=None, path=None)
                       read the next n matching requests, then close the connection
                       without answering (nothing is created).
  drop_after_create_next(n)
                       the next n issue creates do create the issue, then the
                       connection is closed without an answer (the lost response).
  hang() / stop_hanging(); hanging
                       from hang() on, requests are read and never answered; at
                       stop_hanging() (or stop()) the held connections are closed.
  seed_issue(title="seeded", labels=(), state="open"|"opened", body="", **kw) -> issue
                       put an issue in place (as if made earlier, no call recorded);
                       GitHub: pull_request=True makes it a pull request, which the
                       issues list also returns.
  clear()              forget issues, comments, closes, calls and pending controls.

FakeGitHub(token="test-token", owner="acme", repo="ops", assignable=None)
  Checks, in GitHub's order: a User-Agent (else 403, GitHub's text/plain "Request
  forbidden by administrative rules..."); "Authorization: Bearer <token>" (missing:
  401 "Requires authentication", wrong: 401 "Bad credentials"); X-GitHub-Api-Version
  2022-11-28 (400 when missing or another: GitHub itself defaults a missing one to
  2022-11-28 and answers 400 to an unsupported one; intervene must pin it, so the fake
  is stricter); Accept containing application/vnd.github+json (415; GitHub also takes
  application/json). Creates: title (256 characters), body (65,536), labels (a JSON
  array of strings, each at most 50 characters), assignees (when assignable is a list
  of logins, others are refused) — 422 "Validation Failed" with GitHub's "errors" list.
  Endpoints: GET /repos/{o}/{r}; GET, POST /repos/{o}/{r}/issues (labels= AND-filter,
  state=open|closed|all, per_page, page; newest first, pull requests included);
  GET, PATCH /repos/{o}/{r}/issues/{n}; GET, POST .../issues/{n}/comments. Every answer
  carries x-ratelimit-limit/remaining/reset/used/resource. Owner and repo compare
  ignoring case.

FakeGitLab(token="test-token", project_id="acme/ops", numeric_id=4242)
  PRIVATE-TOKEN (missing or wrong: 401 {"message": "401 Unauthorized"}). The project is
  the path segment str(numeric_id) or the URL-encoded path ("acme%2Fops"); an unencoded
  "acme/ops" does not match any route (404 {"error": "404 Not Found"}, as GitLab).
  Creates: title (255), description (1,000,000), labels a comma-separated string (an
  array: 400 {"error": "labels is invalid"}; GitLab's own API would take an array too,
  intervene sends the documented string form); a scoped label keeps one per scope.
  Endpoints: GET /api/v4/projects/{id}; GET, POST .../issues (labels= AND-filter,
  state=opened|closed|all, default all); GET, PUT .../issues/{iid} (state_event
  close|reopen); GET, POST .../issues/{iid}/notes.

FakeJira(email="bot@example.com", api_token="test-token", project_key="OPS",
         priorities=("Highest", "High", "Medium", "Low", "Lowest"),
         priorities_enabled=True, issue_types=("Bug", "Task", "Story", "Epic"),
         transitions=None)
  Basic email:api_token (missing or wrong: 401 text/plain "Client must be
  authenticated to access this resource."). 400s have Jira's shape {"errorMessages":
  [...], "errors": {field: text}}: unknown project, summary missing or over 255, unknown
  issue type, a label with a space or over 255, a priority when priorities_enabled is
  False ("Field 'priority' cannot be set. It is not on the appropriate screen, or
  unknown.") or a name not in priorities, a description or comment body that is not
  valid ADF, or whose text is over 32,767 characters. ADF is validated against
  ../shared/conformance/adf/full.json with the fast validator of
  tests/fuzz/validate_adf_outputs.py (adf_schema is its path); when the schema or
  jsonschema is absent only the document's outer shape is checked (adf_schema None).
  priorities_enabled can be changed on a running fake (attribute).
  transitions: list of (id, name, status name, status category key) of the workflow;
  default To Do (new), In Progress (indeterminate), Done (done). GET .../transitions
  lists those that do not lead to the issue's current status.
  Endpoints: GET /rest/api/3/myself, /rest/api/3/serverInfo, /rest/api/3/project/{key};
  POST /rest/api/3/issue; GET /rest/api/3/issue/{key}; GET, POST .../comment; GET, POST
  .../transitions (POST answers 204); POST (and GET) /rest/api/3/search/jql with JQL
  `project = KEY AND labels = "LABEL"` (optionally ORDER BY ...); the retired
  /rest/api/3/search answers 410 as Jira Cloud does.

Script mode (for C tests): one provider per process::

    trackers.py --provider github --token T --owner o --repo r
    trackers.py --provider gitlab --token T --project-id acme/ops [--numeric-id N]
    trackers.py --provider jira --email E --api-token T --project-key OPS
                [--no-priorities]
    common: [--host 127.0.0.1] [--port 0] [--exit-on-stdin-eof]

prints "port N" as its first line (flushed), then serves until SIGTERM/SIGINT, POST
/_fake/shutdown, or (with --exit-on-stdin-eof) the end of its standard input. The
controls are JSON over HTTP on the same port, without authentication, never recorded
as calls and never held by hang():

    GET  /_fake/state                  {"issues", "comments", "closes", "calls",
                                        "hanging", "adf_schema"}
    POST /_fake/fail_next              {"n", "status", "headers"?, "body"?, "method"?,
                                        "path"?}
    POST /_fake/reset_next             {"n", "method"?, "path"?}
    POST /_fake/drop_after_create_next {"n"}
    POST /_fake/hang, /_fake/stop_hanging, /_fake/clear, /_fake/shutdown   {}
    POST /_fake/seed_issue             keyword arguments of seed_issue
    POST /_fake/set                    {"priorities_enabled": bool} (Jira)

Each answers 200 with {"ok": true} (state: the state object), 400 on bad input.
"""

import argparse
import base64
import copy
import datetime
import json
import os
import re
import select
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))

_DROP = object()  # a handler result: close the connection without answering

REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    410: "Gone", 415: "Unsupported Media Type", 422: "Unprocessable Entity", 423: "Locked",
    425: "Too Early", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chars(s):
    """Characters as the providers count them: code points."""
    return len(s)


class Call:
    """One request the fake received (see the module docstring)."""

    __slots__ = ("method", "path", "query", "headers", "body", "raw", "t", "status",
                 "outcome")

    def __init__(self, method, path, query, headers, body, raw, t):
        self.method, self.path, self.query = method, path, query
        self.headers, self.body, self.raw, self.t = headers, body, raw, t
        self.status = None
        self.outcome = None

    def as_dict(self):
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": self.headers, "body": self.body,
                "raw": self.raw.decode("utf-8", "replace"), "t": self.t,
                "status": self.status, "outcome": self.outcome}

    def __repr__(self):
        return f"<Call {self.method} {self.path} -> {self.status} {self.outcome}>"


class _Rule:
    def __init__(self, n, method=None, path=None, **kw):
        self.n = int(n)
        self.method = method.upper() if method else None
        self.path = re.compile(path) if path else None
        self.kw = kw

    def take(self, method, path):
        if self.n <= 0:
            return False
        if self.method and self.method != method:
            return False
        if self.path and not self.path.search(path):
            return False
        self.n -= 1
        return True


class _Response:
    def __init__(self, status, body=None, headers=None, content_type="application/json; charset=utf-8"):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def encode(self):
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def _json(status, body, headers=None):
    return _Response(status, body, headers)


def _text(status, text, headers=None):
    return _Response(status, text, headers, "text/plain; charset=utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-tracker"
    fake = None  # set per server class

    def log_message(self, fmt, *args):  # quiet: pytest shows failures, not traffic
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        self.fake._dispatch(self, raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def send(self, resp):
        data = resp.encode() if resp.status != 204 else b""
        self.send_response(resp.status, REASONS.get(resp.status))
        if resp.status != 204:
            self.send_header("Content-Type", resp.content_type)
        for k, v in resp.headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def drop(self):
        """Close without answering: the client sees the connection end."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass


class FakeTracker:
    """What the three stand-ins share: the server, the records and the controls."""

    provider = None

    def __init__(self, host="127.0.0.1", port=0):
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server = None
        self._thread = None
        self._release = threading.Event()
        self._hanging = False
        self._reset_state()

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        if self._server:
            return self
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.provider}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if not self._server:
            return
        self.stop_hanging()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return f"http://{self._host}:{self.port}"

    def config_block(self):
        raise NotImplementedError

    # ---------------------------------------------------------------- state
    def _reset_state(self):
        with self._lock:
            self._issues = []
            self._comments = []
            self._closes = []
            self._calls = []
            self._fail = []
            self._resets = []
            self._drop_creates = 0
            self._next_comment = 1000

    def clear(self):
        self.stop_hanging()
        self._reset_state()

    @property
    def issues(self):
        with self._lock:
            return copy.deepcopy(self._issues)

    @property
    def comments(self):
        with self._lock:
            return copy.deepcopy(self._comments)

    @property
    def closes(self):
        with self._lock:
            return copy.deepcopy(self._closes)

    @property
    def calls(self):
        with self._lock:
            return list(self._calls)

    def get_issue(self, ref):
        with self._lock:
            it = self._find(str(ref))
            return copy.deepcopy(it) if it else None

    def calls_to(self, method=None, path=None):
        rx = re.compile(path) if path else None
        with self._lock:
            return [c for c in self._calls
                    if (not method or c.method == method.upper())
                    and (not rx or rx.search(c.path))]

    def wait_for_calls(self, n, timeout=10.0, method=None, path=None):
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = self.calls_to(method, path)
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.provider} fake: {len(got)} of {n} calls"
                        f" ({method or 'any'} {path or 'any path'}) after {timeout} s:"
                        f" {self._calls!r}")
                self._changed.wait(left)

    # ---------------------------------------------------------------- controls
    def fail_next(self, n, status, headers=None, body=None, *, method=None, path=None):
        with self._lock:
            self._fail.append(_Rule(n, method, path, status=int(status),
                                    headers=dict(headers or {}), body=body))

    def reset_next(self, n, *, method=None, path=None):
        with self._lock:
            self._resets.append(_Rule(n, method, path))

    def drop_after_create_next(self, n):
        with self._lock:
            self._drop_creates += int(n)

    def hang(self):
        with self._lock:
            self._release.clear()
            self._hanging = True

    def stop_hanging(self):
        with self._lock:
            self._hanging = False
            self._release.set()

    @property
    def hanging(self):
        return self._hanging

    def seed_issue(self, **kw):
        with self._lock:
            return copy.deepcopy(self._seed(**kw))

    # ---------------------------------------------------------------- dispatch
    def _record(self, call, status, outcome):
        with self._changed:
            call.status, call.outcome = status, outcome
            self._changed.notify_all()

    def _dispatch(self, h, raw):
        parsed = urllib.parse.urlsplit(h.path)
        path = parsed.path
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        if path.startswith("/_fake/"):
            return self._control(h, path[len("/_fake/"):], raw)
        headers = {k.lower(): v for k, v in h.headers.items()}
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        call = Call(h.command, path, query, headers, body, raw, time.monotonic())
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
            hanging = self._hanging
            release = self._release
            reset = any(r.take(h.command, path) for r in self._resets)
            fail = None
            if not reset:
                fail = next((r for r in self._fail if r.take(h.command, path)), None)
        if hanging:
            self._record(call, None, "hung")
            release.wait()
            return h.drop()
        if reset:
            self._record(call, None, "reset")
            return h.drop()
        if fail:
            kw = fail.kw
            resp = self._error(kw["status"], kw["headers"], call)
            if kw["body"] is not None:
                resp.body = kw["body"]
                if isinstance(kw["body"], (str, bytes)):
                    resp.content_type = "text/plain; charset=utf-8"
            resp.headers.update(kw["headers"])
            self._record(call, resp.status, "failed")
            return h.send(self._decorate(resp))
        if raw and body is None:
            resp = self._bad_json(call)
        else:
            with self._lock:
                resp = self._handle(call)
        if resp is _DROP:
            self._record(call, None, "dropped")
            return h.drop()
        self._record(call, resp.status, "answered")
        return h.send(self._decorate(resp))

    def _take_drop(self):
        """Whether this create is one whose answer must be lost (under the lock)."""
        if self._drop_creates > 0:
            self._drop_creates -= 1
            return True
        return False

    def _decorate(self, resp):
        return resp

    # provider hooks
    def _handle(self, call):
        raise NotImplementedError

    def _error(self, status, headers, call):
        raise NotImplementedError

    def _bad_json(self, call):
        raise NotImplementedError

    def _find(self, ref):
        raise NotImplementedError

    def _seed(self, **kw):
        raise NotImplementedError

    def _set(self, key, value):
        raise KeyError(key)

    # ---------------------------------------------------------------- controls over HTTP
    def state(self):
        with self._lock:
            return {"issues": copy.deepcopy(self._issues),
                    "comments": copy.deepcopy(self._comments),
                    "closes": copy.deepcopy(self._closes),
                    "calls": [c.as_dict() for c in self._calls],
                    "hanging": self._hanging,
                    "adf_schema": getattr(self, "adf_schema", None)}

    def _control(self, h, name, raw):
        try:
            args = json.loads(raw) if raw else {}
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
            if name == "state" and h.command == "GET":
                return h.send(_json(200, self.state()))
            if h.command != "POST":
                return h.send(_json(405, {"error": "POST"}))
            if name == "fail_next":
                self.fail_next(args["n"], args["status"], args.get("headers"),
                               args.get("body"), method=args.get("method"),
                               path=args.get("path"))
            elif name == "reset_next":
                self.reset_next(args["n"], method=args.get("method"), path=args.get("path"))
            elif name == "drop_after_create_next":
                self.drop_after_create_next(args["n"])
            elif name == "hang":
                self.hang()
            elif name == "stop_hanging":
                self.stop_hanging()
            elif name == "clear":
                self.clear()
            elif name == "seed_issue":
                return h.send(_json(200, self.seed_issue(**args)))
            elif name == "set":
                for k, v in args.items():
                    self._set(k, v)
            elif name == "shutdown":
                h.send(_json(200, {"ok": True}))
                threading.Thread(target=self._shutdown_hook, daemon=True).start()
                return None
            else:
                return h.send(_json(404, {"error": f"no control {name}"}))
        except (KeyError, TypeError, ValueError, re.error) as e:
            return h.send(_json(400, {"error": f"{type(e).__name__}: {e}"}))
        return h.send(_json(200, {"ok": True}))

    def _shutdown_hook(self):
        hook = getattr(self, "on_shutdown", None)
        if hook:
            hook()


def _labels_filter(q):
    return [x.strip() for x in q.split(",") if x.strip()] if q else []


def _page(items, query, default=30):
    try:
        per = max(1, min(100, int(query.get("per_page", default))))
        page = max(1, int(query.get("page", 1)))
    except ValueError:
        per, page = default, 1
    return items[(page - 1) * per: page * per]


# =================================================================== GitHub

GH_DOCS = "https://docs.github.com/rest"


class FakeGitHub(FakeTracker):
    provider = "github"
    API_VERSION = "2022-11-28"

    def __init__(self, token="test-token", owner="acme", repo="ops", assignable=None, **kw):
        self.token, self.owner, self.repo = token, owner, repo
        self.assignable = list(assignable) if assignable is not None else None
        self._remaining = 5000
        super().__init__(**kw)

    def config_block(self):
        return {"token": self.token, "owner": self.owner, "repo": self.repo,
                "base_url": self.url}

    def _reset_state(self):
        super()._reset_state()
        self._next_number = 1

    def _decorate(self, resp):
        h = {k.lower() for k in resp.headers}
        reset = int(time.time()) + 3600
        defaults = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(self._remaining),
                    "x-ratelimit-reset": str(reset), "x-ratelimit-used": str(5000 - self._remaining),
                    "x-ratelimit-resource": "core",
                    "x-github-api-version-selected": self.API_VERSION,
                    "x-github-request-id": f"FAKE:{os.getpid()}:{time.monotonic_ns()}"}
        for k, v in defaults.items():
            if k not in h:
                resp.headers[k] = v
        return resp

    def _error(self, status, headers, call=None):
        low = {k.lower(): str(v) for k, v in (headers or {}).items()}
        if status == 401:
            msg = "Bad credentials"
        elif status in (403, 429) and (low.get("x-ratelimit-remaining") == "0"):
            msg = "API rate limit exceeded for user ID 1."
        elif status in (403, 429) and "retry-after" in low:
            msg = ("You have exceeded a secondary rate limit. Please wait a few minutes "
                   "before you try again.")
        elif status == 403:
            msg = "Resource not accessible by personal access token"
        elif status == 422:
            msg = "Validation Failed"
        elif status >= 500:
            msg = "Server Error"
        else:
            msg = REASONS.get(status, "Error")
        return _json(status, {"message": msg, "documentation_url": GH_DOCS, "status": str(status)})

    def _bad_json(self, call):
        return _json(400, {"message": "Problems parsing JSON", "documentation_url": GH_DOCS,
                           "status": "400"})

    def _invalid(self, errors, message="Validation Failed"):
        return _json(422, {"message": message, "errors": errors,
                           "documentation_url": GH_DOCS + "/issues/issues#create-an-issue",
                           "status": "422"})

    def _issue_json(self, it):
        out = dict(it)
        base = f"{self.url}/repos/{self.owner}/{self.repo}"
        out["labels"] = [{"id": 1000 + i, "node_id": f"LA_{i}", "url": f"{base}/labels/{urllib.parse.quote(n)}",
                          "name": n, "color": "ededed", "default": False, "description": None}
                         for i, n in enumerate(it["labels"])]
        out["assignees"] = [{"login": a, "id": 9000 + i, "type": "User"}
                            for i, a in enumerate(it["assignees"])]
        out["assignee"] = out["assignees"][0] if out["assignees"] else None
        return out

    def _find(self, ref):
        return next((i for i in self._issues if str(i["number"]) == ref), None)

    def _seed(self, title="seeded", labels=(), state="open", body="", pull_request=False,
              assignees=(), state_reason=None):
        n = self._next_number
        self._next_number += 1
        base = f"{self.url}/repos/{self.owner}/{self.repo}"
        html = f"https://github.com/{self.owner}/{self.repo}/{'pull' if pull_request else 'issues'}/{n}"
        now = _now_iso()
        it = {"id": 500000 + n, "node_id": f"I_fake{n}", "url": f"{base}/issues/{n}",
              "repository_url": base, "labels_url": f"{base}/issues/{n}/labels{{/name}}",
              "comments_url": f"{base}/issues/{n}/comments",
              "events_url": f"{base}/issues/{n}/events", "html_url": html, "number": n,
              "state": state, "state_reason": state_reason, "title": title, "body": body,
              "user": {"login": "intervene-bot", "id": 1, "type": "User"},
              "labels": list(labels), "assignees": list(assignees), "milestone": None,
              "locked": False, "comments": 0, "created_at": now, "updated_at": now,
              "closed_at": now if state == "closed" else None,
              "author_association": "OWNER"}
        if pull_request:
            it["pull_request"] = {"url": f"{base}/pulls/{n}", "html_url": html}
        self._issues.append(it)
        return it

    def _check_request(self, call):
        h = call.headers
        if not h.get("user-agent"):
            return _text(403, "Request forbidden by administrative rules. Please make sure "
                              "your request has a User-Agent header "
                              "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
                              "#user-agent-required). Check https://developer.github.com for "
                              "other possible causes.\n")
        auth = h.get("authorization")
        if not auth:
            return _json(401, {"message": "Requires authentication", "documentation_url": GH_DOCS,
                               "status": "401"})
        if auth != f"Bearer {self.token}":
            return _json(401, {"message": "Bad credentials", "documentation_url": GH_DOCS,
                               "status": "401"})
        v = h.get("x-github-api-version")
        if v != self.API_VERSION:
            return _json(400, {"message": f"Unsupported 'X-GitHub-Api-Version': {v!r}. "
                                          f"This fake requires {self.API_VERSION}.",
                               "documentation_url": GH_DOCS + "/about-the-rest-api/api-versions",
                               "status": "400"})
        accept = [a.split(";")[0].strip() for a in (h.get("accept") or "").split(",")]
        if "application/vnd.github+json" not in accept:
            return _json(415, {"message": f"Unsupported 'Accept' header: {h.get('accept')!r}. "
                                          "Must accept 'application/vnd.github+json'.",
                               "documentation_url": GH_DOCS, "status": "415"})
        return None

    def _handle(self, call):
        bad = self._check_request(call)
        if bad:
            return bad
        self._remaining = max(0, self._remaining - 1)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/issues(?:/(\d+)(/comments)?)?)?", call.path)
        if not m or m.group(1).lower() != self.owner.lower() or m.group(2).lower() != self.repo.lower():
            return self._not_found()
        _, _, sub, num, comments = m.groups()
        meth = call.method
        if not sub:
            if meth != "GET":
                return self._not_found()
            return _json(200, self._repo_json())
        if num is None:
            if meth == "POST":
                return self._create(call)
            if meth == "GET":
                return self._list(call)
            return self._not_found()
        it = self._find(num)
        if not it:
            return self._not_found()
        if comments:
            if meth == "POST":
                return self._comment(call, it)
            if meth == "GET":
                return _json(200, [c["json"] for c in self._comments if c["issue"] == it["number"]])
            return self._not_found()
        if meth == "GET":
            return _json(200, self._issue_json(it))
        if meth == "PATCH":
            return self._update(call, it)
        return self._not_found()

    def _not_found(self):
        return _json(404, {"message": "Not Found", "documentation_url": GH_DOCS, "status": "404"})

    def _repo_json(self):
        return {"id": 4242, "node_id": "R_fake", "name": self.repo,
                "full_name": f"{self.owner}/{self.repo}", "private": True,
                "owner": {"login": self.owner, "id": 42, "type": "Organization"},
                "html_url": f"https://github.com/{self.owner}/{self.repo}",
                "url": f"{self.url}/repos/{self.owner}/{self.repo}", "has_issues": True,
                "archived": False, "disabled": False, "visibility": "private",
                "default_branch": "main",
                "permissions": {"admin": False, "maintain": False, "push": True,
                                "triage": True, "pull": True}}

    def _create(self, call):
        b = call.body
        if not isinstance(b, dict):
            return self._bad_json(call)
        title, body = b.get("title"), b.get("body")
        labels, assignees = b.get("labels", []), b.get("assignees", [])
        if not isinstance(title, str) or not title:
            return self._invalid([{"resource": "Issue", "code": "missing_field", "field": "title"}])
        if body is not None and not isinstance(body, str):
            return self._invalid([], f"Invalid request.\n\nFor 'properties/body', {body!r} is not a string.")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return self._invalid([], f"Invalid request.\n\nFor 'properties/labels', {labels!r} is not an array of strings.")
        if not isinstance(assignees, list) or not all(isinstance(x, str) for x in assignees):
            return self._invalid([], f"Invalid request.\n\nFor 'properties/assignees', {assignees!r} is not an array of strings.")
        errors = []
        if _chars(title) > 256:
            errors.append({"resource": "Issue", "code": "custom", "field": "title",
                           "message": "title is too long (maximum is 256 characters)"})
        if body is not None and _chars(body) > 65536:
            errors.append({"resource": "Issue", "code": "custom", "field": "body",
                           "message": "body is too long (maximum is 65536 characters)"})
        for lab in labels:
            if _chars(lab) > 50 or not lab.strip():
                errors.append({"value": lab, "resource": "Label", "field": "name", "code": "invalid"})
        for a in assignees:
            if self.assignable is not None and a not in self.assignable:
                errors.append({"value": a, "resource": "Issue", "field": "assignees", "code": "invalid"})
        if errors:
            return self._invalid(errors)
        names = []
        for lab in labels:  # label names ignore case; the first spelling is kept
            if lab.lower() not in (n.lower() for n in names):
                names.append(lab)
        it = self._seed(title=title, labels=names, body=body, assignees=assignees)
        if self._take_drop():
            return _DROP
        return _json(201, self._issue_json(it), {"Location": it["url"]})

    def _list(self, call):
        q = call.query
        want = [w.lower() for w in _labels_filter(q.get("labels"))]
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            return self._invalid([{"resource": "Issue", "field": "state", "code": "invalid"}])
        out = [i for i in reversed(self._issues)
               if (state == "all" or i["state"] == state)
               and all(w in (n.lower() for n in i["labels"]) for w in want)]
        return _json(200, [self._issue_json(i) for i in _page(out, q)])

    def _comment(self, call, it):
        b = call.body
        if not isinstance(b, dict) or not isinstance(b.get("body"), str) or not b["body"]:
            return self._invalid([{"resource": "IssueComment", "code": "missing_field", "field": "body"}])
        if _chars(b["body"]) > 65536:
            return self._invalid([{"resource": "IssueComment", "code": "custom", "field": "body",
                                   "message": "body is too long (maximum is 65536 characters)"}])
        self._next_comment += 1
        cid = self._next_comment
        j = {"id": cid, "node_id": f"IC_{cid}",
             "url": f"{self.url}/repos/{self.owner}/{self.repo}/issues/comments/{cid}",
             "html_url": f"{it['html_url']}#issuecomment-{cid}", "body": b["body"],
             "user": {"login": "intervene-bot", "id": 1, "type": "User"},
             "created_at": _now_iso(), "updated_at": _now_iso(),
             "issue_url": it["url"], "author_association": "OWNER"}
        it["comments"] += 1
        self._comments.append({"issue": it["number"], "body": b["body"], "id": cid,
                               "t": time.monotonic(), "json": j})
        return _json(201, j, {"Location": j["url"]})

    def _update(self, call, it):
        b = call.body
        if not isinstance(b, dict):
            return self._bad_json(call)
        state = b.get("state")
        reason = b.get("state_reason")
        if state is not None and state not in ("open", "closed"):
            return self._invalid([{"resource": "Issue", "field": "state", "code": "invalid"}])
        if reason not in (None, "completed", "not_planned", "reopened"):
            return self._invalid([{"resource": "Issue", "field": "state_reason", "code": "invalid"}])
        if state == "closed":
            it["state"] = "closed"
            it["state_reason"] = reason or "completed"
            it["closed_at"] = _now_iso()
            self._closes.append({"issue": it["number"], "state_reason": it["state_reason"],
                                 "t": time.monotonic()})
        elif state == "open":
            it["state"], it["state_reason"], it["closed_at"] = "open", "reopened", None
        for k in ("title", "body"):
            if isinstance(b.get(k), str):
                it[k] = b[k]
        it["updated_at"] = _now_iso()
        return _json(200, self._issue_json(it))


# =================================================================== GitLab


class FakeGitLab(FakeTracker):
    provider = "gitlab"

    def __init__(self, token="test-token", project_id="acme/ops", numeric_id=4242, **kw):
        self.token, self.project_id = token, str(project_id)
        self.numeric_id = int(project_id) if self.project_id.isdigit() else int(numeric_id)
        super().__init__(**kw)

    def config_block(self):
        return {"token": self.token, "project_id": self.project_id, "base_url": self.url}

    def _reset_state(self):
        super()._reset_state()
        self._next_iid = 1

    @property
    def _path_with_namespace(self):
        return self.project_id if not self.project_id.isdigit() else "acme/ops"

    def _error(self, status, headers, call=None):
        if status == 429:
            return _text(429, "Retry later\n")
        return _json(status, {"message": f"{status} {REASONS.get(status, 'Error')}"})

    def _bad_json(self, call):
        return _json(400, {"error": "The request body is not valid JSON"})

    def _find(self, ref):
        return next((i for i in self._issues if str(i["iid"]) == ref), None)

    def _seed(self, title="seeded", labels=(), state="opened", body="", description=None):
        iid = self._next_iid
        self._next_iid += 1
        now = _now_iso()
        ns = self._path_with_namespace
        web = f"https://gitlab.example.com/{ns}/-/issues/{iid}"
        it = {"id": 700000 + iid, "iid": iid, "project_id": self.numeric_id, "title": title,
              "description": description if description is not None else body,
              "state": "closed" if state == "closed" else "opened",
              "created_at": now, "updated_at": now,
              "closed_at": now if state == "closed" else None, "closed_by": None,
              "labels": _scoped_unique(list(labels)), "milestone": None, "assignees": [],
              "assignee": None, "author": {"id": 1, "username": "intervene-bot",
                                           "name": "intervene", "state": "active"},
              "type": "ISSUE", "user_notes_count": 0, "upvotes": 0, "downvotes": 0,
              "due_date": None, "confidential": False, "web_url": web,
              "references": {"short": f"#{iid}", "relative": f"#{iid}", "full": f"{ns}#{iid}"},
              "_links": {"self": f"{self.url}/api/v4/projects/{self.numeric_id}/issues/{iid}",
                         "notes": f"{self.url}/api/v4/projects/{self.numeric_id}/issues/{iid}/notes",
                         "project": f"{self.url}/api/v4/projects/{self.numeric_id}"}}
        self._issues.append(it)
        return it

    def _handle(self, call):
        tok = call.headers.get("private-token")
        if tok != self.token:
            return _json(401, {"message": "401 Unauthorized"})
        m = re.fullmatch(r"/api/v4/projects/([^/]+)(/issues(?:/(\d+)(/notes)?)?)?", call.path)
        if not m:
            return _json(404, {"error": "404 Not Found"})
        seg, sub, iid, notes = m.groups()
        # the id as GitLab takes it: the numeric id, or the path URL-encoded (a "/" left
        # unencoded splits the segment and matches no route above)
        if seg != str(self.numeric_id) and \
                urllib.parse.unquote(seg).lower() != self.project_id.lower():
            return _json(404, {"message": "404 Project Not Found"})
        meth = call.method
        if not sub:
            if meth != "GET":
                return _json(405, {"message": "405 Method Not Allowed"})
            return _json(200, self._project_json())
        if iid is None:
            if meth == "POST":
                return self._create(call)
            if meth == "GET":
                return self._list(call)
            return _json(405, {"message": "405 Method Not Allowed"})
        it = self._find(iid)
        if not it:
            return _json(404, {"message": "404 Not found"})
        if notes:
            if meth == "POST":
                return self._note(call, it)
            if meth == "GET":
                return _json(200, [c["json"] for c in self._comments if c["issue"] == it["iid"]])
            return _json(405, {"message": "405 Method Not Allowed"})
        if meth == "GET":
            return _json(200, it)
        if meth == "PUT":
            return self._update(call, it)
        return _json(405, {"message": "405 Method Not Allowed"})

    def _project_json(self):
        ns = self._path_with_namespace
        return {"id": self.numeric_id, "description": "", "name": ns.split("/")[-1],
                "name_with_namespace": ns.replace("/", " / "), "path": ns.split("/")[-1],
                "path_with_namespace": ns, "created_at": _now_iso(), "default_branch": "main",
                "web_url": f"https://gitlab.example.com/{ns}", "issues_enabled": True,
                "visibility": "private", "open_issues_count": sum(
                    1 for i in self._issues if i["state"] == "opened")}

    def _create(self, call):
        b = call.body
        if not isinstance(b, dict):
            return self._bad_json(call)
        title = b.get("title")
        if title is None or title == "":
            return _json(400, {"error": "title is missing"})
        if not isinstance(title, str):
            return _json(400, {"error": "title is invalid"})
        desc = b.get("description", "")
        if not isinstance(desc, str):
            return _json(400, {"error": "description is invalid"})
        labels = b.get("labels", "")
        if not isinstance(labels, str):
            return _json(400, {"error": "labels is invalid"})
        problems = {}
        if _chars(title) > 255:
            problems["title"] = ["is too long (maximum is 255 characters)"]
        if _chars(desc) > 1000000:
            problems["description"] = ["is too long (maximum is 1000000 characters)"]
        names = [x.strip() for x in labels.split(",") if x.strip()]
        if any(_chars(n) > 255 for n in names):
            problems["labels"] = ["is too long (maximum is 255 characters)"]
        if problems:
            return _json(400, {"message": problems})
        it = self._seed(title=title, labels=names, description=desc)
        if self._take_drop():
            return _DROP
        return _json(201, it)

    def _list(self, call):
        q = call.query
        want = [w.lower() for w in _labels_filter(q.get("labels"))]
        state = q.get("state", "all")
        if state not in ("opened", "closed", "all"):
            return _json(400, {"error": "state does not have a valid value"})
        out = [i for i in reversed(self._issues)
               if (state == "all" or i["state"] == state)
               and all(w in (n.lower() for n in i["labels"]) for w in want)]
        return _json(200, _page(out, q, 20))

    def _note(self, call, it):
        b = call.body
        if not isinstance(b, dict) or b.get("body") in (None, ""):
            return _json(400, {"error": "body is missing"})
        if not isinstance(b["body"], str):
            return _json(400, {"error": "body is invalid"})
        if _chars(b["body"]) > 1000000:
            return _json(400, {"message": {"note": ["is too long (maximum is 1000000 characters)"]}})
        self._next_comment += 1
        nid = self._next_comment
        j = {"id": nid, "type": None, "body": b["body"], "attachment": None,
             "author": {"id": 1, "username": "intervene-bot", "name": "intervene"},
             "created_at": _now_iso(), "updated_at": _now_iso(), "system": False,
             "noteable_id": it["id"], "noteable_type": "Issue", "noteable_iid": it["iid"],
             "resolvable": False, "confidential": False, "internal": False}
        it["user_notes_count"] += 1
        self._comments.append({"issue": it["iid"], "body": b["body"], "id": nid,
                               "t": time.monotonic(), "json": j})
        return _json(201, j)

    def _update(self, call, it):
        b = call.body
        if not isinstance(b, dict):
            return self._bad_json(call)
        ev = b.get("state_event")
        if ev not in (None, "close", "reopen"):
            return _json(400, {"error": "state_event does not have a valid value"})
        if ev == "close":
            it["state"], it["closed_at"] = "closed", _now_iso()
            self._closes.append({"issue": it["iid"], "t": time.monotonic()})
        elif ev == "reopen":
            it["state"], it["closed_at"] = "opened", None
        it["updated_at"] = _now_iso()
        return _json(200, it)


def _scoped_unique(labels):
    """GitLab keeps one label per scope ("a::b"): the last one given."""
    out = []
    for lab in labels:
        if "::" in lab:
            scope = lab.rsplit("::", 1)[0]
            out = [x for x in out if not ("::" in x and x.rsplit("::", 1)[0] == scope)]
        if lab.lower() not in (x.lower() for x in out):
            out.append(lab)
    return out


# =================================================================== Jira

_ADF_LOCK = threading.Lock()
_ADF = {"loaded": False, "validator": None, "path": None}


def _adf_validator():
    """The schema validator of tests/fuzz/validate_adf_outputs.py, loaded once; None
    when the schema or jsonschema is absent."""
    with _ADF_LOCK:
        if not _ADF["loaded"]:
            _ADF["loaded"] = True
            try:
                sys.path.insert(0, os.path.join(REPO, "tests", "fuzz"))
                import validate_adf_outputs as v  # noqa: E402
                if os.path.exists(v.DEFAULT_SCHEMA):
                    _ADF["validator"] = v.load_validator(v.DEFAULT_SCHEMA)
                    _ADF["path"] = v.DEFAULT_SCHEMA
            except ImportError:
                pass
        return _ADF["validator"]


def _adf_text_len(node):
    if isinstance(node, dict):
        n = len(node["text"]) if node.get("type") == "text" and isinstance(node.get("text"), str) else 0
        return n + sum(_adf_text_len(c) for c in node.get("content", []) or [])
    return 0


JIRA_NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
DEFAULT_TRANSITIONS = (("11", "To Do", "To Do", "new"),
                       ("21", "In Progress", "In Progress", "indeterminate"),
                       ("31", "Done", "Done", "done"))
_CATEGORIES = {"new": (2, "To Do", "blue-gray"), "indeterminate": (4, "In Progress", "yellow"),
               "done": (3, "Done", "green")}


class FakeJira(FakeTracker):
    provider = "jira"

    def __init__(self, email="bot@example.com", api_token="test-token", project_key="OPS",
                 priorities=("Highest", "High", "Medium", "Low", "Lowest"),
                 priorities_enabled=True, issue_types=("Bug", "Task", "Story", "Epic"),
                 transitions=None, **kw):
        self.email, self.api_token, self.project_key = email, api_token, project_key
        self.priorities = list(priorities)
        self.priorities_enabled = bool(priorities_enabled)
        self.issue_types = list(issue_types)
        self.transitions = [tuple(t) for t in (transitions or DEFAULT_TRANSITIONS)]
        self._validator = _adf_validator()
        self.adf_schema = _ADF["path"]
        super().__init__(**kw)

    def config_block(self):
        return {"base_url": self.url, "email": self.email, "api_token": self.api_token,
                "project_key": self.project_key}

    def _reset_state(self):
        super()._reset_state()
        self._next_n = 1

    def _set(self, key, value):
        if key != "priorities_enabled":
            raise KeyError(key)
        self.priorities_enabled = bool(value)

    def _err(self, status, messages=(), errors=None):
        return _json(status, {"errorMessages": list(messages), "errors": errors or {}})

    def _error(self, status, headers, call=None):
        if status == 401:
            return _text(401, "Client must be authenticated to access this resource.")
        return self._err(status, [REASONS.get(status, "Error")])

    def _bad_json(self, call):
        return self._err(400, ["Unexpected character: was expecting a JSON value"])

    def _find(self, ref):
        return next((i for i in self._issues if i["key"] == ref or i["id"] == ref), None)

    def _status(self, name, cat):
        cid, cname, color = _CATEGORIES[cat]
        sid = str(1 + next((i for i, t in enumerate(self.transitions) if t[2] == name), 99))
        return {"self": f"{self.url}/rest/api/3/status/{sid}", "name": name, "id": sid,
                "statusCategory": {"self": f"{self.url}/rest/api/3/statuscategory/{cid}",
                                   "id": cid, "key": cat, "colorName": color, "name": cname}}

    def _seed(self, title="seeded", labels=(), state="open", body="", description=None,
              priority=None, issue_type="Bug"):
        n = self._next_n
        self._next_n += 1
        iid = str(10000 + n)
        key = f"{self.project_key}-{n}"
        first = self.transitions[0]
        done = next((t for t in self.transitions if t[3] == "done"), first)
        st = done if state in ("closed", "done") else first
        fields = {"summary": title, "description": description,
                  "issuetype": {"name": issue_type},
                  "project": {"key": self.project_key, "id": "10000"},
                  "labels": list(labels), "priority": {"name": priority} if priority else None,
                  "status": self._status(st[2], st[3]), "created": _now_iso()}
        it = {"id": iid, "key": key, "self": f"{self.url}/rest/api/3/issue/{iid}", "fields": fields}
        self._issues.append(it)
        return it

    def _authorized(self, call):
        want = "Basic " + base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        return call.headers.get("authorization") == want

    def _handle(self, call):
        p, meth = call.path, call.method
        if p == "/rest/api/3/serverInfo" and meth == "GET":
            return _json(200, {"baseUrl": self.url, "version": "1001.0.0-SNAPSHOT",
                               "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
                               "buildNumber": 100000, "serverTitle": "Jira"})
        if not self._authorized(call):
            return _text(401, "Client must be authenticated to access this resource.",
                         {"WWW-Authenticate": 'Basic realm="protected-area"'})
        if p == "/rest/api/3/myself" and meth == "GET":
            return _json(200, {"self": f"{self.url}/rest/api/3/user?accountId=5b10a2844c20165700ede21g",
                               "accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian",
                               "emailAddress": self.email, "displayName": "intervene bot",
                               "active": True, "timeZone": "UTC", "locale": "en_US"})
        m = re.fullmatch(r"/rest/api/3/project/([^/]+)", p)
        if m and meth == "GET":
            if urllib.parse.unquote(m.group(1)) not in (self.project_key, "10000"):
                return self._err(404, [f"No project could be found with key '{urllib.parse.unquote(m.group(1))}'."])
            return _json(200, {"self": f"{self.url}/rest/api/3/project/10000", "id": "10000",
                               "key": self.project_key, "name": "Operations",
                               "projectTypeKey": "software", "simplified": False})
        if p in ("/rest/api/3/search", "/rest/api/2/search"):
            return self._err(410, ["The requested API has been removed. Please migrate to the "
                                   "/rest/api/3/search/jql API. A full migration guideline is "
                                   "available at https://developer.atlassian.com/changelog/#CHANGE-2046"])
        if p == "/rest/api/3/search/jql" and meth in ("POST", "GET"):
            return self._search(call)
        if p == "/rest/api/3/issue" and meth == "POST":
            return self._create(call)
        m = re.fullmatch(r"/rest/api/3/issue/([^/]+)(/comment|/transitions)?", p)
        if not m:
            return self._err(404, ["null for uri: " + p])
        it = self._find(urllib.parse.unquote(m.group(1)))
        if not it:
            return self._err(404, ["Issue does not exist or you do not have permission to see it."])
        sub = m.group(2)
        if sub == "/comment":
            if meth == "POST":
                return self._comment(call, it)
            if meth == "GET":
                cs = [c["json"] for c in self._comments if c["issue"] == it["key"]]
                return _json(200, {"startAt": 0, "maxResults": 5000, "total": len(cs), "comments": cs})
        elif sub == "/transitions":
            if meth == "GET":
                return _json(200, {"expand": "transitions", "transitions": self._available(it)})
            if meth == "POST":
                return self._transition(call, it)
        elif meth == "GET":
            return _json(200, self._issue_view(it, call.query.get("fields")))
        return self._err(405, ["Method not allowed"])

    def _issue_view(self, it, fields=None):
        out = {"expand": "renderedFields,names,schema,operations,editmeta,changelog",
               "id": it["id"], "self": it["self"], "key": it["key"]}
        want = [f.strip() for f in fields.split(",")] if fields else None
        out["fields"] = {k: v for k, v in it["fields"].items() if not want or k in want}
        return out

    def _available(self, it):
        cur = it["fields"]["status"]["name"]
        return [{"id": tid, "name": name, "to": self._status(sname, cat), "hasScreen": False,
                 "isGlobal": True, "isInitial": False, "isAvailable": True,
                 "isConditional": False, "isLooped": False}
                for tid, name, sname, cat in self.transitions if sname != cur]

    def _check_adf(self, doc):
        if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1 \
                or not isinstance(doc.get("content"), list):
            return False
        if self._validator is None:
            return True
        with _ADF_LOCK:
            return self._validator.is_valid(doc)

    def _create(self, call):
        b = call.body
        if not isinstance(b, dict) or not isinstance(b.get("fields"), dict):
            return self._err(400, ["Can not deserialize instance of issue create request: "
                                   "'fields' is required"])
        f = b["fields"]
        errors = {}
        known = {"project", "summary", "description", "issuetype", "priority", "labels"}
        for k in f:
            if k not in known:
                errors[k] = f"Field '{k}' cannot be set. It is not on the appropriate screen, or unknown."
        proj = f.get("project")
        if not isinstance(proj, dict) or proj.get("key") != self.project_key:
            errors["project"] = "valid project is required"
        summary = f.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif _chars(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        it_ = f.get("issuetype")
        if not isinstance(it_, dict) or it_.get("name") not in self.issue_types:
            errors["issuetype"] = "Specify an issue type"
        if "description" in f and f["description"] is not None:
            if not self._check_adf(f["description"]):
                errors["description"] = JIRA_NOT_ADF
            elif _adf_text_len(f["description"]) > 32767:
                errors["description"] = ("The entered text is too long. It exceeds the "
                                         "allowed limit of 32,767 characters.")
        labels = f.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors["labels"] = "Field 'labels' must be an array of strings."
        else:
            for lab in labels:
                if " " in lab:
                    errors["labels"] = f"The label '{lab}' contains spaces which is invalid."
                elif _chars(lab) > 255:
                    errors["labels"] = f"The label '{lab}' exceeds the maximum length of 255 characters."
        if "priority" in f:
            pr = f["priority"]
            if not self.priorities_enabled:
                errors["priority"] = ("Field 'priority' cannot be set. It is not on the "
                                      "appropriate screen, or unknown.")
            elif not isinstance(pr, dict) or pr.get("name") not in self.priorities:
                errors["priority"] = (f"Priority name '{pr.get('name') if isinstance(pr, dict) else pr}'"
                                      " is not valid")
        if errors:
            return self._err(400, [], errors)
        it = self._seed(title=summary, labels=labels, description=f.get("description"),
                        priority=(f.get("priority") or {}).get("name"), issue_type=it_["name"])
        if self._take_drop():
            return _DROP
        return _json(201, {"id": it["id"], "key": it["key"], "self": it["self"]})

    def _comment(self, call, it):
        b = call.body
        if not isinstance(b, dict) or "body" not in b:
            return self._err(400, [], {"comment": "Comment body can not be empty!"})
        if not self._check_adf(b["body"]):
            return self._err(400, [], {"comment": JIRA_NOT_ADF})
        if _adf_text_len(b["body"]) > 32767:
            return self._err(400, [], {"comment": "The entered text is too long. It exceeds "
                                                  "the allowed limit of 32,767 characters."})
        self._next_comment += 1
        cid = str(self._next_comment)
        j = {"self": f"{it['self']}/comment/{cid}", "id": cid,
             "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "intervene bot"},
             "body": b["body"], "created": _now_iso(), "updated": _now_iso(), "jsdPublic": True}
        self._comments.append({"issue": it["key"], "body": b["body"], "id": int(cid),
                               "t": time.monotonic(), "json": j})
        return _json(201, j)

    def _transition(self, call, it):
        b = call.body
        tid = (b or {}).get("transition", {}).get("id") if isinstance(b, dict) and \
            isinstance(b.get("transition"), dict) else None
        t = next((t for t in self._available(it) if t["id"] == str(tid)), None)
        if not t:
            return self._err(400, [f"Transition id '{tid}' is not valid for this issue."])
        it["fields"]["status"] = t["to"]
        if t["to"]["statusCategory"]["key"] == "done":
            self._closes.append({"issue": it["key"], "transition": t["id"], "t": time.monotonic()})
        return _Response(204)

    _JQL = re.compile(r'\s*project\s*=\s*"?([A-Za-z][A-Za-z0-9_]*)"?\s+AND\s+labels\s*=\s*"([^"]*)"'
                      r'(?:\s+ORDER\s+BY\s+\w+(?:\s+(?:ASC|DESC))?)?\s*', re.I)

    def _search(self, call):
        b = call.body if call.method == "POST" else dict(call.query)
        if not isinstance(b, dict) or not isinstance(b.get("jql"), str):
            return self._err(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        m = self._JQL.fullmatch(b["jql"])
        if not m:
            return self._err(400, [f"Error in the JQL Query: the fake understands only "
                                   f"project = KEY AND labels = \"LABEL\", got {b['jql']!r}"])
        if m.group(1) != self.project_key:
            return self._err(400, [f"The value '{m.group(1)}' does not exist for the field 'project'."])
        fields = b.get("fields") or []
        if isinstance(fields, str):
            fields = fields.split(",")
        found = [i for i in self._issues if m.group(2) in i["fields"]["labels"]]
        try:
            limit = max(1, min(5000, int(b.get("maxResults", 50))))
        except (TypeError, ValueError):
            limit = 50
        out = []
        for i in found[:limit]:
            o = {"id": i["id"], "key": i["key"], "self": i["self"]}
            if fields:
                o["fields"] = {k: v for k, v in i["fields"].items()
                               if k in fields or "*all" in fields or "*navigable" in fields}
            out.append(o)
        return _json(200, {"issues": out, "isLast": len(found) <= limit})


# =================================================================== script mode

PROVIDERS = {"github": FakeGitHub, "gitlab": FakeGitLab, "jira": FakeJira}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Serve a stand-in tracker API (see the docstring).")
    ap.add_argument("--provider", required=True, choices=sorted(PROVIDERS))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="test-token", help="GitHub/GitLab token")
    ap.add_argument("--owner", default="acme")
    ap.add_argument("--repo", default="ops")
    ap.add_argument("--project-id", default="acme/ops", help="GitLab project id or path")
    ap.add_argument("--numeric-id", type=int, default=4242)
    ap.add_argument("--email", default="bot@example.com")
    ap.add_argument("--api-token", default="test-token", help="Jira API token")
    ap.add_argument("--project-key", default="OPS")
    ap.add_argument("--no-priorities", action="store_true",
                    help="Jira: the create screen has no priority field")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    a = ap.parse_args(argv)
    common = {"host": a.host, "port": a.port}
    if a.provider == "github":
        fake = FakeGitHub(token=a.token, owner=a.owner, repo=a.repo, **common)
    elif a.provider == "gitlab":
        fake = FakeGitLab(token=a.token, project_id=a.project_id, numeric_id=a.numeric_id, **common)
    else:
        fake = FakeJira(email=a.email, api_token=a.api_token, project_key=a.project_key,
                        priorities_enabled=not a.no_priorities, **common)
    done = threading.Event()
    fake.on_shutdown = done.set
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    print(f"port {fake.port}", flush=True)
    if a.exit_on_stdin_eof:
        def watch():
            while not done.is_set():
                r, _, _ = select.select([sys.stdin], [], [], 0.2)
                if r and not os.read(sys.stdin.fileno(), 4096):
                    done.set()
        threading.Thread(target=watch, daemon=True).start()
    while not done.wait(0.5):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
