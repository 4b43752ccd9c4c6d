#!/usr/bin/python3
"""Stand-in Elasticsearch 8.x for tests of intervene's playbook actions.

FakeElasticsearch serves real HTTP/1.1 on 127.0.0.1 (port 0: the kernel picks one) from a
background thread, answers the few endpoints intervene's playbooks use with the shapes of
Elasticsearch 8.11, and checks what it receives as Elasticsearch does (authentication,
Content-Type, the route and method, query parameters, the body, index names). Everything
it receives is kept in memory for assertions. Python 3 standard library only.

In-process (pytest)::

    from fakes.elasticsearch import FakeElasticsearch

    with FakeElasticsearch(api_key="a2V5OnNlY3JldA==") as es:
        cfg = {"actions": {"elasticsearch": es.config_block()}}
        ...                                   # drive intervene
        call = es.wait_for_calls(1, method="POST", path=r"/_close$")[0]
        assert es.index_state("products") == "closed"

API (same conventions as fakes/trackers.py)

FakeElasticsearch(api_key=None, username=None, password=None,
                  indices=("products", "articles"), host="127.0.0.1", port=0)
  api_key: require "Authorization: ApiKey <api_key>" (the encoded key, as sent);
  username/password: require "Authorization: Basic base64(user:password)". With both,
  either is accepted; with neither, security is off and any Authorization is ignored.
  The scheme compares ignoring case, as Elasticsearch does. indices: the indices that
  exist (all open).
  start() -> self, stop(); context manager. stop() returns promptly even while requests
  are held (hang, delay): their connections are closed, and so are idle keep-alive
  connections, so nothing answers on the old port after stop().
  port, url ("http://127.0.0.1:<port>"), config_block() -> {"url", "api_key",
  "username", "password"} for the config's actions.elasticsearch section.

  State (thread-safe; reading it copies under the lock)
  calls                list of Call in arrival order (listed on arrival; status and outcome
                       are set once answered). Call: method, path (raw: percent-encoding
                       kept, no query), uri (the raw request target with the query), query
                       (dict str -> last value, decoded), headers (dict, lower-case
                       names), body (parsed JSON or None), raw (bytes), index (the decoded
                       index name of the path, or None), t (time.monotonic() on arrival),
                       status (answered, or None), outcome ("answered", "failed",
                       "delayed", "hung", "reset"). as_dict() gives JSON-able data.
  calls_to(method=None, path=None)   method equal, path a regex (re.search) on Call.path
  wait_for_calls(n, timeout=10.0, method=None, path=None) -> list   at least n such calls
                       arrived (AssertionError on timeout). Arrival, not answer: wait for
                       c.status with wait_answered(n, ...) (same arguments).
  index_state(name)    "open", "closed", or None (no such index)
  indices              {name: "open" | "closed"}
  tasks                task ids issued by _update_by_query?wait_for_completion=false
  set_index_state(name, state)  create the index or set its state ("open"/"closed"),
                       nothing recorded; remove_index(name)
  clear()              forget calls, tasks and pending controls (index states kept)

  Controls (thread-safe; each applies to requests arriving after it; rules are taken in
  the order given, the first matching rule of a kind wins; path is a regex on Call.path)
  fail_next(n, status, body=None, *, headers=None, method=None, path=None)
                       answer the next n matching requests with status (nothing happens).
                       body: dict/list (JSON), str/bytes (as is, text/plain), or None for
                       an Elasticsearch error body of that status.
  hang_next(n, *, method=None, path=None)   read the request, never answer; the
                       connection is closed at stop_hanging() or stop()
  hang() / stop_hanging(); hanging          every request from now on is held
  delay_next(n, seconds, *, method=None, path=None)   the request is handled on arrival
                       (its effect happens, as on a slow cluster) and answered after
                       seconds (or dropped at stop())
  reset_next(n, *, method=None, path=None)  read the request, then reset the connection
                       (TCP RST, no answer; nothing happens)
  Order of the checks of one request: hang, reset, fail, delay.

What it checks (in Elasticsearch's order)
  1. Authentication (when configured), before anything else, on every path: 401 with
     WWW-Authenticate 'Basic realm="security" charset="UTF-8"' and 'ApiKey', body
     security_exception "missing authentication credentials for REST request [<uri>]"
     (no Authorization, or a scheme not configured), "unable to authenticate user [u] for
     REST request [<uri>]" (wrong basic), "unable to authenticate with provided
     credentials and anonymous access is not allowed for this request" (wrong API key).
  2. A request with a body must say Content-Type application/json (parameters such as
     charset allowed; also application/vnd.elasticsearch+json;compatible-with=8), else 406
     {"error": "Content-Type header [<value>] is not supported", "status": 406}.
  3. Route: an unknown path is 400 {"error": "no handler found for uri [<uri>] and method
     [<M>]"} (Elasticsearch's own status; it does not answer 404 there), a known path with
     another method 405 {"error": "Incorrect HTTP method for uri [<uri>] and method [<M>],
     allowed: [POST]", "status": 405} with an Allow header.
  4. Query parameters: booleans must be true, false or empty (= true), else 400
     illegal_argument_exception "Failed to parse value [x] as only [true] or [false] are
     allowed."; then unknown parameters: 400 "request [<path>] contains unrecognized
     parameter(s): [a], [b]" (with "-> did you mean [query]?" as Elasticsearch adds).
     pretty, human, error_trace, filter_path are accepted everywhere (pretty indents).
  5. A body on an endpoint that takes none (all but _update_by_query): 400 "request [POST
     <path>] does not support having a body". _update_by_query: a JSON object with only
     query, script, max_docs, conflicts, slice, size (else 400 parsing_exception).
  6. The index of the path, percent-decoded as UTF-8 ("+" stays "+", as in 8.x): an
     invalid escape is 400; then Elasticsearch's index name rules: 400
     invalid_index_name_exception "Invalid index name [X], <why>" for: not lowercase, a
     character of \\ / * ? " < > | space comma, '#', ':', starting with _ - or +, "." or
     "..", empty, over 255 UTF-8 bytes; and (stricter than Elasticsearch, which would
     look such a name up and answer 404, to catch a bad escape) a control character such
     as NUL. "_all" is accepted for the cache clear only. Wildcards and comma lists are
     therefore refused (Elasticsearch would expand them; intervene must name one index).
  7. Unknown index: 404 index_not_found_exception "no such index [x]" (unless
     ignore_unavailable=true: nothing is done). A closed index: 400
     index_closed_exception "closed" for reload, update by query and cache clear.

Endpoints
  GET|HEAD /                              the node info document (version 8.11.1)
  GET|POST /{index}/_reload_search_analyzers
      {"_shards": {"total": 2, "successful": 2, "failed": 0}, "reload_details":
       [{"index", "reloaded_analyzers": ["synonym_analyzer"], "reloaded_node_ids": ["n1"]}]}
  POST /{index}/_close   {"acknowledged": true, "shards_acknowledged": true, "indices":
                          {"<index>": {"closed": true}}}; the index becomes closed
  POST /{index}/_open    {"acknowledged": true, "shards_acknowledged": true}; open again
  POST /{index}/_update_by_query   conflicts=abort|proceed; wait_for_completion=false:
       {"task": "oTUltX4IQMOUUVeiohTt8A:<n>"} (n from 12345 up, listed in tasks), else the
       synchronous summary {"took", "timed_out", "total", "updated", ...}
  POST /_cache/clear, /{index}/_cache/clear, /_all/_cache/clear  (query, request,
       fielddata, fields, index, ...) {"_shards": {"total": 2 per open index,
       "successful": ..., "failed": 0}}
  GET /_tasks/{node:id}  a task issued here: {"completed": true, "task": {...},
       "response": {...}}; another: 404 resource_not_found_exception
Every answer has X-elastic-product: Elasticsearch and Content-Type application/json.

Script mode (for non-Python tests)::

    elasticsearch.py [--api-key K] [--username U --password P] [--index NAME ...]
                     [--host 127.0.0.1] [--port 0] [--exit-on-stdin-eof]

prints "port N" (flushed), then serves until SIGTERM/SIGINT, POST /_fake/shutdown or the
end of stdin (with --exit-on-stdin-eof). Controls, never authenticated nor recorded (no
index name may start with "_", so they cannot clash with Elasticsearch's routes):
    GET  /_fake/state      {"calls", "indices", "tasks", "hanging"}
    POST /_fake/fail_next  {"n", "status", "body"?, "headers"?, "method"?, "path"?}
    POST /_fake/hang_next, /_fake/reset_next  {"n", "method"?, "path"?}
    POST /_fake/delay_next {"n", "seconds", "method"?, "path"?}
    POST /_fake/set_index_state {"name", "state"}
    POST /_fake/hang, /_fake/stop_hanging, /_fake/clear, /_fake/shutdown  {}
"""

import argparse
import base64
import difflib
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NODE_ID = "oTUltX4IQMOUUVeiohTt8A"
VERSION = "8.11.1"
RELOADED_ANALYZERS = ["synonym_analyzer"]
SHARDS_PER_INDEX = 2  # one primary, one replica

REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout",
    409: "Conflict", 413: "Request Entity Too Large", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}

CHALLENGES = ['Basic realm="security" charset="UTF-8"', "ApiKey"]

GLOBAL_PARAMS = {"pretty": "bool", "human": "bool", "error_trace": "bool",
                 "filter_path": "str"}
_INDICES_OPTS = {"allow_no_indices": "bool", "expand_wildcards": "wild",
                 "ignore_unavailable": "bool"}
ROUTES = [
    # (segments, methods, name, params, takes a body)
    ((), ("GET", "HEAD"), "info", {}, False),
    (("{index}", "_reload_search_analyzers"), ("GET", "POST"), "reload",
     dict(_INDICES_OPTS, resource="str"), False),
    (("{index}", "_close"), ("POST",), "close",
     dict(_INDICES_OPTS, master_timeout="str", timeout="str", wait_for_active_shards="str"),
     False),
    (("{index}", "_open"), ("POST",), "open",
     dict(_INDICES_OPTS, master_timeout="str", timeout="str", wait_for_active_shards="str"),
     False),
    (("{index}", "_update_by_query"), ("POST",), "update_by_query",
     dict(_INDICES_OPTS, analyzer="str", analyze_wildcard="bool", conflicts="str",
          default_operator="str", df="str", **{"from": "str"}, lenient="bool",
          max_docs="str", pipeline="str", preference="str", q="str", refresh="bool",
          request_cache="bool", requests_per_second="str", routing="str", scroll="str",
          scroll_size="str", search_type="str", search_timeout="str", slices="str",
          sort="str", stats="str", terminate_after="str", timeout="str", version="bool",
          version_type="str", wait_for_active_shards="str", wait_for_completion="bool"),
     True),
    (("_cache", "clear"), ("POST",), "cache_clear",
     dict(_INDICES_OPTS, fielddata="bool", fields="str", index="str", query="bool",
          request="bool"), False),
    (("{index}", "_cache", "clear"), ("POST",), "cache_clear",
     dict(_INDICES_OPTS, fielddata="bool", fields="str", index="str", query="bool",
          request="bool"), False),
    (("_tasks", "{task}"), ("GET",), "task",
     {"wait_for_completion": "bool", "timeout": "str"}, False),
]
UBQ_BODY_KEYS = {"query", "script", "max_docs", "conflicts", "slice", "size"}
INVALID_CHARS = '\\/*?"<>| ,'


class Call:
    """One request the fake received (see the module docstring)."""

    __slots__ = ("method", "path", "uri", "query", "headers", "body", "raw", "index", "t",
                 "status", "outcome")

    def __init__(self, method, path, uri, query, headers, body, raw, t):
        self.method, self.path, self.uri, self.query = method, path, uri, query
        self.headers, self.body, self.raw, self.t = headers, body, raw, t
        self.index = None
        self.status = None
        self.outcome = None

    def as_dict(self):
        return {"method": self.method, "path": self.path, "uri": self.uri,
                "query": self.query, "headers": self.headers, "body": self.body,
                "raw": self.raw.decode("utf-8", "replace"), "index": self.index,
                "t": self.t, "status": self.status, "outcome": self.outcome}

    def __repr__(self):
        return f"<Call {self.method} {self.uri} -> {self.status} {self.outcome}>"


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
    def __init__(self, status, body=None, headers=None, content_type="application/json"):
        self.status = status
        self.body = body
        self.headers = list(headers or [])  # (name, value): a name may repeat
        self.content_type = content_type

    def encode(self, pretty=False):
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        if pretty:
            return (json.dumps(self.body, indent=2) + "\n").encode("utf-8")
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def es_error(status, type_, reason, **extra):
    """Elasticsearch's error document: the cause repeated as root_cause."""
    cause = {"type": type_, "reason": reason}
    cause.update(extra)
    err = {"root_cause": [dict(cause)]}
    err.update(cause)
    return _Response(status, {"error": err, "status": status})


def _illegal(reason):
    return es_error(400, "illegal_argument_exception", reason)


DEFAULT_ERRORS = {
    400: ("illegal_argument_exception", "injected failure"),
    401: ("security_exception", "unable to authenticate with provided credentials and "
          "anonymous access is not allowed for this request"),
    403: ("security_exception", "action [indices:admin/close] is unauthorized for API key"),
    404: ("index_not_found_exception", "no such index [injected]"),
    408: ("timeout_exception", "request timed out"),
    409: ("version_conflict_engine_exception", "version conflict"),
    429: ("es_rejected_execution_exception", "rejected execution of coordinating operation "
          "[coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, "
          "coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]"),
    500: ("exception", "injected failure"),
    502: ("exception", "bad gateway"),
    503: ("cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not "
          "recovered / initialized];"),
    504: ("process_cluster_event_timeout_exception", "failed to process cluster event "
          "within 30s"),
}


def _default_error(status):
    t, r = DEFAULT_ERRORS.get(status, ("exception", "injected failure"))
    resp = es_error(status, t, r)
    if status == 401:
        resp.headers += [("WWW-Authenticate", c) for c in CHALLENGES]
    return resp


def invalid_index_reason(name, allow_all=False):
    """Why Elasticsearch refuses name as an index name, or None when it is valid."""
    if allow_all and name == "_all":
        return None
    if any(c in INVALID_CHARS for c in name):
        return 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
    if not name:
        return "must not be empty"
    if "#" in name:
        return "must not contain '#'"
    if ":" in name:
        return "must not contain ':'"
    if name[0] in "_-+":
        return "must not start with '_', '-', or '+'"
    n = len(name.encode("utf-8", "surrogatepass"))
    if n > 255:
        return f"index name is too long, ({n} > 255)"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if name.lower() != name:
        return "must be lowercase"
    if any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 for c in name):
        return "must not contain control characters"  # the fake's own, stricter rule
    return None


_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def decode_component(s):
    """Elasticsearch 8's RestUtils.decodeComponent for a path segment (ValueError)."""
    m = _ESCAPE.search(s)
    if m:
        if len(s) - m.start() < 3 and re.fullmatch(r"%[0-9A-Fa-f]?", s[m.start():]):
            raise ValueError(f"unterminated escape sequence at end of string: {s}")
        raise ValueError(f"invalid escape sequence `{s[m.start():m.start() + 3]}' at index "
                         f"{m.start()} of: {s}")
    try:
        return urllib.parse.unquote(s, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ValueError(f"invalid UTF-8 in escaped path segment: {s}") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-elasticsearch"
    sys_version = ""
    fake = None  # set per server

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.fake._conn_opened(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.fake._conn_closed(self.connection)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self):
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        self.fake._dispatch(self, raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def send(self, resp, pretty=False):
        data = resp.encode(pretty)
        try:
            self.send_response(resp.status, REASONS.get(resp.status))
            self.send_header("X-elastic-product", "Elasticsearch")
            self.send_header("Content-Type", resp.content_type)
            for k, v in resp.headers:
                self.send_header(k, str(v))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def drop(self, rst=False):
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeElasticsearch:
    """A stand-in Elasticsearch 8 node (see the module docstring)."""

    def __init__(self, api_key=None, username=None, password=None,
                 indices=("products", "articles"), host="127.0.0.1", port=0):
        self.api_key, self.username, self.password = api_key, username, password
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server = None
        self._thread = None
        self._conns = set()
        self._stopping = threading.Event()
        self._release = threading.Event()
        self._hanging = False
        self._indices = {name: {"state": "open", "uuid": f"uuid-{name}"} for name in indices}
        self._reset_state()

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        if self._server:
            return self
        self._stopping.clear()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-elasticsearch", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if not self._server:
            return
        self._stopping.set()
        self.stop_hanging()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # idle keep-alive connections too: nothing answers after stop()
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _conn_opened(self, conn):
        with self._lock:
            self._conns.add(conn)

    def _conn_closed(self, conn):
        with self._lock:
            self._conns.discard(conn)

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return f"http://{self._host}:{self.port}"

    def config_block(self):
        return {"url": self.url, "api_key": self.api_key or "",
                "username": self.username or "", "password": self.password or ""}

    # ---------------------------------------------------------------- state
    def _reset_state(self):
        with self._lock:
            self._calls = []
            self._tasks = []
            self._next_task = 12345
            self._fail, self._hangs, self._delays, self._resets = [], [], [], []

    def clear(self):
        self.stop_hanging()
        self._reset_state()

    @property
    def calls(self):
        with self._lock:
            return list(self._calls)

    @property
    def tasks(self):
        with self._lock:
            return [t["id"] for t in self._tasks]

    @property
    def indices(self):
        with self._lock:
            return {k: v["state"] for k, v in self._indices.items()}

    def index_state(self, name):
        with self._lock:
            ix = self._indices.get(name)
            return ix["state"] if ix else None

    def set_index_state(self, name, state="open"):
        if state not in ("open", "closed"):
            raise ValueError(f"state must be open or closed, not {state!r}")
        with self._lock:
            self._indices.setdefault(name, {"state": state, "uuid": f"uuid-{name}"})
            self._indices[name]["state"] = state

    def remove_index(self, name):
        with self._lock:
            self._indices.pop(name, None)

    def calls_to(self, method=None, path=None):
        rx = re.compile(path) if path else None
        with self._lock:
            return [c for c in self._calls
                    if (not method or c.method == method.upper())
                    and (not rx or rx.search(c.path))]

    def _wait(self, n, timeout, method, path, answered):
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = [c for c in self.calls_to(method, path)
                       if not answered or c.outcome not in (None, "hung")]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"elasticsearch fake: {len(got)} of {n} "
                        f"{'answered ' if answered else ''}calls ({method or 'any'} "
                        f"{path or 'any path'}) after {timeout} s: {self._calls!r}")
                self._changed.wait(left)

    def wait_for_calls(self, n, timeout=10.0, method=None, path=None):
        return self._wait(n, timeout, method, path, False)

    def wait_answered(self, n, timeout=10.0, method=None, path=None):
        return self._wait(n, timeout, method, path, True)

    # ---------------------------------------------------------------- controls
    def fail_next(self, n, status, body=None, *, headers=None, method=None, path=None):
        with self._lock:
            self._fail.append(_Rule(n, method, path, status=int(status), body=body,
                                    headers=dict(headers or {})))

    def hang_next(self, n, *, method=None, path=None):
        with self._lock:
            self._hangs.append(_Rule(n, method, path))

    def delay_next(self, n, seconds, *, method=None, path=None):
        with self._lock:
            self._delays.append(_Rule(n, method, path, seconds=float(seconds)))

    def reset_next(self, n, *, method=None, path=None):
        with self._lock:
            self._resets.append(_Rule(n, method, path))

    def hang(self):
        with self._lock:
            self._hanging = True

    def stop_hanging(self):
        """End hang() and let every held request go: their connections are closed."""
        with self._lock:
            self._hanging = False
            self._release.set()
            self._release = threading.Event()

    @property
    def hanging(self):
        return self._hanging

    # ---------------------------------------------------------------- dispatch
    def _record(self, call, status, outcome):
        with self._changed:
            call.status, call.outcome = status, outcome
            self._changed.notify_all()

    def _dispatch(self, h, raw):
        target = h.path
        path, _, qs = target.partition("?")
        if path.startswith("/_fake/"):
            return self._control(h, path[len("/_fake/"):], raw)
        try:
            query = dict(urllib.parse.parse_qsl(qs, keep_blank_values=True))
        except ValueError:
            query = {}
        headers = {k.lower(): v for k, v in h.headers.items()}
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        call = Call(h.command, path, target, query, headers, body, raw, time.monotonic())
        m = h.command
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
            release = self._release
            hang = self._hanging or any(r.take(m, path) for r in self._hangs)
            reset = not hang and any(r.take(m, path) for r in self._resets)
            fail = delay = None
            if not hang and not reset:
                fail = next((r for r in self._fail if r.take(m, path)), None)
            if not (hang or reset or fail):
                delay = next((r for r in self._delays if r.take(m, path)), None)
        if hang:
            self._record(call, None, "hung")
            while not release.wait(0.05):
                if self._stopping.is_set():
                    break
            return h.drop()
        if reset:
            self._record(call, None, "reset")
            return h.drop(rst=True)
        pretty = query.get("pretty") in ("", "true")
        if fail:
            kw = fail.kw
            resp = _default_error(kw["status"])
            if kw["body"] is not None:
                resp.body = kw["body"]
                if isinstance(kw["body"], (str, bytes)):
                    resp.content_type = "text/plain; charset=UTF-8"
            resp.headers += list(kw["headers"].items())
            self._record(call, resp.status, "failed")
            return h.send(resp, pretty)
        with self._lock:
            resp = self._handle(call)
        if delay:
            self._stopping.wait(delay.kw["seconds"])
            if self._stopping.is_set():
                self._record(call, None, "hung")
                return h.drop()
            self._record(call, resp.status, "delayed")
        else:
            self._record(call, resp.status, "answered")
        return h.send(resp, pretty)

    # ---------------------------------------------------------------- Elasticsearch
    def _auth_error(self, call):
        """None when the request is authenticated, else the 401 answer. Like a secured
        cluster, every credential of a known scheme is checked (a basic one against the
        native realm even when only an API key is configured here)."""
        uri = call.uri
        auth = call.headers.get("authorization")
        scheme, _, cred = (auth or "").strip().partition(" ")
        scheme = scheme.lower()
        cred = cred.strip()
        if scheme == "apikey":
            if self.api_key is not None and cred == self.api_key:
                return None
            return self._401("unable to authenticate with provided credentials and anonymous "
                             "access is not allowed for this request",
                             additional_unsuccessful_credentials="API key: unable to find "
                             "apikey with id " + _api_key_id(cred))
        if scheme == "basic":
            try:
                user, _, pw = base64.b64decode(cred, validate=True).decode("utf-8").partition(":")
            except ValueError:
                user, pw = None, None
            if self.username is not None and user == self.username \
                    and pw == (self.password or ""):
                return None
            return self._401(f"unable to authenticate user [{user or ''}] for REST request "
                             f"[{uri}]")
        return self._401(f"missing authentication credentials for REST request [{uri}]")

    @staticmethod
    def _401(reason, **extra):
        resp = es_error(401, "security_exception", reason, **extra,
                        header={"WWW-Authenticate": list(CHALLENGES)})
        resp.headers += [("WWW-Authenticate", c) for c in CHALLENGES]
        return resp

    @staticmethod
    def _json_type(ct):
        mt = (ct or "").split(";")[0].strip().lower()
        return mt in ("application/json", "application/vnd.elasticsearch+json")

    @staticmethod
    def _route(path):
        """[(literal segments, route, path params)] of the routes whose pattern matches path,
        best first (whatever their methods)."""
        if not path.startswith("/"):
            return []
        segs = () if path == "/" else tuple(path[1:].split("/"))
        found = []
        for r in ROUTES:
            pat = r[0]
            if len(pat) != len(segs):
                continue
            params = {}
            ok = True
            literal = 0
            for p, s in zip(pat, segs):
                if p.startswith("{"):
                    if not s:
                        ok = False
                        break
                    params[p[1:-1]] = s
                elif p == s:
                    literal += 1
                else:
                    ok = False
                    break
            if ok:
                found.append((literal, r, params))
        found.sort(key=lambda x: -x[0])  # literal segments win, as in Elasticsearch's trie
        return found

    def _handle(self, call):
        found = self._route(call.path)
        match = next(((r, p) for _, r, p in found if call.method in r[1]), None)
        if match and "index" in match[1]:
            try:
                call.index = decode_component(match[1]["index"])
            except ValueError:
                pass
        if self.api_key is not None or self.username is not None:
            err = self._auth_error(call)
            if err:
                return err
        if call.raw and not self._json_type(call.headers.get("content-type")):
            return _Response(406, {"error": f"Content-Type header "
                                            f"[{call.headers.get('content-type', '')}] is not "
                                            f"supported", "status": 406})
        if not match:
            if found:
                allowed = sorted({m for _, r, _ in found for m in r[1]})
                return _Response(405, {"error": f"Incorrect HTTP method for uri [{call.uri}] "
                                                f"and method [{call.method}], allowed: "
                                                f"[{', '.join(allowed)}]", "status": 405},
                                 [("Allow", ",".join(allowed))])
            return _Response(400, {"error": f"no handler found for uri [{call.uri}] and "
                                            f"method [{call.method}]"})
        route, params = match
        _, _, name, known, takes_body = route
        known = dict(GLOBAL_PARAMS, **known)
        q = call.query
        for k, v in q.items():
            if known.get(k) == "bool" and v not in ("", "true", "false"):
                return _illegal(f"Failed to parse value [{v}] as only [true] or [false] are "
                                f"allowed.")
            if known.get(k) == "wild":
                for w in v.split(","):
                    if w not in ("all", "open", "closed", "hidden", "none"):
                        return _illegal(f"No valid expand wildcard value [{w}]")
        unknown = sorted(k for k in q if k not in known)
        if unknown:
            parts = []
            for k in unknown:
                close = difflib.get_close_matches(k, sorted(known), n=1, cutoff=0.75)
                parts.append(f"[{k}]" + (f" -> did you mean [{close[0]}]?" if close else ""))
            plural = "s" if len(unknown) > 1 else ""
            return _illegal(f"request [{call.path}] contains unrecognized parameter{plural}: "
                            f"{', '.join(parts)}")
        if call.raw and not takes_body:
            return _illegal(f"request [{call.method} {call.path}] does not support having a "
                            f"body")
        if call.raw and call.body is None:
            return es_error(400, "x_content_parse_exception",
                            "[1:1] Unexpected character: the body is not valid JSON")
        if "index" in params:
            try:
                index = decode_component(params["index"])
            except ValueError as e:
                return _illegal(str(e))
            call.index = index
            why = invalid_index_reason(index, allow_all=(name == "cache_clear"))
            if why:
                return es_error(400, "invalid_index_name_exception",
                                f"Invalid index name [{index}], {why}",
                                index_uuid="_na_", index=index)
        elif name == "cache_clear":
            index = "_all"
        else:
            index = None
        try:
            return getattr(self, "_do_" + name)(call, index, params)
        except ValueError as e:
            return _illegal(str(e))
        except Exception as e:  # a bug of the fake: say so rather than leave the client hanging
            return es_error(500, "exception", f"fake elasticsearch: {type(e).__name__}: {e}")

    def _b(self, q, key, default=False):
        v = q.get(key)
        return default if v is None else v in ("", "true")

    def _resolve(self, call, index, closed_ok=False):
        """The target indices, or an error response."""
        if index == "_all":
            return [n for n, ix in sorted(self._indices.items()) if ix["state"] == "open"]
        ix = self._indices.get(index)
        if ix is None:
            if self._b(call.query, "ignore_unavailable"):
                return []
            return es_error(404, "index_not_found_exception", f"no such index [{index}]",
                            **{"resource.type": "index_or_alias", "resource.id": index,
                               "index_uuid": "_na_", "index": index})
        if ix["state"] == "closed" and not closed_ok:
            if self._b(call.query, "ignore_unavailable"):
                return []
            return es_error(400, "index_closed_exception", "closed",
                            index_uuid=ix["uuid"], index=index)
        return [index]

    @staticmethod
    def _shards(n):
        t = SHARDS_PER_INDEX * n
        return {"total": t, "successful": t, "failed": 0}

    def _do_info(self, call, index, params):
        return _Response(200, {
            "name": "es-node-1", "cluster_name": "fake-cluster",
            "cluster_uuid": "Xq2t9Q6uRCuZ0Uq9mB9rTg",
            "version": {"number": VERSION, "build_flavor": "default", "build_type": "docker",
                        "build_hash": "6f9ff581fbcde658e6f69d6ce03050f060d1fd0c",
                        "build_date": "2023-11-11T10:05:59.421038163Z",
                        "build_snapshot": False, "lucene_version": "9.8.0",
                        "minimum_wire_compatibility_version": "7.17.0",
                        "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "You Know, for Search"})

    def _do_reload(self, call, index, params):
        got = self._resolve(call, index)
        if isinstance(got, _Response):
            return got
        return _Response(200, {"_shards": self._shards(len(got)), "reload_details": [
            {"index": n, "reloaded_analyzers": list(RELOADED_ANALYZERS),
             "reloaded_node_ids": ["n1"]} for n in got]})

    def _do_close(self, call, index, params):
        got = self._resolve(call, index, closed_ok=True)
        if isinstance(got, _Response):
            return got
        for n in got:
            self._indices[n]["state"] = "closed"
        return _Response(200, {"acknowledged": True, "shards_acknowledged": True,
                               "indices": {n: {"closed": True} for n in got}})

    def _do_open(self, call, index, params):
        got = self._resolve(call, index, closed_ok=True)
        if isinstance(got, _Response):
            return got
        for n in got:
            self._indices[n]["state"] = "open"
        return _Response(200, {"acknowledged": True, "shards_acknowledged": True})

    def _do_update_by_query(self, call, index, params):
        b = call.body
        if call.raw:
            if not isinstance(b, dict):
                return es_error(400, "parsing_exception", "request body is required to be an "
                                "object", line=1, col=1)
            for k, v in b.items():
                if k not in UBQ_BODY_KEYS:
                    tok = ("START_OBJECT" if isinstance(v, dict) else "START_ARRAY"
                           if isinstance(v, list) else "VALUE_STRING")
                    return es_error(400, "parsing_exception",
                                    f"Unknown key for a {tok} in [{k}].", line=1, col=2)
        conflicts = call.query.get("conflicts", (b or {}).get("conflicts", "abort")
                                   if isinstance(b, dict) else "abort")
        if conflicts not in ("abort", "proceed"):
            return _illegal(f'conflicts may only be "proceed" or "abort" but was '
                            f'[{conflicts}]')
        got = self._resolve(call, index)
        if isinstance(got, _Response):
            return got
        summary = {"took": 3, "timed_out": False, "total": 0, "updated": 0, "deleted": 0,
                   "batches": 0, "version_conflicts": 0, "noops": 0,
                   "retries": {"bulk": 0, "search": 0}, "throttled_millis": 0,
                   "requests_per_second": -1.0, "throttled_until_millis": 0, "failures": []}
        if self._b(call.query, "wait_for_completion", True):
            return _Response(200, summary)
        n = self._next_task
        self._next_task += 1
        tid = f"{NODE_ID}:{n}"
        now_ms = int(time.time() * 1000)
        self._tasks.append({"id": tid, "n": n, "index": index, "t": now_ms,
                            "response": summary})
        return _Response(200, {"task": tid})

    def _do_cache_clear(self, call, index, params):
        if index != "_all" or "index" not in call.query:
            got = self._resolve(call, index)
        else:
            got = []
            for one in call.query["index"].split(","):
                why = invalid_index_reason(one, allow_all=True)
                if why:
                    return es_error(400, "invalid_index_name_exception",
                                    f"Invalid index name [{one}], {why}",
                                    index_uuid="_na_", index=one)
                r = self._resolve(call, one)
                if isinstance(r, _Response):
                    return r
                got += [x for x in r if x not in got]
        if isinstance(got, _Response):
            return got
        return _Response(200, {"_shards": self._shards(len(got))})

    def _do_task(self, call, index, params):
        tid = decode_component(params["task"])
        node, sep, num = tid.partition(":")
        if not sep or not num.isdigit():
            return _illegal(f"malformed task id {tid}")
        t = next((t for t in self._tasks if t["id"] == tid), None)
        if t is None:
            return es_error(404, "resource_not_found_exception",
                            f"task [{tid}] isn't running and hasn't stored its results")
        return _Response(200, {"completed": True, "task": {
            "node": NODE_ID, "id": t["n"], "type": "transport",
            "action": "indices:data/write/update/byquery", "status": {
                k: t["response"][k] for k in ("total", "updated", "deleted", "batches",
                                              "version_conflicts", "noops", "retries",
                                              "throttled_millis", "requests_per_second",
                                              "throttled_until_millis")},
            "description": f"update-by-query [{t['index']}]",
            "start_time_in_millis": t["t"], "running_time_in_nanos": 3000000,
            "cancellable": True, "cancelled": False, "headers": {}},
            "response": t["response"]})

    # ---------------------------------------------------------------- controls over HTTP
    def state(self):
        with self._lock:
            return {"calls": [c.as_dict() for c in self._calls], "indices": self.indices,
                    "tasks": self.tasks, "hanging": self._hanging}

    def _control(self, h, name, raw):
        try:
            args = json.loads(raw) if raw else {}
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
            if name == "state" and h.command == "GET":
                return h.send(_Response(200, self.state()))
            if h.command != "POST":
                return h.send(_Response(405, {"error": "POST"}))
            sel = {"method": args.get("method"), "path": args.get("path")}
            if name == "fail_next":
                self.fail_next(args["n"], args["status"], args.get("body"),
                               headers=args.get("headers"), **sel)
            elif name == "hang_next":
                self.hang_next(args["n"], **sel)
            elif name == "delay_next":
                self.delay_next(args["n"], args["seconds"], **sel)
            elif name == "reset_next":
                self.reset_next(args["n"], **sel)
            elif name == "set_index_state":
                self.set_index_state(args["name"], args.get("state", "open"))
            elif name == "hang":
                self.hang()
            elif name == "stop_hanging":
                self.stop_hanging()
            elif name == "clear":
                self.clear()
            elif name == "shutdown":
                h.send(_Response(200, {"ok": True}))
                hook = getattr(self, "on_shutdown", None)
                if hook:
                    threading.Thread(target=hook, daemon=True).start()
                return None
            else:
                return h.send(_Response(404, {"error": f"no control {name}"}))
        except (KeyError, TypeError, ValueError, re.error) as e:
            return h.send(_Response(400, {"error": f"{type(e).__name__}: {e}"}))
        return h.send(_Response(200, {"ok": True}))


def _api_key_id(cred):
    try:
        return base64.b64decode(cred, validate=True).decode("utf-8").partition(":")[0]
    except ValueError:
        return cred[:8]


# =================================================================== script mode

def main(argv=None):
    ap = argparse.ArgumentParser(description="Serve a stand-in Elasticsearch (see the docstring).")
    ap.add_argument("--api-key")
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--index", action="append", help="an index that exists (repeatable; "
                    "default products and articles)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    a = ap.parse_args(argv)
    fake = FakeElasticsearch(api_key=a.api_key, username=a.username, password=a.password,
                             indices=a.index or ("products", "articles"), host=a.host,
                             port=a.port)
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
