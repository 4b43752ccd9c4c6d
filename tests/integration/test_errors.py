"""Error shape and bad input (SPEC §5, §16): never a 500, the server stays up."""
import http.client
import json
import socket

import pytest

from harness import assert_error, unique


def sig(**kw):
    b = {"kind": "manual", "key": unique("err"), "summary": "bad input test"}
    b.update(kw)
    return b


def alive(s):
    st, _ = s.get("/healthz", token=None)
    return st == 200


def test_request_id_on_every_response(shared_server):
    s = shared_server
    for method, path, tok in [("GET", "/healthz", None), ("GET", "/api/incidents", None),
                              ("GET", "/api/nope", "x"), ("GET", "/api/incidents", s.token),
                              ("DELETE", "/api/incidents", s.token)]:
        st, h, _ = s.request(method, path, token=tok)
        assert h.get("x-request-id"), f"{method} {path} ({st}) lacks X-Request-Id"


def test_error_content_type_json(shared_server):
    st, h, b = shared_server.request("GET", "/api/nope")
    assert_error(st, b, 404, "not_found")
    assert h.get("content-type", "").startswith("application/json")


@pytest.mark.parametrize("raw", [
    b'{"kind": "manual", "summary": ',
    b'not json at all',
    b'{"kind": "manual", "summary": "x",}',
    b"{'kind': 'manual'}",
    b'{"kind": "manual"} trailing',
], ids=["truncated", "garbage", "trailing-comma", "single-quotes", "trailing-data"])
def test_malformed_json(shared_server, raw):
    st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
    assert_error(st, b, 400, "invalid_json")


def test_duplicate_keys(shared_server):
    raw = b'{"kind": "manual", "key": "dup-keys", "summary": "a", "summary": "b"}'
    st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
    assert_error(st, b, 400, "invalid_json")
    raw = b'{"kind": "manual", "key": "dup-keys2", "summary": "a", "details": {"x": 1, "x": 2}}'
    st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
    assert_error(st, b, 400, "invalid_json")


@pytest.mark.parametrize("raw", [
    b'{"kind": "manual", "key": "utf", "summary": "\xff\xfe"}',
    b'{"kind": "manual", "key": "utf", "summary": "\xc3"}',
    b'{"kind": "manual", "key": "utf", "summary": "\xed\xa0\x80"}',  # encoded surrogate
    b'{"kind": "manual", "key": "utf", "summary": "\xc0\xaf"}',  # overlong
], ids=["ff-fe", "truncated-seq", "surrogate", "overlong"])
def test_invalid_utf8(shared_server, raw):
    st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
    assert_error(st, b, 400, "invalid_json")


def test_unknown_field_named(shared_server):
    st, b = shared_server.post("/api/signals", sig(bogus=1))
    assert_error(st, b, 400, "validation_failed", field="bogus")
    st, b = shared_server.post("/api/incidents", {"summary": "x", "frobnicate": True})
    assert_error(st, b, 400, "validation_failed", field="frobnicate")


def test_wrong_types_named(shared_server):
    for field, value in [("details", 5), ("playbooks", "rerun_dbt"), ("summary", 12),
                         ("kind", 1), ("action", "explode"), ("severity", "sev9")]:
        st, b = shared_server.post("/api/signals", sig(**{field: value}))
        assert_error(st, b, 400, "validation_failed", field=field)


def test_top_level_not_object(shared_server):
    for raw in (b'"a string"', b'42', b'null', b'true'):
        st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
        assert st == 400, (raw, st, b)
        assert b["error"]["code"] in ("validation_failed", "invalid_json"), b
    st, _, b = shared_server.request("POST", "/api/incidents", raw=b'[1,2]')
    assert st == 400, b


def test_oversized_body_413(make_server):
    s = make_server({"server": {"max_body_bytes": 4096}})
    summary = "x" * 200
    big = json.dumps(sig(summary=summary, details={"pad": "y" * 8000})).encode()
    st, _, b = s.request("POST", "/api/signals", raw=big)
    assert_error(st, b, 413, "payload_too_large")
    # under the limit is fine
    st, _, b = s.request("POST", "/api/signals", raw=json.dumps(sig(details={"pad": "y" * 1000})))
    assert st == 202, b
    assert alive(s)


def test_oversized_body_without_waiting(make_server):
    """A very large upload gets 413 (or a clean close), never a hang or crash."""
    s = make_server({"server": {"max_body_bytes": 4096}})
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    body = b'{"kind":"manual","summary":"' + b"z" * (4 * 1024 * 1024) + b'"}'
    try:
        conn.request("POST", "/api/signals", body=body,
                     headers={"Content-Type": "application/json",
                              "Authorization": f"Bearer {s.token}"})
        r = conn.getresponse()
        assert r.status == 413
        r.read()
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        conn.close()
    assert alive(s)


def test_content_type_415(shared_server):
    st, _, b = shared_server.request("POST", "/api/signals", body=sig(), content_type="text/plain")
    assert_error(st, b, 415, "unsupported_media_type")
    st, _, b = shared_server.request("POST", "/api/signals", body=sig(),
                                     content_type="application/x-www-form-urlencoded")
    assert_error(st, b, 415, "unsupported_media_type")


def test_content_type_with_parameters_accepted(shared_server):
    st, _, b = shared_server.request("POST", "/api/signals", body=sig(),
                                     content_type="application/json; charset=utf-8")
    assert st == 202, b


def test_empty_body_on_optional_fields_is_empty_object(shared_server):
    iid = shared_server.new_incident()
    st, _, b = shared_server.request("POST", f"/api/incidents/{iid}/acknowledge", content_type=None)
    assert st == 200, b
    assert b["incident"]["status"] == "acknowledged"


def test_empty_body_on_required_fields_400(shared_server):
    st, _, b = shared_server.request("POST", "/api/signals", raw=b"")
    assert st == 400, b
    assert b["error"]["code"] in ("validation_failed", "invalid_json")


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/incidents"), ("PUT", "/api/signals"), ("GET", "/api/signals"),
    ("PUT", "/api/incidents/1"), ("PATCH", "/api/events"), ("POST", "/healthz"),
])
def test_method_not_allowed(shared_server, method, path):
    st, h, b = shared_server.request(method, path, body={} if method != "GET" else None)
    assert_error(st, b, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/nope", "/api/incidents/1/frobnicate", "/api",
                                  "/api/incidents/999999999", "/api/incidents/999999999/timeline",
                                  "/api/incidents/999999999/comments"])
def test_not_found(shared_server, path):
    st, _, b = shared_server.request("GET", path)
    assert_error(st, b, 404, "not_found")


@pytest.mark.parametrize("path", ["/api/incidents/abc", "/api/incidents/-1", "/api/incidents/0",
                                  "/api/incidents/1.5", "/api/incidents/99999999999999999999999",
                                  "/api/incidents/%00", "/api/incidents/1%00"])
def test_bad_ids_are_4xx(shared_server, path):
    st, _, b = shared_server.request("GET", path)
    assert 400 <= st < 500, (path, st, b)
    assert "error" in b
    assert alive(shared_server)


@pytest.mark.parametrize("path", ["/api/incidents/..%2f..%2fetc%2fpasswd", "/api/../api/incidents",
                                  "/api/incidents/1/../../healthz", "//api//incidents",
                                  "/api/incidents?" + "a=1&" * 2000])
def test_path_tricks_never_5xx(shared_server, path):
    try:
        st, _, b = shared_server.request("GET", path)
        assert st < 500, (path, st, b)
    except (ConnectionResetError, http.client.RemoteDisconnected):
        pass  # a clean close is allowed for what the HTTP layer refuses
    assert alive(shared_server)


def test_transition_on_missing_incident_404(shared_server):
    st, b = shared_server.post("/api/incidents/999999999/acknowledge", {})
    assert_error(st, b, 404, "not_found")
    st, b = shared_server.patch("/api/incidents/999999999", {"summary": "x"})
    assert_error(st, b, 404, "not_found")


def test_nul_bytes_in_strings(shared_server):
    for field in ("summary", "key"):
        raw = json.dumps(sig(**{field: "a\u0000b"})).encode()
        st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
        assert 400 <= st < 500, (field, st, b)
        assert "error" in b
    raw = json.dumps(sig(details={"a\u0000": 1})).encode()
    st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
    assert 400 <= st < 500, (st, b)
    assert alive(shared_server)


def test_nul_byte_raw_in_body(shared_server):
    st, _, b = shared_server.request("POST", "/api/signals",
                                     raw=b'{"kind": "manual", "summary": "a\x00b"}')
    assert 400 <= st < 500, (st, b)
    assert alive(shared_server)


def test_deep_nesting(shared_server):
    for raw in (b"[" * 10000, b"[" * 10000 + b"]" * 10000,
                b'{"kind":"manual","summary":"x","details":' + b'{"a":' * 10000 + b'1' + b'}' * 10001):
        st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
        assert 400 <= st < 500, (st, b)
    assert alive(shared_server)


@pytest.mark.parametrize("num", ["1e999999", "-1e999999", "123456789012345678901234567890",
                                 "1" * 5000, "1e-999999"])
def test_huge_numbers(shared_server, num):
    raw = ('{"kind":"manual","key":"%s","summary":"x","details":{"n":%s}}' % (unique("num"), num)).encode()
    st, _, b = shared_server.request("POST", "/api/signals", raw=raw)
    assert st < 500, (st, b)
    if st != 202:
        assert 400 <= st < 500 and "error" in b
    raw = ('{"summary":"x","severity":%s}' % num).encode()
    st, _, b = shared_server.request("POST", "/api/incidents", raw=raw)
    assert 400 <= st < 500, (st, b)
    assert alive(shared_server)


def test_huge_query_values(shared_server):
    for q in ("page=99999999999999999999999", "per_page=-1", "page=1e3", "since=" + "9" * 300,
              "status=" + "open," * 500):
        st, _, b = shared_server.request("GET", "/api/incidents?" + q)
        assert st < 500, (q, st, b)
    st, _, b = shared_server.request("GET", "/api/events?after_id=99999999999999999999999")
    assert st < 500, b
    assert alive(shared_server)


def test_garbage_request_line_closes_or_4xx(shared_server):
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as c:
        c.sendall(b"\x00\x01\x02 GARBAGE\r\n\r\n")
        try:
            data = c.recv(1024)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert data == b"" or data.startswith(b"HTTP/1.") and b" 4" in data.split(b"\r\n")[0]
    assert alive(shared_server)


def test_error_details_is_object(shared_server):
    st, _, b = shared_server.request("GET", "/api/nope")
    assert isinstance(b["error"]["details"], dict)


def test_unknown_query_parameters_are_refused(shared_server):
    from harness import assert_error as _ae
    for path, param in (("/api/incidents?stauts=open", "stauts"),
                        ("/api/incidents/1?x=1", "x"),
                        ("/api/events?after=3", "after"),
                        ("/api/silences?page=1&bogus=", "bogus")):
        st, body = shared_server.get(path)
        _ae(st, body, 400, "validation_failed", field=param)


def test_malformed_query_and_non_object_bodies_name_a_field(shared_server):
    from harness import assert_error as _ae
    st, body = shared_server.get("/api/incidents?%")
    _ae(st, body, 400, "validation_failed", field="query")
    st, body = shared_server.post("/api/incidents", [1])
    _ae(st, body, 400, "validation_failed", field="body")
    st, body = shared_server.post("/api/signals", [])
    _ae(st, body, 400, "validation_failed", field="body")
