"""Browser sessions (/api/session) and token administration (/api/tokens), SPEC §11."""
import re

from harness import assert_error, unique, wait_for


def _cookie(hdrs):
    sc = hdrs.get("set-cookie", "")
    m = re.match(r"intervene_session=([^;]*)", sc)
    return sc, (m.group(1) if m else None)


def _sign_in(server, token):
    st, h, body = server.request("POST", "/api/session", {"token": token}, token=None)
    return st, h, body


def test_sign_in_sets_a_strict_httponly_cookie(server):
    st, h, body = _sign_in(server, server.token)
    assert st == 200, body
    assert body["actor"] == "admin" and body["role"] == "admin"
    sc, sid = _cookie(h)
    assert sid and len(sid) >= 40
    assert "HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc
    assert "Max-Age=" in sc
    # the cookie alone authenticates
    st, _, me = server.request("GET", "/api/session", token=None,
                               headers={"Cookie": f"intervene_session={sid}"})
    assert st == 200 and me == {"actor": "admin", "role": "admin", "via": "cookie"}
    st, _, _ = server.request("GET", "/api/incidents", token=None,
                              headers={"Cookie": f"other=1; intervene_session={sid}"})
    assert st == 200


def test_bad_token_cannot_sign_in(server):
    st, _, body = _sign_in(server, "not-a-token-at-all-xxxxxxxx")
    assert_error(st, body, 401, "unauthorized")
    st, _, body = server.request("POST", "/api/session", {"token": 1}, token=None)
    assert_error(st, body, 400, "validation_failed", field="token")
    st, _, body = server.request("GET", "/api/session", token=None)
    assert_error(st, body, 401, "unauthorized")


def test_session_via_token(server):
    st, _, me = server.request("GET", "/api/session")
    assert st == 200 and me["via"] == "token" and me["role"] == "admin"


def test_unsafe_cookie_requests_need_our_origin(server):
    _, h, _ = _sign_in(server, server.token)
    _, sid = _cookie(h)
    cookie = {"Cookie": f"intervene_session={sid}"}
    sig = {"kind": "manual", "key": unique("o"), "summary": "from a browser"}
    st, _, body = server.request("POST", "/api/signals", sig, token=None, headers=cookie)
    assert_error(st, body, 403, "forbidden")
    st, _, body = server.request("POST", "/api/signals", sig, token=None,
                                 headers={**cookie, "Origin": "http://evil.example"})
    assert_error(st, body, 403, "forbidden")
    origin = f"http://127.0.0.1:{server.port}"
    st, _, body = server.request("POST", "/api/signals", sig, token=None,
                                 headers={**cookie, "Origin": origin})
    assert st == 202, body
    # an unsafe request from another origin is refused however it authenticates
    st, _, body = server.request("POST", "/api/signals", dict(sig, key=unique("o")),
                                 headers={"Origin": "http://evil.example"})
    assert_error(st, body, 403, "forbidden")
    # a bearer request without Origin (curl, the CLI, scripts) is not a browser's
    st, _, body = server.request("POST", "/api/signals", dict(sig, key=unique("o")))
    assert st == 202, body


def test_sign_out_ends_the_session(server):
    _, h, _ = _sign_in(server, server.token)
    _, sid = _cookie(h)
    origin = f"http://127.0.0.1:{server.port}"
    cookie = {"Cookie": f"intervene_session={sid}", "Origin": origin}
    st, h2, body = server.request("DELETE", "/api/session", token=None, headers=cookie)
    assert st == 200 and body == {"signed_out": True}
    sc, val = _cookie(h2)
    assert val == "" and "Max-Age=0" in sc
    st, _, body = server.request("GET", "/api/incidents", token=None, headers=cookie)
    assert_error(st, body, 401, "unauthorized")


def test_revoking_the_token_ends_its_sessions(server):
    name = unique("web")
    tok = server.create_token(name, "viewer")
    wait_for(lambda: _sign_in(server, tok)[0] == 200, timeout=2.0, msg="token usable")
    _, h, _ = _sign_in(server, tok)
    _, sid = _cookie(h)
    cookie = {"Cookie": f"intervene_session={sid}"}
    assert server.request("GET", "/api/incidents", token=None, headers=cookie)[0] == 200
    st, body = server.delete(f"/api/tokens/{name}")
    assert st == 200, body
    st, _, body = server.request("GET", "/api/incidents", token=None, headers=cookie)
    assert_error(st, body, 401, "unauthorized")


def test_token_api_create_list_revoke(server):
    name = unique("api")
    st, body = server.post("/api/tokens", {"name": name, "role": "responder", "expires": "1d"})
    assert st == 201, body
    assert body["name"] == name and body["role"] == "responder" and body["expires_at"]
    tok = body["token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", tok)
    # usable at once: the reply is sent after the server's cache holds it
    st, _, _ = server.request("POST", "/api/signals",
                              {"kind": "manual", "key": unique("t"), "summary": "x"}, token=tok)
    assert st == 202
    st, lst = server.get("/api/tokens")
    assert st == 200 and {"tokens", "total", "page", "per_page"} <= set(lst)
    row = [t for t in lst["tokens"] if t["name"] == name][0]
    assert row["status"] == "active" and row["created_by"] == "admin"
    assert "token" not in row and "hash" not in row
    st, body = server.delete(f"/api/tokens/{name}")
    assert st == 200 and body["token"]["status"] == "revoked"
    st, _, body = server.request("GET", "/api/incidents", token=tok)
    assert_error(st, body, 401, "unauthorized")
    st, body = server.delete(f"/api/tokens/{name}")
    assert_error(st, body, 404, "not_found")
    ev = server.all_events(types="token_created,token_revoked")
    assert [e["type"] for e in ev if e["data"]["name"] == name] == ["token_created", "token_revoked"]


def test_token_api_validation_and_roles(server):
    st, body = server.post("/api/tokens", {"name": "bad name", "role": "admin"})
    assert_error(st, body, 400, "validation_failed", field="name")
    st, body = server.post("/api/tokens", {"name": unique("x"), "role": "root"})
    assert_error(st, body, 400, "validation_failed", field="role")
    st, body = server.post("/api/tokens", {"name": unique("x"), "role": "viewer", "expires": "soon"})
    assert_error(st, body, 400, "validation_failed", field="expires")
    st, body = server.post("/api/tokens", {"name": "admin", "role": "viewer"})
    assert_error(st, body, 409, "conflict")
    approver = server.create_token(unique("ap"), "approver")
    wait_for(lambda: server.request("GET", "/api/incidents", token=approver)[0] == 200,
             timeout=2.0, msg="approver usable")
    for method, path, body in (("GET", "/api/tokens", None),
                               ("POST", "/api/tokens", {"name": unique("y"), "role": "viewer"}),
                               ("DELETE", "/api/tokens/admin", None)):
        st, _, resp = server.request(method, path, body, token=approver)
        assert_error(st, resp, 403, "forbidden")


def test_the_last_admin_token_cannot_be_revoked_over_http(server):
    st, body = server.delete("/api/tokens/admin")
    assert_error(st, body, 409, "conflict")
    st, body = server.post("/api/tokens", {"name": unique("adm"), "role": "admin"})
    assert st == 201
    st, body = server.delete("/api/tokens/admin")
    assert st == 200 and body["token"]["status"] == "revoked"
