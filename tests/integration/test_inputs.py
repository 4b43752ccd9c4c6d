"""Hostile values in every query parameter and every body field of every route, read from
the OpenAPI document (issue 7, point 1): each must get a 4xx whose body is valid UTF-8
JSON naming the field — never a 2xx, never a 5xx, never a body that is not JSON.

The values: ill-formed UTF-8, NUL, and non-ASCII text that breaks the field's type,
enumeration, pattern or length (for example `sort=a` followed by forty `é`, which once
answered `200 {"error":{"code":"ok"}}`). Free-text fields accept non-ASCII text by
design; for them only values that break a rule are sent.
"""

import json
import os
import urllib.parse

import pytest

from harness import REPO

OPENAPI = json.load(open(os.path.join(REPO, "src", "api", "openapi.json")))
E40 = "é" * 40


def resolve(x):
    while isinstance(x, dict) and "$ref" in x:
        node = OPENAPI
        for part in x["$ref"].split("/")[1:]:
            node = node[part]
        x = node
    return x


def types_of(schema):
    t = schema.get("type")
    if t is None and "enum" in schema:
        return {"string"}
    if isinstance(t, list):
        return set(t) - {"null"}
    return {t} if t else set()


def bad_values(schema, in_query):
    """Values that break schema, as Python objects (bodies) or text (queries)."""
    schema = resolve(schema)
    if "oneOf" in schema and "type" not in schema:
        return bad_values(schema["oneOf"][0], in_query)
    t = types_of(schema)
    out = []
    if "array" in t:
        items = resolve(schema.get("items", {}))
        if in_query:
            return bad_values(items, True)
        out.append(E40)
        if "enum" in items:
            out.append([E40])
        return out
    if "enum" in schema:
        out += [E40, "a" + E40]
        return out
    if t & {"integer", "number"}:
        return ["a" + E40, "1" + E40] if in_query else [E40, "1" + E40]
    if "boolean" in t:
        return ["t" + E40] if in_query else [E40]
    if "object" in t:
        return [] if in_query else [E40, [E40]]
    if "string" in t:
        if schema.get("format") == "date-time" or "date-time" in schema.get("pattern", ""):
            out.append("2026-" + E40)
        elif schema.get("pattern", "").startswith("^["):
            out.append(E40)  # outside the allowed characters
        if "maxLength" in schema:
            out.append("é" * (schema["maxLength"] + 1))
        if not in_query:
            out.append(12345)  # a number where text belongs
        return out
    return []


def operations():
    for path, item in OPENAPI["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = [resolve(p) for p in op.get("parameters", []) + item.get("parameters", [])]
            yield method.upper(), path, op, params


def query_cases():
    for method, path, op, params in operations():
        for p in params:
            if p["in"] != "query":
                continue
            # ill-formed UTF-8 and NUL are refused for every parameter
            yield method, path, p["name"], "%C3%28", "ill-formed UTF-8"
            yield method, path, p["name"], "%00", "NUL"
            for v in bad_values(p.get("schema", {}), True):
                yield method, path, p["name"], urllib.parse.quote(str(v), safe=""), "breaks the schema"


def body_cases():
    for method, path, op, params in operations():
        rb = op.get("requestBody")
        if not rb:
            continue
        schema = resolve(rb["content"]["application/json"]["schema"])
        if "oneOf" in schema and "properties" not in schema:
            schema = resolve(schema["oneOf"][0])  # a single item of a batch
        if schema.get("type") == "array":
            schema = resolve(schema["items"])  # an item of a batch-only route
        for name, prop in schema.get("properties", {}).items():
            for v in bad_values(prop, False):
                yield method, path, name, v
        if not schema.get("properties") and schema.get("additionalProperties") is False:
            # a route that takes no fields: any field is refused, by name
            yield method, path, "unexpected" + E40, 1


@pytest.fixture(scope="module")
def ctx(shared_server):
    s = shared_server
    iid = s.new_incident()
    return {"id": str(iid), "verb": "acknowledge", "name": "nobody", "action_id": "1"}


def fill(path, ctx):
    for k, v in ctx.items():
        path = path.replace("{" + k + "}", v)
    return path


def minimal_body(method, path):
    """A body that is valid except for the one field under test."""
    if path == "/api/signals":
        return {"kind": "manual", "key": "inputs-test", "summary": "s"}
    if path == "/api/incidents" and method == "POST":
        return {"summary": "s"}
    if path.endswith("/comments"):
        return {"body": "b"}
    if path.endswith("/assign"):
        return {"assigned_to": "a"}
    if path == "/api/silences":
        return {"key_glob": "k*", "reason": "r", "duration": "1h"}
    if path == "/api/session":
        return {"token": "t"}
    if path == "/api/tokens":
        return {"name": "inputs-test", "role": "viewer"}
    if path == "/api/integrations/alertmanager":
        return {"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "inputs"},
                                            "fingerprint": "0123456789abcdef"}]}
    if path == "/api/eval/results":
        return {"task_id": "t", "agent": "a", "timestamp": "2026-03-01T00:00:00Z", "success": True}
    if path == "/api/metrics/daily":
        return {"agent": "a", "date": "2026-03-01", "total_runs": 1, "successful_runs": 1}
    if path.endswith("/actions/execute"):
        return {"action_id": 1}
    if path == "/api/canary/runs":
        return {"canary": "c", "version": "v", "variant": "canary",
                "timestamp": "2026-03-01T00:00:00Z"}
    return {}


def batch_only(method, path):
    """Routes whose body is an array: an item is refused in a 200 reply, by index."""
    rb = [op for m, p, op, _ in operations() if (m, p) == (method, path)][0]["requestBody"]
    return resolve(rb["content"]["application/json"]["schema"]).get("type") == "array"


def check_rejected(status, raw, field, what):
    assert status == 200, f"{what}: want 200 with the item rejected, got {status}: {raw[:300]!r}"
    doc = json.loads(raw.decode("utf-8"))
    assert doc["accepted"] == 0, f"{what}: {doc}"
    [rej] = doc["rejected"]
    assert rej["index"] == 0, doc
    err = rej["error"]
    assert err["code"] not in ("ok", "internal"), doc
    assert isinstance(err["message"], str) and err["message"], doc
    assert err["details"].get("field") == field, f"{what}: want details.field={field!r}: {doc}"


def check_4xx(status, raw, field, what):
    assert 400 <= status < 500, f"{what}: want a 4xx, got {status}: {raw[:300]!r}"
    text = raw.decode("utf-8")  # strict: a body that is not UTF-8 fails here
    doc = json.loads(text)
    err = doc["error"]
    assert err["code"] not in ("ok", "internal"), doc
    assert isinstance(err["message"], str) and err["message"], doc
    assert err["details"].get("field") == field, f"{what}: want details.field={field!r}: {doc}"


def raw_request(srv, method, path, body=None, headers=None):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    h = {"Authorization": f"Bearer {srv.token}", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        h["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        if r.getheader("Content-Type", "").startswith("text/event-stream"):
            # GET /api/sse/events accepted the request: its body never ends, so it is not
            # read (a bad value must have been refused before the stream started)
            r.close()
            return r.status, b"<an endless text/event-stream>"
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("method,path,param,value,why", list(query_cases()),
                         ids=lambda x: str(x)[:40])
def test_every_query_parameter_refuses_bad_values(shared_server, ctx, method, path, param, value,
                                                  why):
    url = fill(path, ctx) + f"?{param}={value}"
    status, raw = raw_request(shared_server, method, url,
                              minimal_body(method, path) if method == "POST" else None)
    check_4xx(status, raw, param, f"{method} {url} ({why})")


@pytest.mark.parametrize("method,path,field,value", list(body_cases()), ids=lambda x: str(x)[:40])
def test_every_body_field_refuses_bad_values(shared_server, ctx, method, path, field, value):
    body = minimal_body(method, path)
    body[field] = value
    what = f"{method} {path} {field}={str(value)[:30]!r}"
    if batch_only(method, path):
        status, raw = raw_request(shared_server, method, fill(path, ctx), [body])
        check_rejected(status, raw, field, what)
        return
    status, raw = raw_request(shared_server, method, fill(path, ctx), body)
    check_4xx(status, raw, field, what)


def test_the_cases_cover_every_route_with_inputs():
    """The generator really reaches every route that takes a query or a body."""
    qroutes = {(m, p) for m, p, *_ in query_cases()}
    broutes = {(m, p) for m, p, *_ in body_cases()}
    for method, path, op, params in operations():
        if any(p["in"] == "query" for p in params):
            assert (method, path) in qroutes, (method, path)
        if op.get("requestBody"):
            assert (method, path) in broutes, (method, path)


@pytest.mark.parametrize("value", ["a" + E40, "1" + E40, "-1", "1.5", "9" * 30])
def test_the_last_event_id_header_refuses_bad_values(shared_server, value):
    """The one documented header parameter that is a number (GET /api/sse/events): a bad
    value is refused before the stream starts, naming the header."""
    status, raw = raw_request(shared_server, "GET", "/api/sse/events",
                              headers={"Last-Event-ID": value.encode("utf-8")})
    check_4xx(status, raw, "Last-Event-ID", f"Last-Event-ID: {value[:20]}")


def test_the_reported_case(shared_server):
    """GET /api/incidents?sort=a followed by forty é, percent-encoded."""
    status, raw = raw_request(shared_server, "GET",
                              "/api/incidents?sort=a" + "%C3%A9" * 40)
    check_4xx(status, raw, "sort", "sort=a + 40 é")


def test_free_text_accepts_non_ascii(shared_server):
    status, raw = raw_request(shared_server, "GET",
                              "/api/incidents?q=" + urllib.parse.quote(E40))
    assert status == 200, raw
    status, raw = raw_request(shared_server, "POST", "/api/signals",
                              {"kind": "manual", "key": "é-" + E40, "summary": "résumé " + E40})
    assert status == 202, raw
