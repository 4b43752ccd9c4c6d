"""The API contract (SPEC §5, §5.4; issue 3 point 1): src/api/openapi.json.

(a) the document is well-formed OpenAPI 3.1 (structure checked here, every $ref resolves,
    every schema is a valid JSON Schema 2020-12) and GET /api/openapi.json serves it
    byte-for-byte;
(b) every route is called with success and error cases and each real response is
    validated against the schema the document gives for that status — a status the
    document does not list for the operation fails; requests the server accepts must
    also satisfy the documented request schema, and requests marked as breaking the
    documented rules must be rejected by it (so the document is neither too loose nor
    too strict); a text/event-stream 200 (GET /api/sse/events, which never ends) is read
    only up to its first messages, each validated against the media type's x-itemSchema;
(c) the server's route table (src/api/api.c `api_routes`) and the document name the
    same routes, with the same minimum roles.

Uses jsonschema (Debian python3-jsonschema, Draft 2020-12).
"""
import datetime as _dt
import http.client
import json
import os
import re
import time
import urllib.parse
import warnings

import jsonschema  # Debian python3-jsonschema (tools/deps.sh)
import pytest

from fakes import dbt_stub
from fakes.elasticsearch import FakeElasticsearch
from fakes.trackers import FakeGitHub
from harness import ADMIN, REPO, fmt_ts, unique, wait_for
from sse import Stream

DOC_PATH = os.path.join(REPO, "src", "api", "openapi.json")
API_C = os.path.join(REPO, "src", "api", "api.c")
METHODS = ("get", "post", "put", "patch", "delete")
ROLES = ["viewer", "responder", "approver", "admin"]


# --------------------------------------------------------------------------- loading

def _no_dup_pairs(pairs):
    seen = {}
    for k, v in pairs:
        assert k not in seen, f"duplicate key {k!r} in openapi.json"
        seen[k] = v
    return seen


def load_doc():
    with open(DOC_PATH, "rb") as f:
        raw = f.read()
    return raw, json.loads(raw.decode("utf-8"), object_pairs_hook=_no_dup_pairs)


RAW, DOC = load_doc()


def resolve(node, doc=DOC):
    """Follow $ref chains (local refs only) to the target node."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local $refs are used: {ref}"
        assert ref not in seen, f"$ref cycle at {ref}"
        seen.add(ref)
        target = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict) and part in target, f"$ref {ref} does not resolve"
            target = target[part]
        node = target
    return node


def _validator_cls():
    return jsonschema.Draft202012Validator


def make_validator(schema):
    """A 2020-12 validator for schema whose local $refs resolve into the document."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver = jsonschema.RefResolver.from_schema(DOC)
        return _validator_cls()(schema, resolver=resolver)


def schema_errors(schema, instance):
    v = make_validator(schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        errs = sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errs]


def operations(doc=DOC):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def op_id(path, method):
    return f"{method.upper()} {path}"


# --------------------------------------------------------------------------- (a) structure

def test_document_is_pretty_printed_stable_json():
    text = RAW.decode("utf-8")
    again = json.dumps(DOC, indent=2, ensure_ascii=False) + "\n"
    assert text == again, (
        "openapi.json must be exactly json.dumps(doc, indent=2, ensure_ascii=False) + newline; "
        "after editing run: python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); "
        "open(p, \"w\").write(json.dumps(d, indent=2, ensure_ascii=False) + \"\\n\")' src/api/openapi.json")


def test_document_top_level():
    assert DOC.get("openapi") == "3.1.0"
    info = DOC.get("info")
    assert isinstance(info, dict) and isinstance(info.get("title"), str) and info["title"]
    assert isinstance(info.get("version"), str) and info["version"]
    assert isinstance(DOC.get("paths"), dict) and DOC["paths"]
    comps = DOC.get("components")
    assert isinstance(comps, dict)
    for section in comps:
        assert section in {"schemas", "responses", "parameters", "examples", "requestBodies",
                           "headers", "securitySchemes", "links", "callbacks", "pathItems"}, section
    for k in DOC:
        assert k in {"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks",
                     "components", "security", "tags", "externalDocs"} or k.startswith("x-"), k
    common = DOC.get("x-common-responses", {})
    assert set(common) == {"404", "405"}, common


def _walk(node, where="#"):
    if isinstance(node, dict):
        yield where, node
        for k, v in node.items():
            yield from _walk(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{where}/{i}")


def test_every_ref_resolves_and_every_component_is_used():
    used = set()
    for where, node in _walk(DOC):
        if "$ref" in node and isinstance(node["$ref"], str):
            ref = node["$ref"]
            assert ref.startswith("#/components/"), f"{where}: $ref {ref} must point into components"
            resolve({"$ref": ref})
            used.add(ref)
    for section, entries in DOC["components"].items():
        if section == "securitySchemes":
            continue
        for name in entries:
            assert f"#/components/{section}/{name}" in used, f"components/{section}/{name} is never used"


def test_every_schema_is_valid_json_schema_2020_12():
    for name, schema in DOC["components"]["schemas"].items():
        _validator_cls().check_schema(schema)
    for where, node in _walk(DOC):
        if "schema" in node and isinstance(node["schema"], dict) and "/components/schemas/" not in where:
            _validator_cls().check_schema(node["schema"])


def _params(path_item, op):
    out = {}
    for p in path_item.get("parameters", []) + op.get("parameters", []):
        p = resolve(p)
        assert {"name", "in", "schema"} <= set(p), p
        assert p["in"] in {"path", "query", "header", "cookie"}, p
        out[(p["in"], p["name"].lower() if p["in"] == "header" else p["name"])] = p
    return out


def test_every_operation_is_well_formed():
    tags = {t["name"] for t in DOC.get("tags", [])}
    schemes = set(DOC["components"].get("securitySchemes", {}))
    ids = set()
    for path, method, op in operations():
        where = op_id(path, method)
        assert path.startswith("/"), where
        assert isinstance(op.get("summary"), str) and op["summary"], where
        assert op.get("operationId") and op["operationId"] not in ids, f"{where}: operationId"
        ids.add(op["operationId"])
        assert op.get("tags") and set(op["tags"]) <= tags, f"{where}: tags"
        # path templates are declared as required path parameters, and nothing else is
        params = _params(DOC["paths"][path], op)
        in_path = set(re.findall(r"\{([^}]+)\}", path))
        declared = {name for (loc, name) in params if loc == "path"}
        assert in_path == declared, f"{where}: path parameters {declared} vs template {in_path}"
        for (loc, name), p in params.items():
            if loc == "path":
                assert p.get("required") is True, f"{where}: path parameter {name} must be required"
        # security: [] for public routes, else bearer (and the session cookie) plus x-min-role
        sec = op.get("security")
        assert isinstance(sec, list), f"{where}: security must be explicit"
        if sec == []:
            assert "x-min-role" not in op, f"{where}: public operations have no x-min-role"
        else:
            assert {"bearerAuth": []} in sec, f"{where}: bearer auth"
            for req in sec:
                assert set(req) <= schemes, f"{where}: unknown security scheme in {req}"
            assert op.get("x-min-role") in ROLES, f"{where}: x-min-role"
            for code in ("401", "403"):
                assert code in op["responses"], f"{where}: authenticated operations document {code}"
        # request body
        if "requestBody" in op:
            rb = resolve(op["requestBody"])
            assert "application/json" in rb.get("content", {}), f"{where}: JSON request body"
            assert "schema" in rb["content"]["application/json"], where
            for code in ("400", "413", "415"):
                assert code in op["responses"], f"{where}: operations with a body document {code}"
            if method == "get":
                raise AssertionError(f"{where}: GET with a request body")
        # responses
        rs = op.get("responses")
        assert isinstance(rs, dict) and rs, f"{where}: responses"
        assert any(c.startswith("2") for c in rs), f"{where}: a success response"
        for code, r in rs.items():
            assert re.fullmatch(r"[1-5][0-9]{2}", code), f"{where}: response key {code}"
            r = resolve(r)
            assert isinstance(r.get("description"), str) and r["description"], f"{where} {code}"
            assert "X-Request-Id" in r.get("headers", {}), f"{where} {code}: X-Request-Id header"
            for media, mt in r.get("content", {}).items():
                assert "schema" in mt, f"{where} {code} {media}"
            if code >= "400":
                assert "application/json" in r.get("content", {}), f"{where} {code}: errors are JSON"
                schema = resolve(r["content"]["application/json"]["schema"])
                assert "Error" in json.dumps(schema), f"{where} {code}: errors use the Error schema"


def _served_raw(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_served_document_is_the_file(shared_server):
    st, h, raw = _served_raw(shared_server, "/api/openapi.json")
    assert st == 200, f"GET /api/openapi.json (no token) → {st}: {raw[:300]!r}"
    assert h.get("content-type", "").split(";")[0].strip() == "application/json", h
    assert raw == RAW, "GET /api/openapi.json must serve src/api/openapi.json byte-for-byte"


# --------------------------------------------------------------------------- (c) route table

# Positional order of struct route's first fields (src/http/router.h), for tables that
# do not use designated initializers.
POSITIONAL_FIELDS = ["method", "pattern", "words", "min_role", "kind", "prepare", "run",
                     "empty_body_ok", "ndjson_ok", "idempotent_key"]


def _split_top(text, sep=","):
    """Split text at sep outside braces, brackets, parentheses and strings."""
    out, depth, cur, in_str = [], 0, [], False
    for i, ch in enumerate(text):
        if in_str:
            cur.append(ch)
            if ch == '"' and text[i - 1] != "\\":
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def route_table():
    """(source, [{field: value}]) for each api_routes entry of src/api/api.c; values are
    the C text, with simple #define aliases (e.g. PUBLIC → ROLE_NONE) expanded."""
    with open(API_C) as f:
        src = f.read()
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    defines = dict(re.findall(r"^\s*#\s*define\s+([A-Za-z_]\w*)\s+([A-Za-z_]\w*)\s*$", src, re.M))
    m = re.search(r"api_routes\s*\[\s*\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert m, "api_routes table not found in src/api/api.c"
    entries = []
    for raw in _split_top(m.group(1)):
        raw = raw.strip()
        if not raw:
            continue
        assert raw.startswith("{") and raw.endswith("}"), f"unexpected api_routes entry: {raw[:80]}"
        fields = {}
        for i, part in enumerate(_split_top(raw[1:-1])):
            dm = re.match(r"^\.(\w+)\s*=\s*(.*)$", part, re.S)
            name, value = (dm.group(1), dm.group(2).strip()) if dm else (POSITIONAL_FIELDS[i], part)
            fields[name] = defines.get(value, value)
        for need in ("method", "pattern", "min_role"):
            assert need in fields, f"api_routes entry without {need}: {raw[:120]}"
        fields["method"] = re.sub(r"^M_", "", fields["method"])
        fields["pattern"] = fields["pattern"].strip('"')
        fields["min_role"] = re.sub(r"^ROLE_", "", fields["min_role"]).lower()
        entries.append(fields)
    assert len(entries) == len(re.findall(r"\bM_[A-Z]+\b", m.group(1))), \
        "could not parse every api_routes entry"
    return src, entries


def test_route_table_and_document_agree():
    _, entries = route_table()
    table = {(e["method"], e["pattern"]): e["min_role"] for e in entries}
    assert len(table) == len(entries), "duplicate routes in api_routes"
    doc = {(method.upper(), path): op for path, method, op in operations()}
    missing = sorted(f"{m} {p}" for m, p in set(table) - set(doc))
    extra = sorted(f"{m} {p}" for m, p in set(doc) - set(table))
    assert not missing and not extra, \
        f"routes in api.c but not in openapi.json: {missing}; in openapi.json but not in api.c: {extra}"
    for key, role in table.items():
        op = doc[key]
        where = f"{key[0]} {key[1]}"
        if key == ("GET", "/metrics"):
            # viewer unless server.metrics_public: the table may say either
            assert role in ("none", "viewer") and op.get("x-min-role") == "viewer", where
            assert op.get("x-public-when") == "server.metrics_public", where
            continue
        if role == "none":
            assert op.get("security") == [], f"{where} is public in api.c"
        else:
            assert op.get("x-min-role") == role, f"{where}: api.c says {role}, document {op.get('x-min-role')}"


def test_route_table_details_match_document():
    src, entries = route_table()
    for e in entries:
        method, pattern = e["method"].lower(), e["pattern"]
        op = DOC["paths"].get(pattern, {}).get(method)
        if op is None:
            continue  # reported by test_route_table_and_document_agree
        where = f"{e['method']} {pattern}"
        params = _params(DOC["paths"][pattern], op)
        words = e.get("words", "NULL")
        if words not in ("NULL", "0"):
            m = re.search(r"\b%s\s*\[\s*\]\s*=\s*\{([^}]*)\}" % re.escape(words), src)
            assert m, f"word list {words} not found"
            allowed = re.findall(r'"([^"]+)"', m.group(1))
            name = re.findall(r"\{(?!id\})([^}]+)\}", pattern)
            assert name, pattern
            schema = resolve(params[("path", name[-1])]["schema"])
            assert schema.get("enum") == allowed, f"{where}: {{{name[-1]}}} enum vs {words} {allowed}"
        empty_ok = e.get("empty_body_ok", "false") == "true"
        ndjson_ok = e.get("ndjson_ok", "false") == "true"
        idem = e.get("idempotent_key", "false") == "true"
        if "requestBody" in op:
            rb = resolve(op["requestBody"])
            assert rb.get("required", False) == (not empty_ok), \
                f"{where}: requestBody.required vs empty_body_ok={empty_ok}"
            assert ("application/x-ndjson" in rb["content"]) == ndjson_ok, where
        else:
            assert not empty_ok and not ndjson_ok, f"{where}: takes a body the document does not describe"
        assert (("header", "idempotency-key") in params) == idem, \
            f"{where}: Idempotency-Key parameter vs idempotent_key={idem}"
        token_query = e.get("token_query", "false") == "true"
        assert ({"tokenQuery": []} in op.get("security", [])) == token_query, \
            f"{where}: security tokenQuery vs token_query={token_query}"
        assert (("query", "token") in params) == token_query, \
            f"{where}: a ?token= parameter vs token_query={token_query}"


# --------------------------------------------------------------------------- (b) the contract

_PARAM_RE = re.compile(r"\{([^}]+)\}")


class Contract:
    """Finds the operation of a request and validates a response against it."""

    def __init__(self, doc):
        self.doc = doc
        self.matchers = []
        for path, item in doc["paths"].items():
            parts = []
            for seg in path.strip("/").split("/"):
                m = _PARAM_RE.fullmatch(seg)
                if not m:
                    parts.append(re.escape(seg))
                    continue
                schema = {}
                for method in METHODS:
                    if method in item:
                        p = _params(item, item[method]).get(("path", m.group(1)))
                        if p:
                            schema = resolve(p["schema"])
                if schema.get("type") == "integer":
                    parts.append(r"(?P<%s>[1-9][0-9]{0,18})" % m.group(1))
                elif "enum" in schema:
                    parts.append(r"(?P<%s>%s)" % (m.group(1), "|".join(map(re.escape, schema["enum"]))))
                else:
                    parts.append(r"(?P<%s>[^/]+)" % m.group(1))
            literal = sum(1 for s in path.split("/") if s and not _PARAM_RE.fullmatch(s))
            rx = re.compile("^/" + "/".join(parts) + "$")
            self.matchers.append((literal, path, rx))
        # concrete paths win over templated ones (OpenAPI 3.1 path matching)
        self.matchers.sort(key=lambda t: -t[0])
        self.seen = {}  # (METHOD, template) → set of statuses; (None, template) for 405

    def match(self, path):
        for _, template, rx in self.matchers:
            m = rx.match(path)
            if m:
                return template, m.groupdict()
        return None, {}


CONTRACT = Contract(DOC)


def _coerce(schema, values):
    schema = resolve(schema)
    t = schema.get("type")
    if t == "array":
        items = []
        for v in values:
            items.extend(v.split(","))
        return [_coerce(schema.get("items", {}), [x]) for x in items]
    v = values[0]  # the server reads the first occurrence
    if t == "integer":
        return int(v) if re.fullmatch(r"-?[0-9]+", v) else v
    if t == "boolean":
        return {"true": True, "false": False}.get(v, v)
    return v


def _parse_query(qs):
    out = {}
    for part in qs.split("&") if qs else []:
        k, _, v = part.partition("=")
        out.setdefault(urllib.parse.unquote_plus(k), []).append(urllib.parse.unquote_plus(v))
    return out


def request_problems(path_item, op, query, path_params, headers, body, sent_body,
                     media="application/json"):
    """Reasons the request breaks the documented rules ([] = it follows them)."""
    probs = []
    params = _params(path_item, op)
    for name, value in path_params.items():
        p = params.get(("path", name))
        if p is None:
            probs.append(f"path parameter {name} undocumented")
            continue
        probs += [f"path {name}: {e}" for e in schema_errors(p["schema"], _coerce(p["schema"], [value]))]
    for name, values in query.items():
        p = params.get(("query", name))
        if p is None:
            probs.append(f"query parameter {name} undocumented")
            continue
        probs += [f"query {name}: {e}" for e in schema_errors(p["schema"], _coerce(p["schema"], values))]
    for (loc, name), p in params.items():
        if loc == "query" and p.get("required") and name not in query:
            probs.append(f"required query parameter {name} missing")
        if loc == "header" and name in headers:
            probs += [f"header {name}: {e}" for e in schema_errors(p["schema"], headers[name])]
    if "requestBody" in op:
        rb = resolve(op["requestBody"])
        if sent_body is None:
            if rb.get("required", False):
                probs.append("request body required")
        else:
            if media not in rb["content"]:
                probs.append(f"body: {media} is not documented")
            else:
                probs += [f"body: {e}" for e in schema_errors(rb["content"][media]["schema"], body)]
    return probs


# --------------------------------------------------------------------------- event streams

STREAM_TIMEOUT = 10.0  # seconds to wait for the next line of an event stream


def sse_messages(payload):
    """The complete messages of a text/event-stream body read so far, each as an object of
    its fields (SseMessage): `retry` an integer, the others text; several `data` lines are
    joined with a newline; comment lines (`:`) are skipped."""
    out = []
    text = payload.decode("utf-8")
    blocks = re.split(r"\r?\n\r?\n", text)
    for block in blocks[:-1]:  # the last one is not complete yet (or empty)
        msg = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and "data" in msg:
                msg["data"] += "\n" + value
            elif name == "retry":
                msg[name] = int(value) if value.isdigit() else value
            else:
                msg[name] = value
        if msg:
            out.append(msg)
    return out


def connected_seen(messages):
    """The default end of a stream read: its `connected` message arrived."""
    return any(m.get("event") == "connected" for m in messages)


def read_stream(resp, sock, until, timeout=STREAM_TIMEOUT):
    """Read an endless response's body line by line until until(messages) holds; every
    line must come within timeout seconds (a heartbeat is 15 s apart by default: tests
    that wait for one configure it shorter)."""
    sock.settimeout(timeout)
    payload = b""
    while not until(sse_messages(payload)):
        try:
            line = resp.fp.readline()
        except TimeoutError as e:
            raise AssertionError(f"event stream: nothing for {timeout}s; read so far: {payload[-600:]!r}") from e
        if not line:
            raise AssertionError(f"event stream closed early; read: {payload[-600:]!r}")
        payload += line
    return payload


def sse_problems(item_schema, msg):
    """Reasons msg breaks the documented message schema (oneOf branches; a `data` with
    contentMediaType application/json is parsed and held to its contentSchema; the data of
    an event message to Event's rules for its type)."""
    probs = schema_errors(item_schema, msg)
    if probs:
        return probs
    branches = [resolve(b) for b in resolve(item_schema).get("oneOf", [item_schema])]
    [branch] = [b for b in branches if not schema_errors(b, msg)]
    for name, prop in branch.get("properties", {}).items():
        prop = resolve(prop)
        if name not in msg or prop.get("contentMediaType") != "application/json":
            continue
        try:
            value = json.loads(msg[name])
        except ValueError:
            return [f"{name}: not JSON: {msg[name][:200]!r}"]
        if "\n" in msg[name]:
            probs.append(f"{name}: more than one line")
        if "contentSchema" in prop:
            probs += [f"{name}: {e}" for e in schema_errors(prop["contentSchema"], value)]
        elif "id" in msg:
            event = resolve({"$ref": "#/components/schemas/Event"})
            probs += [f"{name}: {e}" for e in schema_errors({"allOf": event["allOf"]},
                                                             {"type": msg["event"], "data": value})]
    return probs


class Api:
    """Calls the server and holds every response to the document."""

    def __init__(self, server):
        self.s = server

    def raw(self, method, path, body=None, token=ADMIN, headers=None, raw=None,
            content_type="application/json", stream_until=connected_seen):
        """A text/event-stream reply is read only until stream_until(messages) holds."""
        h = {}
        if token is ADMIN:
            token = self.s.token
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None and content_type:
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=30)
        resp = None
        try:
            conn.connect()
            sock = conn.sock
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            hdrs = {}
            for k, v in resp.getheaders():
                hdrs.setdefault(k.lower(), v)
            if method != "HEAD" and hdrs.get("content-type", "").lower().startswith("text/event-stream"):
                payload = read_stream(resp, sock, stream_until)
            else:
                payload = resp.read()
            return resp.status, hdrs, payload, h, data
        finally:
            if resp is not None:
                resp.close()
            conn.close()

    def call(self, method, path, expect=None, body=None, token=ADMIN, headers=None, raw=None,
             content_type="application/json", breaks_doc=None, stream_until=connected_seen):
        """Send the request, validate the response against the document, return (status,
        headers, parsed body). breaks_doc=True: the request breaks the documented rules and
        the document must say so; False: it must follow them. Default: a 2xx must follow them.
        A text/event-stream body is read until stream_until(messages) holds and parsed into
        its messages (sse_messages)."""
        st, hdrs, payload, sent_headers, data = self.raw(method, path, body, token, headers, raw,
                                                         content_type, stream_until)
        text = payload.decode("utf-8", errors="replace")
        where = f"{method} {path} → {st}"
        ctype = hdrs.get("content-type", "").split(";")[0].strip().lower()
        parsed = text
        if ctype == "application/json" and method != "HEAD":
            try:
                parsed = json.loads(text)
            except ValueError:
                raise AssertionError(f"{where}: Content-Type application/json but not JSON: {text[:300]!r}")
        elif ctype == "text/event-stream" and method != "HEAD":
            parsed = sse_messages(payload)
        route_path, _, qs = path.partition("?")
        template, path_params = CONTRACT.match(route_path)
        item = DOC["paths"].get(template) if template else None
        # HEAD is answered like GET, without a body
        op = item.get("get" if method == "HEAD" else method.lower()) if item else None
        if op is None:
            common = DOC["x-common-responses"]
            if template is None:
                assert st == 404, f"{where}: no documented path matches, so 404 is expected: {text[:300]}"
                r = resolve(common["404"])
            else:
                assert st == 405, f"{where}: {method} is not documented on {template}, so 405 is expected: {text[:300]}"
                r = resolve(common["405"])
                allowed = {m.upper() for m in METHODS if m in item}
                got = {x.strip() for x in hdrs.get("allow", "").split(",") if x.strip()}
                assert got == allowed, f"{where}: Allow {got} vs documented {allowed}"
                CONTRACT.seen.setdefault((None, template), set()).add(st)
            key_where = f"{where} (no operation)"
        else:
            r = op["responses"].get(str(st))
            assert r is not None, (f"{where}: status {st} is not documented for "
                                   f"{method.upper()} {template} (documented: {sorted(op['responses'])}); "
                                   f"body: {text[:400]}")
            r = resolve(r)
            if method != "HEAD":
                CONTRACT.seen.setdefault((method.upper(), template), set()).add(st)
            key_where = f"{where} ({method.upper()} {template})"
        self._check_response(key_where, r, st, hdrs, ctype, parsed, payload, method)
        if op is not None and method != "HEAD":
            sent = {k.lower(): v for k, v in sent_headers.items()}
            req_body = None
            ndjson = "application/x-ndjson" in (content_type or "")
            if data is not None and ndjson:
                req_body = data.decode("utf-8", errors="replace")  # NDJSON is described as text
            elif data is not None and "json" in (content_type or ""):
                try:
                    req_body = json.loads(data.decode("utf-8"))
                except ValueError:
                    req_body = None
            probs = request_problems(item, op, _parse_query(qs), path_params, sent, req_body,
                                     data if data else None,
                                     "application/x-ndjson" if ndjson else "application/json")
            if breaks_doc is None and 200 <= st < 300:
                breaks_doc = False
            if breaks_doc is False:
                assert not probs, f"{where}: the server accepted a request the document forbids: {probs}"
            elif breaks_doc is True:
                assert probs, f"{where}: the document should forbid this request ({body if raw is None else raw!r})"
        if expect is not None:
            want = expect if isinstance(expect, (tuple, list, set)) else (expect,)
            assert st in want, f"{where}: expected {expect}; body: {text[:500]}"
        return st, hdrs, parsed

    def _check_response(self, where, r, st, hdrs, ctype, parsed, payload, method):
        for name, h in r.get("headers", {}).items():
            h = resolve(h)
            value = hdrs.get(name.lower())
            if value is None:
                assert not h.get("required"), f"{where}: header {name} missing"
                continue
            errs = schema_errors(h["schema"], value)
            assert not errs, f"{where}: header {name}: {value!r}: {errs}"
        content = r.get("content")
        if method == "HEAD":
            return
        if not content:
            assert payload == b"", f"{where}: no body documented, got {payload[:200]!r}"
            return
        assert ctype in content, f"{where}: Content-Type {ctype!r} not documented ({sorted(content)})"
        if ctype == "text/event-stream":
            # endless: no Content-Length; the messages read so far, each to x-itemSchema
            assert "content-length" not in hdrs, f"{where}: a stream with a Content-Length"
            assert "x-itemSchema" in content[ctype], f"{where}: the stream's messages are not documented"
            assert not schema_errors(content[ctype]["schema"], payload.decode("utf-8")), where
            for msg in parsed:
                errs = sse_problems(content[ctype]["x-itemSchema"], msg)
                assert not errs, f"{where}: message {msg} does not match the document: {errs}"
            return
        schema = content[ctype]["schema"]
        errs = schema_errors(schema, parsed)
        assert not errs, f"{where}: response does not match the document:\n  " + "\n  ".join(errs[:20]) \
            + f"\nbody: {json.dumps(parsed)[:1500] if not isinstance(parsed, str) else parsed[:500]}"


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def api(shared_server):
    return Api(shared_server)


@pytest.fixture(scope="module")
def fixtures(shared_server, role_tokens):
    """Objects the generic checks can point their path templates at."""
    s = shared_server
    iid = s.new_incident(key=unique("oa-target"))
    st, b = s.post("/api/silences", {"key_glob": unique("oa-target-none") + "*", "reason": "t",
                                     "duration": "1h"})
    assert st == 201, b
    # a stored plan (dry_run_failed: the canary is not set) for the playbook routes
    st, a = s.post(f"/api/playbooks/incidents/{iid}/actions/dry-run",
                   {"action_type": "adjust_canary_split",
                    "params": {"canary": unique("oa-unset"), "version": "v1", "target_percent": 5}})
    assert st == 200, a
    return {"id": iid, "silence": b["silence"]["id"], "verb": "acknowledge",
            "name": role_tokens["viewer"][0], "action": a["action"]["id"], "roles": role_tokens}


def concrete(template, fx):
    silence = template.startswith("/api/silences/")
    return (template.replace("{id}", str(fx["silence"] if silence else fx["id"]))
            .replace("{verb}", fx["verb"]).replace("{name}", fx["name"])
            .replace("{action_id}", str(fx["action"])))


ALL_OPS = [(p, m) for p, m, _ in operations()]
AUTH_OPS = [(p, m) for p, m, o in operations() if o.get("security") != []]
BODY_OPS = [(p, m) for p, m, o in operations() if "requestBody" in o]


# --------------------------------------------------------------------------- generic checks

@pytest.mark.parametrize("path,method", AUTH_OPS, ids=[op_id(p, m) for p, m in AUTH_OPS])
def test_authentication_errors(api, fixtures, path, method):
    op = DOC["paths"][path][method]
    target = concrete(path, fixtures)
    body = {} if "requestBody" in op else None
    api.call(method.upper(), target, 401, body=body, token=None)
    api.call(method.upper(), target, 401, body=body, token="not-a-valid-token")
    api.call(method.upper(), target, 401, body=body, token=None,
             headers={"Authorization": "Basic dXNlcjpwYXNz"})
    min_role = op["x-min-role"]
    for role in ROLES[:ROLES.index(min_role)]:
        api.call(method.upper(), target, 403, body=body, token=fixtures["roles"][role][1])


@pytest.mark.parametrize("path,method", BODY_OPS, ids=[op_id(p, m) for p, m in BODY_OPS])
def test_request_body_errors(api, shared_server, fixtures, path, method):
    target = concrete(path, fixtures)
    M = method.upper()
    _, _, b = api.call(M, target, 400, raw=b'{"summary": ')
    assert b["error"]["code"] == "invalid_json"
    _, _, b = api.call(M, target, 400, raw=b'{"a": 1, "a": 2}')
    assert b["error"]["code"] == "invalid_json"
    _, _, b = api.call(M, target, 400, raw=b'"just a string"', breaks_doc=True)
    assert b["error"]["code"] == "validation_failed"
    api.call(M, target, 415, raw=b"{}", content_type="text/plain")
    api.call(M, target, 415, raw=b"{}", content_type=None)
    limit = 1048576
    api.call(M, target, 413, raw=b"{" + b" " * limit + b"}")
    schema = resolve(resolve(DOC["paths"][path][method]["requestBody"])["content"]["application/json"]["schema"])
    if path in TOLERANT_BODIES:
        # a receiver of another program's payload ignores fields it does not know (the
        # document says so: additionalProperties true) and still accepts the payload
        assert schema.get("additionalProperties") is True, path
        api.call(M, target, (200, 201, 202), body=TOLERANT_BODIES[path]() | {"no_such_field_xyz": 1})
        return
    # a JSON body with an unknown field is named
    _, _, b = api.call(M, target, 400, body={"no_such_field_xyz": 1}, breaks_doc=True)
    assert b["error"]["code"] == "validation_failed"
    assert b["error"]["details"].get("field") == "no_such_field_xyz", b


@pytest.mark.parametrize("path", list(DOC["paths"]), ids=list(DOC["paths"]))
def test_undocumented_methods_get_405(api, fixtures, path):
    documented = {m for m in METHODS if m in DOC["paths"][path]}
    target = concrete(path, fixtures)
    for m in [x for x in METHODS if x not in documented] + ["options"]:
        api.call(m.upper(), target, 405, body={} if m in ("post", "put", "patch") else None)


def test_unknown_paths_get_404(api):
    for p in ("/api/nope", "/api/incidents/abc", "/api/incidents/0", "/api/incidents/1/explode",
              "/api/incidents/1/comments/2", "/api/silences/x"):
        _, _, b = api.call("GET", p, 404)
        assert b["error"]["code"] == "not_found"


# --------------------------------------------------------------------------- operations

def test_operations_routes(api):
    for p in ("/healthz", "/readyz", "/api/version"):
        api.call("GET", p, 200, token=None)
        api.call("GET", p, 200)  # a token does not hurt
    st, h, b = api.call("GET", "/api/openapi.json", 200, token=None)
    assert b == DOC
    # any route refuses a malformed query string; HEAD answers like GET without a body
    for p in ("/healthz?%", "/api/version?a", "/api/incidents/1?=&&"):
        _, _, b = api.call("GET", p, 400)
        assert b["error"]["code"] == "validation_failed"
    for p in ("/healthz", "/api/version", "/api/openapi.json", "/api/incidents", "/api/events?limit=1"):
        st, _, b = api.call("HEAD", p, 200)
        assert b == "", f"HEAD {p} sent a body"
    api.call("HEAD", "/api/incidents", 401, token=None)


def test_metrics(api, shared_server, role_tokens, make_server):
    api.call("GET", "/metrics", 401, token=None)
    st, h, text = api.call("GET", "/metrics", 200, token=role_tokens["viewer"][1])
    assert isinstance(text, str) and "intervene_" in text
    pub = Api(make_server({"server": {"metrics_public": True}}))
    pub.call("GET", "/metrics", 200, token=None)


# --------------------------------------------------------------------------- signals

def sig(key=None, **kw):
    b = {"kind": "manual", "summary": "openapi contract signal"}
    if key is not None:
        b["key"] = key
    b.update(kw)
    return b


def test_signals(api, shared_server):
    key = unique("oa-sig")
    _, _, b = api.call("POST", "/api/signals", 202, body=sig(key, severity="sev2", details={"a": 1},
                                                               playbooks=["rerun_dbt"], source="ci"))
    assert b["outcome"] == "created"
    iid = b["incident_id"]
    _, _, b = api.call("POST", "/api/signals", 202, body=sig(key, priority="P1"))
    assert b == {"outcome": "deduplicated", "incident_id": iid}
    _, _, b = api.call("POST", "/api/signals", 202, body=sig())  # manual without key
    assert b["outcome"] == "created"
    _, _, b = api.call("POST", "/api/signals", 202,
                       body={"kind": "budget", "key": "search-agent:latency_p95", "summary": "p95 over budget",
                             "priority": "high", "severity": None})
    assert b["outcome"] in ("created", "deduplicated")
    _, _, b = api.call("POST", "/api/signals", 202, body=[
        sig(key, severity="sev4"), sig(unique("oa-sig"), priority="critical"),
        sig(key, action="resolve"), sig(unique("oa-none"), action="resolve")])
    assert [r["outcome"] for r in b["results"]] == ["deduplicated", "created", "resolved", "no_incident"]
    # silenced
    skey = unique("oa-silenced")
    api.call("POST", "/api/silences", 201, body={"key_glob": skey + "*", "reason": "contract", "duration": "10m"})
    _, _, b = api.call("POST", "/api/signals", 202, body=sig(skey + "-1"))
    assert b == {"outcome": "silenced", "incident_id": None}
    # rate limited: 3 incidents per window by default
    rkey = unique("oa-rate")
    for _ in range(3):
        api.call("POST", "/api/signals", 202, body=sig(rkey))
        api.call("POST", "/api/signals", 202, body=sig(rkey, action="resolve"))
    _, _, b = api.call("POST", "/api/signals", 202, body=sig(rkey))
    assert b == {"outcome": "rate_limited", "incident_id": None}

    # errors the document describes
    api.call("POST", "/api/signals", 400, body={"summary": "no kind"}, breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=sig(unique("x"), severity="sev1", priority="P1"), breaks_doc=True)
    api.call("POST", "/api/signals", 400, body={"kind": "budget", "summary": "no key"}, breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=sig(action="resolve"), breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=sig(unique("x"), kind="weird"), breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=sig(unique("x"), summary="   "), breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=sig(unique("x"), summary="s" * 257), breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=sig(unique("x"), playbooks=[""]), breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=sig(unique("x"), priority="urgent"))
    _, _, b = api.call("POST", "/api/signals", 400, body=[sig(unique("x")), {"kind": "budget", "summary": "x"}],
                       breaks_doc=True)
    assert b["error"]["details"].get("index") == 1 and b["error"]["details"].get("field") == "key", b
    api.call("POST", "/api/signals", 400, body=[], breaks_doc=True)
    api.call("POST", "/api/signals", 400, body=[sig(unique("x"))] * 1001, breaks_doc=True)


def am_alert(name, status="firing", **labels):
    return {"status": status, "labels": {"alertname": name, **labels},
            "annotations": {"summary": f"{name} fired"}, "startsAt": "2026-12-07T10:00:00.5Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.example/graph",
            "fingerprint": os.urandom(8).hex()}


def am_payload(*alerts):
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "intervene", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example", "alerts": list(alerts)}


# Routes that take another program's payload and ignore fields they do not know, each
# with a valid body (test_request_body_errors).
TOLERANT_BODIES = {"/api/integrations/alertmanager": lambda: am_payload(am_alert(unique("OaTolerant")))}


def test_alertmanager(api, shared_server):
    P = "/api/integrations/alertmanager"
    a = am_alert(unique("OaAlert"), severity="critical")
    _, _, b = api.call("POST", P, 202, body=am_payload(a, am_alert(unique("OaOther"))))
    assert [r["outcome"] for r in b["results"]] == ["created", "created"], b
    _, _, inc = api.call("GET", f"/api/incidents/{b['results'][0]['incident_id']}", 200)
    assert inc["incident"]["kind"] == "alert" and inc["incident"]["severity"] == "sev1"
    assert inc["incident"]["key"] == f"alert:{a['labels']['alertname']}:{a['fingerprint']}"
    _, _, b = api.call("POST", P, 202, body=am_payload(a | {"status": "resolved"}))
    assert b["results"][0]["outcome"] == "resolved", b
    _, _, b = api.call("GET", "/api/incidents?kind=alert", 200)
    assert all(i["kind"] == "alert" for i in b["incidents"]) and b["total"] >= 2
    # errors the document describes
    api.call("POST", P, 400, body=am_payload(), breaks_doc=True)
    api.call("POST", P, 400, body=am_payload(a) | {"version": "3"}, breaks_doc=True)
    no_name = am_alert("x")
    del no_name["labels"]["alertname"]
    _, _, b = api.call("POST", P, 400, body=am_payload(a, no_name), breaks_doc=True)
    assert b["error"]["details"] == {"field": "alerts.labels.alertname", "index": 1}, b
    _, _, b = api.call("POST", P, 400, body=am_payload(a | {"fingerprint": "XYZ"}), breaks_doc=True)
    assert b["error"]["details"] == {"field": "alerts.fingerprint", "index": 0}, b


# --------------------------------------------------------------------------- incidents

def test_incident_list(api, shared_server):
    api.call("POST", "/api/signals", 202, body=sig(unique("oa-list"), severity="sev1"))
    _, _, b = api.call("GET", "/api/incidents", 200)
    assert b["incidents"] and b["page"] == 1 and b["per_page"] == 50
    api.call("GET", "/api/incidents?status=active,resolved&severity=sev1&severity=sev3&kind=manual"
                    "&q=oa-&since=2020-01-01T00:00:00Z&sort=severity&page=1&per_page=5", 200)
    api.call("GET", "/api/incidents?assigned_to=alice,bob&sort=created_at", 200)
    _, _, b = api.call("GET", "/api/incidents?page=100000", 200)
    assert b["incidents"] == []
    for q in ("per_page=0", "per_page=201", "page=0", "page=x", "status=bogus", "severity=sev5",
              "kind=nope", "sort=id", "since=yesterday", "q=" + "x" * 257,
              "assigned_to=" + ",".join(f"u{i}" for i in range(17))):
        _, _, b = api.call("GET", "/api/incidents?" + q, 400, breaks_doc=True)
        assert b["error"]["code"] == "validation_failed"


def test_incident_declare_get_patch(api, shared_server):
    key = unique("oa-declare")
    _, _, b = api.call("POST", "/api/incidents", 201,
                       body={"summary": "declared", "severity": "sev2", "key": key, "details": {"x": [1]},
                             "playbooks": ["clear_cache"]})
    iid = b["incident"]["id"]
    _, _, b = api.call("POST", "/api/incidents", 409, body={"summary": "again", "key": key})
    assert b["error"]["details"]["incident_id"] == iid
    idem = unique("idem")
    _, _, first = api.call("POST", "/api/incidents", 201, body={"summary": "idempotent"},
                           headers={"Idempotency-Key": idem})
    _, _, again = api.call("POST", "/api/incidents", 201, body={"summary": "idempotent"},
                           headers={"Idempotency-Key": idem})
    assert again == first
    api.call("POST", "/api/incidents", 400, body={"summary": "x"}, headers={"Idempotency-Key": ""},
             breaks_doc=True)
    api.call("POST", "/api/incidents", 400, body={"severity": "sev1"}, breaks_doc=True)
    api.call("POST", "/api/incidents", 400, body={"summary": " \t "}, breaks_doc=True)
    api.call("POST", "/api/incidents", 400, body={"summary": "x", "severity": "high"}, breaks_doc=True)
    api.call("POST", "/api/incidents", 400, body={"summary": "x", "key": ""}, breaks_doc=True)

    api.call("GET", f"/api/incidents/{iid}", 200)
    api.call("GET", "/api/incidents/999999999", 404)

    api.call("PATCH", f"/api/incidents/{iid}", 200,
             body={"summary": "patched", "assigned_to": "alice", "playbooks": ["rerun_dbt"],
                   "metadata": {"team": "search", "gone": None}})
    _, _, b = api.call("PATCH", f"/api/incidents/{iid}", 200, body={"severity": "sev1", "reason": "customers hit"})
    assert b["incident"]["severity"] == "sev1"
    api.call("PATCH", f"/api/incidents/{iid}", 200, body={"assigned_to": None})
    api.call("PATCH", f"/api/incidents/{iid}", 400, body={"severity": "sev4"})  # reason missing
    api.call("PATCH", f"/api/incidents/{iid}", 400, body={"summary": ""}, breaks_doc=True)
    api.call("PATCH", f"/api/incidents/{iid}", 400, body={"metadata": []}, breaks_doc=True)
    api.call("PATCH", f"/api/incidents/{iid}", 400, body={"severity": "sev1", "reason": ""}, breaks_doc=True)
    api.call("PATCH", "/api/incidents/999999999", 404, body={"summary": "nobody"})


def test_incident_lifecycle(api, shared_server):
    key = unique("oa-life")
    iid = shared_server.new_incident(key=key)
    base = f"/api/incidents/{iid}"
    _, _, b = api.call("POST", base + "/acknowledge", 200, body={"notes": "looking", "assigned_to": "alice"})
    assert b["incident"]["status"] == "acknowledged"
    _, _, b = api.call("POST", base + "/acknowledge", 409, body={})
    assert b["error"]["code"] == "conflict"
    api.call("POST", base + "/mitigate", 200, raw=b"", content_type=None)  # empty body means {}
    api.call("POST", base + "/resolve", 200, body={"notes": None})
    api.call("POST", base + "/close", 200, body={"notes": "done"})
    api.call("POST", base + "/reopen", 200, body={})
    api.call("POST", base + "/resolve", 409, body={})
    api.call("POST", base + "/mitigate", 200, body={})
    api.call("POST", base + "/close", 200, body={})
    other = shared_server.new_incident(key=key)
    _, _, b = api.call("POST", base + "/reopen", 409, body={})
    assert b["error"]["details"].get("incident_id") == other, b
    api.call("POST", base + "/acknowledge", 400, body={"notes": 5}, breaks_doc=True)
    api.call("POST", base + "/acknowledge", 400, body={"notes": "x" * 10001}, breaks_doc=True)
    api.call("POST", "/api/incidents/999999999/acknowledge", 404, body={})

    api.call("POST", f"/api/incidents/{other}/assign", 200, body={"assigned_to": "bob"})
    api.call("POST", f"/api/incidents/{other}/assign", 200, body={"assigned_to": None})
    api.call("POST", f"/api/incidents/{other}/assign", 400, body={}, breaks_doc=True)
    api.call("POST", f"/api/incidents/{other}/assign", 400, body={"assigned_to": "x" * 129}, breaks_doc=True)
    api.call("POST", "/api/incidents/999999999/assign", 404, body={"assigned_to": "bob"})


def test_comments_and_timeline(api, shared_server):
    iid = shared_server.new_incident(key=unique("oa-comments"))
    base = f"/api/incidents/{iid}"
    _, _, b = api.call("POST", base + "/comments", 201, body={"body": "first look: the index is cold"})
    assert b["comment"]["incident_id"] == iid
    api.call("POST", base + "/comments", 201, body={"body": "é" * 10000})
    api.call("POST", base + "/comments", 400, body={"body": "   "}, breaks_doc=True)
    api.call("POST", base + "/comments", 400, body={"body": "x" * 10001}, breaks_doc=True)
    api.call("POST", base + "/comments", 400, body={}, breaks_doc=True)
    api.call("POST", "/api/incidents/999999999/comments", 404, body={"body": "hello"})
    _, _, b = api.call("GET", base + "/comments", 200)
    assert b["total"] == 2
    api.call("GET", base + "/comments?page=2&per_page=1", 200)
    api.call("GET", base + "/comments?per_page=0", 400, breaks_doc=True)
    api.call("GET", "/api/incidents/999999999/comments", 404)

    shared_server.transition(iid, "acknowledge", {"notes": "mine"})
    _, _, b = api.call("GET", base + "/timeline", 200)
    types = [e["type"] for e in b["events"]]
    assert types[0] == "incident_created" and "incident_updated" in types
    api.call("GET", base + "/timeline?page=1&per_page=1000", 200)
    api.call("GET", base + "/timeline?per_page=1001", 400, breaks_doc=True)
    api.call("GET", "/api/incidents/999999999/timeline", 404)


def test_events(api, shared_server):
    key = unique("oa-events")
    iid = shared_server.new_incident(key=key)
    shared_server.signal(key=key)  # deduplicated
    shared_server.signal(key=key, action="resolve")
    _, _, b = api.call("GET", "/api/events", 200)
    assert b["page"] == 1
    _, _, b = api.call("GET", f"/api/events?incident_id={iid}&limit=1000", 200)
    changes = [e["data"].get("change_type") for e in b["events"] if e["type"] == "incident_updated"]
    assert changes == ["deduplicated", "resolved"], changes
    api.call("GET", "/api/events?after_id=0&types=incident_created,signal_suppressed&types=silence_created"
                    "&limit=1000", 200)
    # every event of the log so far validates (token, silence and suppression events included)
    after = 0
    while True:
        _, _, b = api.call("GET", f"/api/events?after_id={after}&limit=1000", 200)
        if not b["events"]:
            break
        after = b["events"][-1]["id"]
    for q in ("types=nope", "types=", "limit=0", "limit=1001", "after_id=-1", "incident_id=0"):
        api.call("GET", "/api/events?" + q, 400, breaks_doc=True)


# --------------------------------------------------------------------------- the event stream

SSE = "/api/sse/events"


def _event_msgs(msgs):
    return [m for m in msgs if "id" in m]


def _caught_up(msgs):
    """stream_until: connected arrived, and an event with its last_event_id (the newest id
    when the stream opened) or a later one."""
    head = [json.loads(m["data"]) for m in msgs if m.get("event") == "connected"]
    return bool(head) and (head[0]["last_event_id"] == 0 or
                           any(int(m["id"]) >= head[0]["last_event_id"] for m in _event_msgs(msgs)))


def _got(event):
    return lambda msgs: any(m.get("event") == event for m in msgs)


def test_event_stream(api, shared_server, role_tokens):
    """GET /api/sse/events: its head and first messages (the generic reader stops after
    `connected`), replays validated message by message, and its errors."""
    s = shared_server
    viewer = role_tokens["viewer"][1]
    iid = s.new_incident(key=unique("oa-sse"))
    s.transition(iid, "acknowledge")
    mine = s.all_events(incident_id=iid)
    created, acked = mine[0]["id"], mine[-1]["id"]
    assert [e["type"] for e in mine] == ["incident_created", "incident_updated"], mine

    # the head: a viewer is enough; retry first, then connected
    _, h, msgs = api.call("GET", SSE, 200, token=viewer)
    assert h["content-type"].lower().replace(" ", "") == "text/event-stream;charset=utf-8", h
    assert msgs[0] == {"retry": 3000} and msgs[1]["event"] == "connected", msgs
    assert json.loads(msgs[1]["data"])["last_event_id"] >= acked, msgs
    # the three ways to authenticate: header (above), ?token= and the session cookie
    api.call("GET", f"{SSE}?token={viewer}", 200, token=None)
    _, hc, _ = api.call("POST", "/api/session", 200, body={"token": viewer}, token=None)
    jar = {"Cookie": f"intervene_session={_cookie(hc)}"}
    wait_for(lambda: api.raw("GET", "/api/session", token=None, headers=jar)[0] == 200, timeout=2.0,
             msg="the session cookie is accepted")
    api.call("GET", SSE, 200, token=None, headers=jar)
    # filters, repeated and comma-separated
    api.call("GET", f"{SSE}?types=incident_created,incident_updated&types=silence_created&incident_id={iid}", 200)

    # a replay from 0: every event of the log, as GET /api/events has it
    _, _, msgs = api.call("GET", f"{SSE}?last_event_id=0", 200, stream_until=_caught_up)
    newest = json.loads(msgs[1]["data"])["last_event_id"]
    got = [(int(m["id"]), m["event"], json.loads(m["data"])) for m in _event_msgs(msgs)
           if int(m["id"]) <= newest]
    assert got == [(e["id"], e["type"], e["data"]) for e in s.all_events() if e["id"] <= newest]
    # a filtered replay: only this incident's incident_updated
    _, _, msgs = api.call("GET", f"{SSE}?last_event_id=0&types=incident_updated&incident_id={iid}", 200,
                          stream_until=lambda ms: any(int(m["id"]) >= acked for m in _event_msgs(ms)))
    assert [int(m["id"]) for m in _event_msgs(msgs)] == [acked], msgs
    # the Last-Event-ID header wins over ?last_event_id=
    _, _, msgs = api.call("GET", f"{SSE}?last_event_id={newest}&incident_id={iid}", 200,
                          headers={"Last-Event-ID": str(created - 1)},
                          stream_until=lambda ms: any(int(m["id"]) >= acked for m in _event_msgs(ms)))
    assert [int(m["id"]) for m in _event_msgs(msgs)] == [created, acked], msgs
    # an id beyond the newest: reset, without an id
    big = 9223372036854775807
    _, _, msgs = api.call("GET", SSE, 200, headers={"Last-Event-ID": str(big)}, stream_until=_got("reset"))
    [reset] = [m for m in msgs if m.get("event") == "reset"]
    r = json.loads(reset["data"])
    assert "id" not in reset and r["last_event_id"] == big and r["newest_id"] >= newest, reset

    # errors: answered as JSON before any stream starts
    for q, field in (("types=nope", "types"), ("types=", "types"), ("incident_id=0", "incident_id"),
                     ("last_event_id=-1", "last_event_id"), ("last_event_id=x", "last_event_id"),
                     ("no_such=1", "no_such")):
        _, _, b = api.call("GET", f"{SSE}?{q}", 400, breaks_doc=True)
        assert b["error"]["code"] == "validation_failed" and b["error"]["details"]["field"] == field, b
    for value in ("x", "-1", "1.5"):
        _, _, b = api.call("GET", f"{SSE}?last_event_id=1", 400, headers={"Last-Event-ID": value},
                           breaks_doc=True)
        assert b["error"]["details"]["field"] == "Last-Event-ID", b
    api.call("GET", f"{SSE}?token=not-a-valid-token", 401, token=None)
    # with an Authorization header, ?token= is not looked at
    api.call("GET", f"{SSE}?token={viewer}", 401, token="not-a-valid-token")


def test_event_stream_heartbeat_and_limit(make_server):
    s = make_server({"server": {"sse_heartbeat": "200ms", "sse_max_clients": 1}})
    a = Api(s)
    _, _, msgs = a.call("GET", SSE, 200, stream_until=_got("heartbeat"))
    [hb] = [m for m in msgs if m.get("event") == "heartbeat"][:1]
    assert "id" not in hb, hb
    # server.sse_max_clients streams open: 503 unavailable
    wait_for(lambda: "\nintervene_sse_subscribers 0\n" in s.get("/metrics")[1], timeout=5,
             msg="the server saw the stream close")
    held = Stream(s.port, SSE, token=s.token)
    try:
        held.until(lambda st: st.connected)
        _, _, b = a.call("GET", SSE, 503)
        assert b["error"]["code"] == "unavailable", b
    finally:
        held.close()


# --------------------------------------------------------------------------- silences

def test_silences(api, shared_server):
    glob = unique("oa-sil") + "-*"
    shared_server.new_incident(key=glob.replace("*", "active"))  # before any silence matches it
    _, _, b = api.call("POST", "/api/silences", 201, body={"key_glob": glob, "reason": "deploy", "duration": "2h"})
    sid = b["silence"]["id"]
    tomorrow = fmt_ts(_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=1))
    api.call("POST", "/api/silences", 201,
             body={"kind": "budget", "key_glob": "budget:" + glob, "reason": "maintenance",
                   "starts_at": "2020-01-01T00:00:00Z", "ends_at": tomorrow.replace("Z", "+00:00"),
                   "duration": None})
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "reason": "too long", "duration": "8d"})
    api.call("POST", "/api/silences", 201,
             body={"kind": "manual", "key_glob": glob, "reason": "window",
                   "ends_at": "2099-01-01T00:00:00.000Z", "starts_at": "2098-12-31T00:00:00.000Z"})
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "reason": "neither"}, breaks_doc=True)
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "reason": "both", "duration": "1h",
                                                 "ends_at": "2099-01-01T00:00:00Z"}, breaks_doc=True)
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "reason": " ", "duration": "1h"},
             breaks_doc=True)
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "duration": "1h"}, breaks_doc=True)
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "reason": "r", "duration": "soon"},
             breaks_doc=True)
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "reason": "r", "duration": "1h",
                                                 "kind": "other"}, breaks_doc=True)
    api.call("POST", "/api/silences", 400, body={"key_glob": glob, "reason": "r",
                                                 "ends_at": "2000-01-01T00:00:00Z"})

    _, _, b = api.call("GET", "/api/silences", 200)
    assert any(s["id"] == sid for s in b["silences"])
    api.call("GET", "/api/silences?all=true&page=1&per_page=200", 200)
    api.call("GET", "/api/silences?all=false", 200)
    api.call("GET", "/api/silences?all=1", 400, breaks_doc=True)
    api.call("GET", "/api/silences?per_page=201", 400, breaks_doc=True)

    _, _, b = api.call("GET", f"/api/silences/preview?key_glob={glob}", 200)
    assert len(b["incidents"]) == 1
    api.call("GET", f"/api/silences/preview?kind=manual&key_glob={glob}", 200)
    api.call("GET", f"/api/silences/preview?kind=&key_glob={glob}", 200)
    api.call("GET", "/api/silences/preview", 400, breaks_doc=True)
    api.call("GET", f"/api/silences/preview?kind=bad&key_glob={glob}", 400, breaks_doc=True)

    _, _, b = api.call("DELETE", f"/api/silences/{sid}", 200)
    assert b["silence"]["active"] is False
    api.call("DELETE", f"/api/silences/{sid}", 200)
    api.call("DELETE", "/api/silences/999999999", 404)


# --------------------------------------------------------------------------- sessions

def _cookie(hdrs):
    sc = hdrs.get("set-cookie", "")
    m = re.match(r"intervene_session=([^;]*)", sc)
    assert m, f"no intervene_session cookie in {sc!r}"
    return m.group(1)


def test_sessions(api, shared_server, role_tokens):
    s = shared_server
    origin = f"http://127.0.0.1:{s.port}"
    _, h, b = api.call("POST", "/api/session", 200, body={"token": role_tokens["responder"][1]}, token=None)
    assert b["actor"] == role_tokens["responder"][0] and b["role"] == "responder"
    sid = _cookie(h)
    jar = {"Cookie": f"intervene_session={sid}"}
    api.call("POST", "/api/session", 401, body={"token": "not-a-token"}, token=None)
    api.call("POST", "/api/session", 400, body={}, token=None, breaks_doc=True)
    api.call("POST", "/api/session", 400, body={"token": 5}, token=None, breaks_doc=True)

    _, _, b = api.call("GET", "/api/session", 200)
    assert b == {"actor": "admin", "role": "admin", "via": "token"}
    wait_for(lambda: api.raw("GET", "/api/session", token=None, headers=jar)[0] == 200, timeout=2.0,
             msg="the session cookie is accepted")
    _, _, b = api.call("GET", "/api/session", 200, token=None, headers=jar)
    assert b == {"actor": role_tokens["responder"][0], "role": "responder", "via": "cookie"}
    api.call("GET", "/api/incidents", 200, token=None, headers=jar)
    api.call("GET", "/api/session", 401, token=None)
    api.call("GET", "/api/session", 401, token=None, headers={"Cookie": "intervene_session=bogus"})

    # unsafe requests authenticated by the cookie need the server's Origin
    api.call("POST", "/api/signals", 403, body=sig(unique("oa-cookie")), token=None, headers=jar)
    api.call("POST", "/api/signals", 403, body=sig(unique("oa-cookie")), token=None,
             headers={**jar, "Origin": "http://evil.example"})
    api.call("POST", "/api/signals", 202, body=sig(unique("oa-cookie")), token=None,
             headers={**jar, "Origin": origin})
    api.call("DELETE", "/api/session", 403, token=None, headers=jar)
    api.call("DELETE", "/api/session", 200, token=None, headers={**jar, "Origin": origin})
    wait_for(lambda: api.raw("GET", "/api/session", token=None, headers=jar)[0] == 401, timeout=2.0,
             msg="the ended session is refused")
    api.call("GET", "/api/session", 401, token=None, headers=jar)
    # signing out with a bearer token just clears the cookie
    api.call("DELETE", "/api/session", 200, token=role_tokens["viewer"][1])


def test_session_in_auth_mode_none(make_server):
    api = Api(make_server({"auth": {"mode": "none"}}))
    _, _, b = api.call("GET", "/api/session", 200, token=None)
    assert b == {"actor": "local", "role": "admin", "via": "none"}


# --------------------------------------------------------------------------- tokens

def test_tokens(api, shared_server):
    name = unique("oa-tok")
    _, _, b = api.call("POST", "/api/tokens", 201, body={"name": name, "role": "viewer", "expires": "90d"})
    secret = b["token"]
    assert b["name"] == name and b["role"] == "viewer" and b["expires_at"]
    _, _, b = api.call("POST", "/api/tokens", 201, body={"name": name + "-forever", "role": "responder"})
    assert b["expires_at"] is None
    api.call("POST", "/api/tokens", 409, body={"name": name, "role": "viewer"})
    api.call("POST", "/api/tokens", 400, body={"name": name + "x", "role": "root"}, breaks_doc=True)
    api.call("POST", "/api/tokens", 400, body={"name": "has space", "role": "viewer"}, breaks_doc=True)
    api.call("POST", "/api/tokens", 400, body={"name": name + "y", "role": "viewer", "expires": "soon"},
             breaks_doc=True)
    api.call("POST", "/api/tokens", 400, body={"role": "viewer"}, breaks_doc=True)
    wait_for(lambda: shared_server.get("/api/incidents", token=secret)[0] == 200, timeout=2.0,
             msg="the new token is accepted")

    _, _, b = api.call("GET", "/api/tokens", 200)
    mine = [t for t in b["tokens"] if t["name"] == name]
    assert mine and mine[0]["status"] == "active" and mine[0]["role"] == "viewer"
    api.call("GET", "/api/tokens?page=1&per_page=1", 200)
    api.call("GET", "/api/tokens?per_page=0", 400, breaks_doc=True)

    _, _, b = api.call("DELETE", f"/api/tokens/{name}", 200)
    assert b["token"]["name"] == name and b["token"]["status"] == "revoked"
    api.call("DELETE", f"/api/tokens/{name}", 404)
    api.call("DELETE", f"/api/tokens/{unique('oa-nobody')}", 404)
    wait_for(lambda: shared_server.get("/api/incidents", token=secret)[0] == 401, timeout=2.0,
             msg="the revoked token is refused")
    _, _, b = api.call("GET", "/api/tokens?per_page=200", 200)
    assert any(t["name"] == name and t["status"] == "revoked" for t in b["tokens"])


# --------------------------------------------------------------------------- settings

def test_settings(api, shared_server):
    name = unique("oa-canary")
    _, _, b = api.call("GET", "/api/settings/tracker", 200)
    assert b["setting"]["source"] in ("config", "setting")
    # provider none: other tests of this module must not start queueing tracker calls
    _, _, b = api.call("PUT", "/api/settings/tracker", 200,
                       body={"value": {"provider": "none", "pace": {"burst": 5}}, "reason": "contract"})
    assert b["setting"]["source"] == "setting" and b["setting"]["value"]["pace"]["burst"] == 5
    canary = {"version": "v2", "baseline_version": "v1", "canary_pct": 10, "kill_switch": False}
    api.call("PUT", f"/api/settings/canary.{name}", 200, body={"value": canary, "reason": "ramp"})
    api.call("GET", f"/api/settings/canary.{name}", 200)
    _, _, b = api.call("GET", f"/api/canary/{name}", 200)
    assert b["canary_pct"] == 10 and b["name"] == name
    _, _, b = api.call("GET", "/api/settings?page=1&per_page=200", 200)
    assert b["settings"][0]["key"] == "tracker"
    api.call("GET", "/api/settings?per_page=0", 400, breaks_doc=True)
    api.call("PUT", f"/api/settings/canary.{name}", 400,
             body={"value": dict(canary, canary_pct=101), "reason": "r"})
    api.call("PUT", f"/api/settings/canary.{name}", 400, body={"value": canary, "reason": " "},
             breaks_doc=True)
    api.call("PUT", f"/api/settings/canary.{name}", 400, body={"value": [], "reason": "r"},
             breaks_doc=True)
    api.call("PUT", f"/api/settings/canary.{name}", 400, body={"value": canary}, breaks_doc=True)
    api.call("PUT", "/api/settings/tracker", 400, body={"value": {"provider": "bugzilla"}, "reason": "r"})
    api.call("PUT", "/api/settings/notify", 404, body={"value": {}, "reason": "r"})
    api.call("GET", "/api/settings/notify", 404)
    api.call("GET", f"/api/settings/canary.{name}-unset", 404)
    api.call("GET", f"/api/canary/{name}-unset", 404)
    api.call("GET", "/api/canary/a%2Fb", 404)


# --------------------------------------------------------------------------- playbooks

PB = "/api/playbooks/incidents"
OFFERED_TYPES = ["rerun_dbt", "refresh_dbt_dependencies", "refresh_synonyms", "clear_cache",
                 "rollback_planner", "adjust_canary_split"]


def _set_canary(api, name, pct, kill=False, version="v2"):
    api.call("PUT", f"/api/settings/canary.{name}", 200,
             body={"value": {"version": version, "baseline_version": "v1", "canary_pct": pct,
                             "kill_switch": kill}, "reason": "openapi contract"})


def _dry_run(api, iid, action_type, params=None, token=ADMIN, expect=200, **kw):
    body = {"action_type": action_type}
    if params is not None:
        body["params"] = params
    _, _, b = api.call("POST", f"{PB}/{iid}/actions/dry-run", expect, body=body, token=token, **kw)
    return b["action"] if expect == 200 else b


def _action(api, iid, aid, token=ADMIN):
    _, _, b = api.call("GET", f"{PB}/{iid}/actions/{aid}", 200, token=token)
    return b["action"]


def _wait_status(api, iid, aid, statuses, timeout=10.0):
    seen = {}

    def ended():
        seen["a"] = _action(api, iid, aid)
        return seen["a"]["status"] in statuses
    wait_for(ended, timeout=timeout, msg=f"action {aid} reaches {statuses}")
    return seen["a"]


def test_playbook_catalogue_and_offered(api, shared_server, role_tokens):
    viewer = role_tokens["viewer"][1]
    _, _, b = api.call("GET", "/api/playbooks/actions", 200, token=viewer)
    assert [t["name"] for t in b["actions"]] == OFFERED_TYPES, b
    split = next(t for t in b["actions"] if t["name"] == "adjust_canary_split")
    pct = next(p for p in split["params"] if p["name"] == "target_percent")
    assert (pct["type"], pct["required"], pct["min"], pct["max"]) == ("integer", True, 0, 100), pct
    assert split["reversible"] is True and split["rollback"]
    assert next(t for t in b["actions"] if t["name"] == "clear_cache")["rollback"] is None
    api.call("GET", "/api/playbooks/actions?page=1", 400, breaks_doc=True)

    name = unique("oa-offer")
    _set_canary(api, name, 10)
    # a declared incident: its playbooks, params suggested from its details
    _, _, inc = api.call("POST", "/api/incidents", 201,
                         body={"summary": "offered actions", "details": {"canary": name, "version": "v2"},
                               "playbooks": ["adjust_canary_split", "rerun_dbt", "clear_cache"]})
    iid = inc["incident"]["id"]
    _, _, b = api.call("GET", f"{PB}/{iid}/actions", 200, token=viewer)
    offered = {o["action_type"]: o for o in b["actions"]}
    assert list(offered) == ["adjust_canary_split", "rerun_dbt", "clear_cache"], b
    assert offered["adjust_canary_split"]["params"] == {"canary": name, "version": "v2", "target_percent": 0,
                                                        "gradual": True}
    assert offered["adjust_canary_split"]["requires_approval"] is False
    assert offered["rerun_dbt"]["requires_approval"] is None  # no models to suggest
    # suggestions by kind (SPEC §9.2)
    _, _, s = api.call("POST", "/api/signals", 202,
                       body=sig(unique("oa-planner"), kind="planner",
                                details={"canary": name, "version": "v2"}))
    _, _, b = api.call("GET", f"{PB}/{s['incident_id']}/actions", 200)
    assert [o["action_type"] for o in b["actions"]] == ["rollback_planner", "adjust_canary_split"], b
    assert b["actions"][0]["params"]["from_version"] == "v2" and b["actions"][0]["requires_approval"] is False
    _, _, s = api.call("POST", "/api/signals", 202,
                       body=sig(unique("oa-latency"), kind="budget",
                                details={"budget_type": "latency_p95", "agent": "search-agent",
                                         "index_name": "kb-articles"}))
    _, _, b = api.call("GET", f"{PB}/{s['incident_id']}/actions", 200)
    assert [o["action_type"] for o in b["actions"]] == ["clear_cache", "refresh_synonyms"], b
    api.call("GET", f"{PB}/999999999/actions", 404)
    api.call("GET", f"{PB}/{iid}/actions?x=1", 400, breaks_doc=True)


def test_playbook_dry_run(api, shared_server, role_tokens):
    responder = role_tokens["responder"][1]
    name = unique("oa-dry")
    _set_canary(api, name, 10)
    iid = shared_server.new_incident(key=unique("oa-dry"))
    split = {"canary": name, "version": "v2", "target_percent": 50, "gradual": False}
    a = _dry_run(api, iid, "adjust_canary_split", split, token=responder)
    assert a["status"] == "dry_run_success" and a["requires_approval"] is True and a["reversible"] is True
    assert a["plan"]["steps"] == [50] and a["plan"]["inverse"]["params"]["target_percent"] == 10, a
    assert a["requested_by"] == role_tokens["responder"][0] and a["target"] == f"canary:{name}"
    a = _dry_run(api, iid, "adjust_canary_split", {"canary": name, "version": "v2", "target_percent": 0})
    assert a["params"]["gradual"] is True and a["requires_approval"] is False
    a = _dry_run(api, iid, "rollback_planner", {"canary": name, "from_version": "v2", "immediate": True})
    assert a["requires_approval"] is True and a["plan"]["current"]["canary_pct"] == 10, a
    a = _dry_run(api, iid, "refresh_synonyms", {"index_name": "kb-articles", "strategy": "reopen",
                                                "synonym_filter": "kb_synonyms", "reindex": True})
    assert a["requires_approval"] is True and len(a["plan"]["http_calls"]) == 3, a
    a = _dry_run(api, iid, "clear_cache")  # params absent means {}
    assert a["params"] == {"cache_types": ["query", "request"]} and a["target"] == "es:_all", a
    _dry_run(api, iid, "clear_cache", {"index_name": "kb-articles", "cache_types": ["fielddata"]})
    # valid params, but no plan can be made: stored as dry_run_failed with the reason
    for t, p in (("adjust_canary_split", dict(split, version="v9")),                       # not current
                 ("adjust_canary_split", dict(split, target_percent=10)),                  # no-op
                 ("adjust_canary_split", dict(split, canary=unique("oa-unset"))),          # not set
                 ("rerun_dbt", {"models": ["stg_orders", "+fct_orders"], "full_refresh": True}),  # no project
                 ("refresh_dbt_dependencies", {})):
        a = _dry_run(api, iid, t, p)
        assert a["status"] == "dry_run_failed" and a["error"] and a["plan"]["message"] == a["error"], a
    # params that break the schema: 400 naming the field, nothing stored
    _, _, before = api.call("GET", f"{PB}/{iid}/actions/history", 200)
    for t, p, field in (
            ("adjust_canary_split", dict(split, target_percent=101), "params.target_percent"),
            ("adjust_canary_split", {"canary": name, "version": "v2"}, "params.target_percent"),
            ("adjust_canary_split", dict(split, canary="a/b"), "params.canary"),
            ("adjust_canary_split", dict(split, speed=2), "params.speed"),
            ("adjust_canary_split", None, "params.canary"),
            ("rollback_planner", {"immediate": True}, "params.from_version"),
            ("rerun_dbt", {"models": []}, "params.models"),
            ("rerun_dbt", {"models": ["--vars"]}, "params.models"),
            ("rerun_dbt", {"models": ["a b"]}, "params.models"),
            ("rerun_dbt", {"models": ["m"], "threads": 0}, "params.threads"),
            ("rerun_dbt", {"models": ["m"], "project_dir": "relative/dir"}, "params.project_dir"),
            ("refresh_synonyms", {"index_name": "KB"}, "params.index_name"),
            ("refresh_synonyms", {"index_name": "_kb"}, "params.index_name"),
            ("refresh_synonyms", {"index_name": "kb", "strategy": "restart"}, "params.strategy"),
            ("clear_cache", {"cache_types": ["query", "disk"]}, "params.cache_types"),
            ("clear_cache", {"index_name": "a,b"}, "params.index_name")):
        b = _dry_run(api, iid, t, p, expect=400, breaks_doc=True)
        assert b["error"]["code"] == "validation_failed" and b["error"]["details"]["field"] == field, (t, p, b)
    for body, field in (({}, "action_type"), ({"action_type": "reboot"}, "action_type"),
                        ({"action_type": "restore_canary", "params": {"canary": name, "state": {}}},
                         "action_type"),
                        ({"action_type": "clear_cache", "params": []}, "params")):
        _, _, b = api.call("POST", f"{PB}/{iid}/actions/dry-run", 400, body=body, breaks_doc=True)
        assert b["error"]["details"]["field"] == field, b
    # a project_dir that is not configured: only the server knows
    _dry_run(api, iid, "rerun_dbt", {"models": ["m"], "project_dir": "/srv/dbt"}, expect=400)
    _, _, after = api.call("GET", f"{PB}/{iid}/actions/history", 200)
    assert after["total"] == before["total"]
    _dry_run(api, 999999999, "clear_cache", expect=404)


def test_playbook_approve_execute_rollback(api, shared_server, role_tokens):
    responder, approver, viewer = (role_tokens[r][1] for r in ("responder", "approver", "viewer"))
    name = unique("oa-exec")
    _set_canary(api, name, 10)
    iid = shared_server.new_incident(key=unique("oa-exec"))
    other = shared_server.new_incident(key=unique("oa-other"))
    base = f"{PB}/{iid}/actions"
    a = _dry_run(api, iid, "adjust_canary_split",
                 {"canary": name, "version": "v2", "target_percent": 50, "gradual": False}, token=responder)
    aid = a["id"]

    # execute without the approval the plan needs
    _, _, b = api.call("POST", base + "/execute", 403, body={"action_id": aid}, token=responder)
    assert b["error"]["code"] == "approval_required", b
    # approve: four eyes, the approver role, this plan
    _, _, b = api.call("POST", f"{base}/{aid}/approve", 403, body={}, token=responder)
    assert b["error"]["code"] == "forbidden"
    mine = _dry_run(api, iid, "adjust_canary_split",
                    {"canary": name, "version": "v2", "target_percent": 60}, token=approver)
    _, _, b = api.call("POST", f"{base}/{mine['id']}/approve", 403, body={}, token=approver)
    assert b["error"]["code"] == "forbidden" and "second person" in b["error"]["message"], b
    api.call("POST", f"{base}/{aid}/approve", 409, body={"plan_hash": "0" * 64}, token=approver)
    api.call("POST", f"{base}/{aid}/approve", 400, body={"plan_hash": "abc"}, token=approver, breaks_doc=True)
    api.call("POST", f"{base}/{aid}/approve", 400, body={"plan_hash": None}, token=approver, breaks_doc=True)
    api.call("POST", f"{base}/999999999/approve", 404, body={}, token=approver)
    api.call("POST", f"{PB}/{other}/actions/{aid}/approve", 404, body={}, token=approver)
    _, _, b = api.call("POST", f"{base}/{aid}/approve", 200, body={"plan_hash": a["plan_hash"]}, token=approver)
    assert b["action"]["status"] == "approved" and b["action"]["approved_by"] == role_tokens["approver"][0]
    api.call("POST", f"{base}/{aid}/approve", 409, body={}, token=approver)  # not waiting any more
    failed = _dry_run(api, iid, "adjust_canary_split",
                      {"canary": name, "version": "v9", "target_percent": 60}, token=responder)
    api.call("POST", f"{base}/{failed['id']}/approve", 409, raw=b"", content_type=None, token=approver)

    # execute: bad requests, then for real (Idempotency-Key honoured)
    for body, q in (({"action_id": 0}, ""), ({"action_id": str(aid)}, ""), ({}, ""),
                    ({"action_id": aid}, "?wait=61"), ({"action_id": aid}, "?wait=-1"),
                    ({"action_id": aid}, "?wait=soon"), ({"action_id": aid}, "?when=now")):
        api.call("POST", base + "/execute" + q, 400, body=body, token=responder, breaks_doc=True)
    api.call("POST", base + "/execute", 400, body={"action_id": aid}, token=responder,
             headers={"Idempotency-Key": ""}, breaks_doc=True)
    api.call("POST", base + "/execute", 404, body={"action_id": 999999999}, token=responder)
    api.call("POST", f"{PB}/{other}/actions/execute", 404, body={"action_id": aid}, token=responder)
    api.call("POST", base + "/execute", 409, body={"action_id": failed["id"]}, token=responder)
    idem = {"Idempotency-Key": unique("oa-exec")}
    st, _, b = api.call("POST", base + "/execute?wait=10", (200, 202), body={"action_id": aid},
                        token=responder, headers=idem)
    assert b["action"]["id"] == aid and b["action"]["executed_by"] == role_tokens["responder"][0]
    if st == 200:
        assert b["action"]["status"] == "success" and "log" in b["action"], b
    done = _wait_status(api, iid, aid, {"success"})
    assert done["result"]["to_percent"] == 50 and done["finished_at"], done
    assert "step 1" in done["log"], done
    _, _, b = api.call("GET", f"/api/canary/{name}", 200)
    assert b["canary_pct"] == 50
    st, _, again = api.call("POST", base + "/execute?wait=10", (200, 202), body={"action_id": aid},
                            token=responder, headers=idem)
    assert again["action"]["id"] == aid  # the stored reply; nothing ran again
    api.call("POST", base + "/execute", 409, body={"action_id": aid}, token=responder)

    # the action, the history
    _, _, b = api.call("GET", f"{base}/{aid}", 200, token=viewer)
    assert b["action"]["status"] == "success" and b["action"]["reversible"] is True
    api.call("GET", f"{base}/999999999", 404)
    api.call("GET", f"{PB}/{other}/actions/{aid}", 404)
    api.call("GET", f"{base}/{aid}?verbose=1", 400, breaks_doc=True)
    _, _, b = api.call("GET", base + "/history", 200, token=viewer)
    ids = [x["id"] for x in b["actions"]]
    assert ids == sorted(ids, reverse=True) and aid in ids and b["total"] == len(ids) == 3, b
    _, _, b = api.call("GET", base + "/history?page=2&per_page=1", 200)
    assert b["actions"][0]["id"] == ids[1] and (b["page"], b["per_page"], b["total"]) == (2, 1, 3)
    _, _, b = api.call("GET", base + "/history?page=9", 200)
    assert b["actions"] == []
    api.call("GET", base + "/history?per_page=0", 400, breaks_doc=True)
    api.call("GET", base + "/history?per_page=201", 400, breaks_doc=True)
    api.call("GET", base + "/history?page=x", 400, breaks_doc=True)
    api.call("GET", f"{PB}/999999999/actions/history", 404)

    # rollback: a new plan, executed like any plan; the original becomes rolled_back
    api.call("POST", f"{base}/{failed['id']}/rollback", 409, body={}, token=responder)
    api.call("POST", f"{base}/{mine['id']}/rollback", 409, raw=b"", content_type=None, token=responder)
    api.call("POST", f"{base}/999999999/rollback", 404, body={}, token=responder)
    api.call("POST", f"{PB}/{other}/actions/{aid}/rollback", 404, body={}, token=responder)
    _, _, b = api.call("POST", f"{base}/{aid}/rollback", 200, raw=b"", content_type=None, token=responder)
    rb = b["action"]
    assert rb["rollback_of"] == aid and rb["status"] == "dry_run_success" and rb["requires_approval"] is False
    assert rb["params"]["target_percent"] == 10, rb
    _, _, b = api.call("POST", base + "/execute?wait=10", (200, 202), body={"action_id": rb["id"]},
                       token=responder)
    _wait_status(api, iid, rb["id"], {"success"})
    assert _action(api, iid, aid)["status"] == "rolled_back"
    api.call("POST", f"{base}/{aid}/rollback", 409, body={}, token=responder)
    # undoing the rollback raises the traffic again: it needs approval
    _, _, b = api.call("POST", f"{base}/{rb['id']}/rollback", 200, body={}, token=responder)
    assert b["action"]["requires_approval"] is True and b["action"]["params"]["target_percent"] == 50

    # rollback_planner at once, then its rollback: restore_canary, which needs approval
    rp = _dry_run(api, iid, "rollback_planner", {"canary": name, "from_version": "v2", "immediate": True},
                  token=responder)
    api.call("POST", f"{base}/{rp['id']}/approve", 200, body={}, token=approver)
    api.call("POST", base + "/execute?wait=10", (200, 202), body={"action_id": rp["id"]}, token=responder)
    done = _wait_status(api, iid, rp["id"], {"success"})
    assert done["result"]["previous"]["canary_pct"] == 10, done
    _, _, b = api.call("GET", f"/api/canary/{name}", 200)
    assert (b["canary_pct"], b["kill_switch"]) == (0, True)
    _, _, b = api.call("POST", f"{base}/{rp['id']}/rollback", 200, body={}, token=responder)
    rs = b["action"]
    assert rs["action_type"] == "restore_canary" and rs["requires_approval"] is True, rs
    _, _, b = api.call("POST", base + "/execute", 403, body={"action_id": rs["id"]}, token=responder)
    assert b["error"]["code"] == "approval_required"
    api.call("POST", f"{base}/{rs['id']}/approve", 200, body={}, token=approver)
    api.call("POST", base + "/execute?wait=10", (200, 202), body={"action_id": rs["id"]}, token=responder)
    _wait_status(api, iid, rs["id"], {"success"})
    assert _action(api, iid, rp["id"])["status"] == "rolled_back"
    _, _, b = api.call("GET", f"/api/canary/{name}", 200)
    assert (b["canary_pct"], b["kill_switch"]) == (10, False)

    # every action event of this incident follows the Event schema
    _, _, b = api.call("GET", f"/api/events?incident_id={iid}&limit=1000", 200)
    types = {e["type"] for e in b["events"]}
    assert {"action_planned", "action_approved", "action_started", "action_executed",
            "action_rolled_back"} <= types, types


def test_playbook_cancel_and_busy_target(api, shared_server, role_tokens):
    responder = role_tokens["responder"][1]
    name = unique("oa-cancel")
    _set_canary(api, name, 10)
    iid = shared_server.new_incident(key=unique("oa-cancel"))
    base = f"{PB}/{iid}/actions"
    # gradual rollback: half at once, 0 after actions.rollback_duration (15 min): it keeps running
    slow = _dry_run(api, iid, "rollback_planner", {"canary": name, "from_version": "v2"}, token=responder)
    assert slow["requires_approval"] is False and slow["plan"]["steps"] == [{"canary_pct": 5}, {"canary_pct": 0}]
    st, _, b = api.call("POST", base + "/execute?wait=1", 202, body={"action_id": slow["id"]}, token=responder)
    assert b["action"]["status"] == "running" and b["action"]["lease_until"], b
    wait_for(lambda: shared_server.get(f"/api/canary/{name}")[1]["canary_pct"] == 5, timeout=5,
             msg="the first step")
    # one action per target
    quick = _dry_run(api, iid, "adjust_canary_split",
                     {"canary": name, "version": "v2", "target_percent": 0, "gradual": False}, token=responder)
    _, _, b = api.call("POST", base + "/execute", 409, body={"action_id": quick["id"]}, token=responder)
    assert b["error"]["code"] == "conflict" and str(slow["id"]) in b["error"]["message"], b
    # cancel
    api.call("POST", f"{base}/{quick['id']}/cancel", 409, body={}, token=responder)
    api.call("POST", f"{base}/999999999/cancel", 404, body={}, token=responder)
    api.call("POST", f"{PB}/{shared_server.new_incident(key=unique('oa-x'))}/actions/{slow['id']}/cancel", 404,
             body={}, token=responder)
    _, _, b = api.call("POST", f"{base}/{slow['id']}/cancel", 202, raw=b"", content_type=None, token=responder)
    assert b["action"]["id"] == slow["id"]
    done = _wait_status(api, iid, slow["id"], {"cancelled"})
    assert done["finished_at"] and done["lease_until"] is None, done
    api.call("POST", f"{base}/{slow['id']}/cancel", 409, body={}, token=responder)
    api.call("POST", f"{base}/{slow['id']}/rollback", 409, body={}, token=responder)  # did not succeed
    # the target is free again: no wait → 202 running (or already ended)
    _, _, b = api.call("POST", base + "/execute", 202, body={"action_id": quick["id"]}, token=responder)
    assert b["action"]["status"] == "running"
    _wait_status(api, iid, quick["id"], {"success"})


def test_playbook_approval_ttl_and_gradual_steps(make_server):
    s = make_server({"actions": {"approval_ttl": "2s", "canary_step_interval": "200ms"}})
    a = Api(s)
    toks = {}
    for role in ("responder", "approver"):
        toks[role] = s.create_token(unique(role), role)
        wait_for(lambda: s.get("/api/incidents", token=toks[role])[0] == 200, timeout=2.0,
                 msg=f"{role} token accepted")
    name = unique("oa-ttl")
    _set_canary(a, name, 10)
    iid = s.new_incident(key=unique("oa-ttl"))
    base = f"{PB}/{iid}/actions"
    params = {"canary": name, "version": "v2", "target_percent": 40}

    def plan():
        return _dry_run(a, iid, "adjust_canary_split", params, token=toks["responder"])
    old = plan()
    time.sleep(2.3)
    _, _, b = a.call("POST", f"{base}/{old['id']}/approve", 409, body={}, token=toks["approver"])
    assert "expired" in b["error"]["message"], b
    stale = plan()
    a.call("POST", f"{base}/{stale['id']}/approve", 200, body={}, token=toks["approver"])
    time.sleep(2.3)
    _, _, b = a.call("POST", base + "/execute", 403, body={"action_id": stale["id"]}, token=toks["responder"])
    assert b["error"]["code"] == "approval_required" and "expired" in b["error"]["message"], b
    fresh = plan()
    a.call("POST", f"{base}/{fresh['id']}/approve", 200, body={"plan_hash": fresh["plan_hash"]},
           token=toks["approver"])
    _, _, b = a.call("POST", base + "/execute?wait=10", 200, body={"action_id": fresh["id"]},
                     token=toks["responder"])
    done = b["action"]
    assert done["status"] == "success" and done["plan"]["steps"] == [20, 30, 40], done
    assert [st["state"]["canary_pct"] for st in done["result"]["steps"]] == [20, 30, 40], done
    assert "step 3" in done["log"]

def test_playbook_dbt_and_elasticsearch(make_server, tmp_path):
    """The dbt and Elasticsearch actions against the stand-ins: their plans and results."""
    state = str(tmp_path / "dbtstate")
    cmd = dbt_stub.install(state)
    project = dbt_stub.make_project(tmp_path / "analytics", models=("orders", "customers"))
    try:
        with FakeElasticsearch(indices=("kb-articles",)) as es:
            s = make_server({"actions": {"dbt": {"command": cmd, "project_dirs": [project],
                                                 "env": ["PATH=/usr/bin"]},
                                         "elasticsearch": es.config_block()}})
            a = Api(s)
            iid = s.new_incident(key=unique("oa-dbt"))
            base = f"{PB}/{iid}/actions"

            def run(action_type, params, status="success"):
                plan = _dry_run(a, iid, action_type, params)
                assert plan["status"] == "dry_run_success" and plan["requires_approval"] is False, plan
                _, _, b = a.call("POST", base + "/execute?wait=30", 200, body={"action_id": plan["id"]})
                assert b["action"]["status"] == status, b
                return b["action"]

            done = run("rerun_dbt", {"models": ["orders", "customers"], "task_id": "T-1"})
            assert done["plan"]["commands"][0].endswith(f"--threads 4 --project-dir {project}"), done["plan"]
            assert done["plan"]["env"] == ["PATH"] and done["target"] == f"dbt:{project}"
            assert done["result"]["runs"][0]["exit_code"] == 0 and done["result"]["task_id"] == "T-1", done
            assert set(done["result"]["run_results"]["models"].values()) == {"success"}, done["result"]
            done = run("refresh_dbt_dependencies", {})
            assert len(done["result"]["runs"]) == 2
            dbt_stub.set_behaviour(state, mode="fail", exit_code=2)
            done = run("rerun_dbt", {"models": ["orders"], "project_dir": project}, status="failed")
            assert done["result"]["runs"][0]["exit_code"] == 2 and "status 2" in done["error"], done
            dbt_stub.set_behaviour(state)

            done = run("clear_cache", {"index_name": "kb-articles"})
            assert done["result"]["_shards"]["failed"] == 0 and done["result"]["task"] is None, done
            done = run("refresh_synonyms", {"index_name": "kb-articles", "synonym_filter": "kb_synonyms"})
            assert done["result"]["calls"][0]["path"] == "/kb-articles/_reload_search_analyzers", done
            done = run("clear_cache", {"index_name": "no-such-index", "cache_types": ["request"]},
                       status="failed")
            assert done["result"]["calls"][0]["status"] == 404 and "404" in done["error"], done
            # every action is in the history, and every event of the incident validates
            _, _, b = a.call("GET", base + "/history?per_page=200", 200)
            assert b["total"] == 6 and all(x["status"] in ("success", "failed") for x in b["actions"])
            a.call("GET", f"/api/events?incident_id={iid}&limit=1000", 200)
    finally:
        dbt_stub.kill_all(state)


def test_delivery(api, shared_server, fixtures, make_server):
    # the shared server has no tracker (test_settings left provider none)
    api.call("POST", f"/api/incidents/{fixtures['id']}/issue", 409)
    api.call("POST", "/api/tracker/test", 200)
    with FakeGitHub() as gh:
        s = make_server({"tracker": {"provider": "github", "github": gh.config_block()}})
        a = Api(s)
        iid = s.new_incident(key=unique("oa-issue"))
        wait_for(lambda: s.incident(iid).get("issue_ref"), timeout=10, msg="issue linked")
        _, _, b = a.call("GET", f"/api/incidents/{iid}/issue", 200)
        assert b["issue_ref"]["provider"] == "github" and b["delivery"]["state"] == "delivered"
        _, _, b = a.call("POST", f"/api/incidents/{iid}/issue", 200)
        assert b["queued"] is False
        a.call("GET", "/api/incidents/999999/issue", 404)
        a.call("POST", "/api/incidents/999999/issue", 404)
        gh.fail_next(1, 401, method="POST", path=r"/issues$")
        dead = s.new_incident(key=unique("oa-dead"))
        wait_for(lambda: s.get(f"/api/incidents/{dead}/issue")[1]["delivery"]["state"] == "dead",
                 timeout=10, msg="create dead")
        _, _, b = a.call("GET", f"/api/outbox?status=dead&incident_id={dead}", 200)
        row = b["outbox"][0]
        assert row["status"] == "dead" and row["calls"][0]["http_status"] == 401, row
        a.call("GET", "/api/outbox?status=bogus", 400)
        _, _, b = a.call("POST", f"/api/outbox/{row['id']}/retry", 200)
        assert b["outbox"]["status"] == "pending"
        a.call("POST", f"/api/outbox/{row['id']}/retry", 409)
        a.call("POST", "/api/outbox/999999/retry", 404)
        wait_for(lambda: s.incident(dead).get("issue_ref"), timeout=10, msg="retried create")
        gh.fail_next(1, 401, method="POST", path=r"/issues$")
        again = s.new_incident(key=unique("oa-again"))
        wait_for(lambda: s.get(f"/api/incidents/{again}/issue")[1]["delivery"]["state"] == "dead",
                 timeout=10, msg="create dead")
        _, _, b = a.call("POST", f"/api/incidents/{again}/issue", 202)
        assert b["queued"] is True
        _, _, b = a.call("POST", "/api/tracker/test", 200)
        assert b["ok"] is True and b["provider"] == "github", b


# --------------------------------------------------------------------------- gate inputs

def test_gate_inputs(api):
    agent = unique("oa-gate")
    ts = "2026-03-01T10:00:00Z"
    item = {"task_id": "t", "agent": agent, "timestamp": ts, "success": True,
            "invariants": [{"id": "i", "passed": False, "evidence": {"a": 1}}]}
    api.call("POST", "/api/eval/results", 200, body=[item])
    _, _, b = api.call("POST", "/api/eval/results", 200, body=[item, dict(item, cost=-1)],
                       breaks_doc=True)
    assert b["accepted"] == 1 and b["rejected"][0]["error"]["details"]["field"] == "cost"
    _, _, b = api.call("POST", "/api/eval/results", 200,
                       raw=json.dumps(dict(item, task_id="u")) + "\n{bad\n",
                       content_type="application/x-ndjson")
    assert b["accepted"] == 1 and b["rejected"][0]["error"]["code"] == "invalid_json"
    api.call("POST", "/api/eval/results", 400, body=item, breaks_doc=True)
    day = {"agent": agent, "date": "2026-03-01", "total_runs": 2, "successful_runs": 1}
    api.call("POST", "/api/metrics/daily", 200, body=[day])
    _, _, b = api.call("POST", "/api/metrics/daily", 200, body=[day, dict(day, successful_runs=-1)],
                       breaks_doc=True)
    assert b["accepted"] == 1 and b["rejected"][0]["index"] == 1
    api.call("POST", "/api/metrics/daily", 400, body=day, breaks_doc=True)
    run = {"canary": agent, "version": "v2", "variant": "canary", "timestamp": ts}
    api.call("POST", "/api/canary/runs", 200, body=[run])
    _, _, b = api.call("POST", "/api/canary/runs", 200, body=[run, run])
    assert b["accepted"] == 1 and b["rejected"][0]["index"] == 1
    api.call("POST", "/api/canary/runs", 400, body=run, breaks_doc=True)


def test_gates_and_watcher(api):
    _, _, b = api.call("POST", "/api/gates/run", 200, body={})
    assert b["lookback_days"] == 7 and b["summary"]["agents"] == len(b["agents"])
    api.call("POST", "/api/gates/run", 200, body={"create_incidents": True, "baseline_days": 0})
    api.call("POST", "/api/gates/run", 404, body={"agent": unique("no-budget")})
    api.call("POST", "/api/gates/run", 400, body={"lookback_days": 0}, breaks_doc=True)
    _, _, b = api.call("POST", "/api/watcher/run", 200)
    assert set(b["checks"]) == {"invariants", "budgets", "canary"}
    api.call("POST", "/api/watcher/run", 400, body={"now": 1}, breaks_doc=True)


# --------------------------------------------------------------------------- coverage (last)

def test_zz_every_operation_was_exercised(request):
    """Runs last: every documented operation got a validated success and a validated error
    (for a path with only public GETs, the 405 of another method counts)."""
    here = request.node.module
    wanted = {n for n in dir(here) if n.startswith("test_") and n != request.node.name}
    selected = {getattr(i, "originalname", None) or i.name for i in request.session.items
                if getattr(i, "module", None) is here}
    if not wanted <= selected:
        pytest.skip("only meaningful when the whole module runs")
    problems = []
    for path, method, op in operations():
        statuses = CONTRACT.seen.get((method.upper(), path), set())
        if not any(200 <= s < 300 for s in statuses):
            problems.append(f"{op_id(path, method)}: no success response validated ({sorted(statuses)})")
        errs = {s for s in statuses if s >= 400} | CONTRACT.seen.get((None, path), set())
        if not errs:
            problems.append(f"{op_id(path, method)}: no error response validated")
    assert not problems, "\n".join(problems)
