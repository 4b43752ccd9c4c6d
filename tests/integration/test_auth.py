"""Auth (SPEC §11): roles, 401/403 per route, local token commands seen within 1 s,
bootstrap token, auth.mode none, actors."""
import os
import re
import time

import pytest

from harness import assert_error, unique, wait_for

ROLES = ["viewer", "responder", "approver", "admin"]

# (method, path template, body, minimum role)
ROUTES = [
    ("GET", "/api/incidents", None, "viewer"),
    ("GET", "/api/incidents/{iid}", None, "viewer"),
    ("GET", "/api/incidents/{iid}/comments", None, "viewer"),
    ("GET", "/api/incidents/{iid}/timeline", None, "viewer"),
    ("GET", "/api/events", None, "viewer"),
    ("GET", "/api/silences", None, "viewer"),
    ("GET", "/api/silences/preview?key_glob=auth-*", None, "viewer"),
    ("POST", "/api/signals", {"kind": "manual", "key": "{key}", "summary": "auth matrix"}, "responder"),
    ("POST", "/api/incidents", {"summary": "auth matrix declare"}, "responder"),
    ("PATCH", "/api/incidents/{iid}", {"summary": "patched by matrix"}, "responder"),
    ("POST", "/api/incidents/{iid}/acknowledge", {}, "responder"),
    ("POST", "/api/incidents/{iid}/mitigate", {}, "responder"),
    ("POST", "/api/incidents/{iid}/resolve", {}, "responder"),
    ("POST", "/api/incidents/{iid}/close", {}, "responder"),
    ("POST", "/api/incidents/{iid}/reopen", {}, "responder"),
    ("POST", "/api/incidents/{iid}/assign", {"assigned_to": "matrix"}, "responder"),
    ("POST", "/api/incidents/{iid}/comments", {"body": "matrix comment"}, "responder"),
    ("POST", "/api/silences", {"key_glob": "auth-matrix-*", "reason": "matrix", "duration": "1h"},
     "responder"),
    ("DELETE", "/api/silences/{sid}", None, "responder"),
]


@pytest.fixture(scope="module")
def targets(shared_server):
    iid = shared_server.new_incident(key=unique("auth-target"))
    st, b = shared_server.post("/api/silences", {"key_glob": "auth-target-none-*", "reason": "t",
                                                 "duration": "1h"})
    assert st == 201, b
    return {"iid": iid, "sid": b["silence"]["id"]}


def _fill(path, body, targets):
    path = path.format(iid=targets["iid"], sid=targets["sid"])
    if body is not None:
        body = {k: (unique("auth") if v == "{key}" else v) for k, v in body.items()}
    return path, body


@pytest.mark.parametrize("method,path,body,minrole", ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_route_roles(shared_server, role_tokens, targets, method, path, body, minrole):
    path, body = _fill(path, body, targets)
    # no token, a bad token, a malformed header → 401
    st, _, b = shared_server.request(method, path, body=body, token=None)
    assert_error(st, b, 401, "unauthorized")
    st, _, b = shared_server.request(method, path, body=body, token="bogus-token-value")
    assert_error(st, b, 401, "unauthorized")
    st, _, b = shared_server.request(method, path, body=body, token=None,
                                     headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(st, b, 401, "unauthorized")
    for role in ROLES:
        _, tok = role_tokens[role]
        st, h, b = shared_server.request(method, path, body=body, token=tok)
        assert h.get("x-request-id")
        if ROLES.index(role) < ROLES.index(minrole):
            assert_error(st, b, 403, "forbidden")
        else:
            assert st not in (401, 403), f"{role} refused on {method} {path}: {st} {b}"
            assert st < 500, f"{role} {method} {path}: {st} {b}"


def test_public_routes_need_no_token(shared_server):
    for path in ("/healthz", "/readyz", "/api/version"):
        st, _ = shared_server.get(path, token=None)
        assert st == 200, path


def test_local_token_create_seen_within_1s_and_revoke_within_1s(shared_server):
    name = unique("alice")
    tok = shared_server.create_token(name, "responder")
    t0 = time.monotonic()
    wait_for(lambda: shared_server.get("/api/incidents", token=tok)[0] == 200, timeout=1.25,
             msg="new local token accepted")
    assert time.monotonic() - t0 <= 1.25
    # it has responder rights: a change is recorded with its name as the actor
    key = unique("alice-key")
    st, b = shared_server.post("/api/signals", {"kind": "manual", "key": key, "summary": "x"},
                               token=tok)
    assert st == 202, b
    evs = shared_server.all_events(incident_id=b["incident_id"])
    assert evs and evs[0]["type"] == "incident_created"
    assert evs[0]["actor"] == name

    r = shared_server.cli("token", "revoke", name)
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    wait_for(lambda: shared_server.get("/api/incidents", token=tok)[0] == 401, timeout=1.25,
             msg="revoked token refused")
    st, b = shared_server.get("/api/incidents", token=tok)
    assert_error(st, b, 401, "unauthorized")


def test_token_create_prints_only_token_and_list_shows_it(shared_server):
    name = unique("bob")
    r = shared_server.cli("token", "create", "--name", name, "--role", "approver", "--expires", "90d")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    tok = lines[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}=*", tok), tok  # 32 random bytes, URL-safe base64
    r = shared_server.cli("token", "list")
    assert r.returncode == 0, r.stderr
    out_lines = r.stdout.splitlines()
    assert out_lines and "NAME" in out_lines[0] and "ROLE" in out_lines[0], r.stdout
    row = [l for l in out_lines if name in l]
    assert len(row) == 1 and "approver" in row[0], r.stdout
    assert tok not in r.stdout + r.stderr, "token list must never show a token"
    wait_for(lambda: shared_server.get("/api/incidents", token=tok)[0] == 200, timeout=1.25)


def test_token_revoke_unknown_name_exit_1(shared_server):
    r = shared_server.cli("token", "revoke", unique("nobody"))
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip()


def test_token_events(shared_server):
    name = unique("evtok")
    shared_server.create_token(name, "viewer")
    r = shared_server.cli("token", "revoke", name)
    assert r.returncode == 0
    evs = shared_server.all_events(types="token_created,token_revoked")
    created = [e for e in evs if e["type"] == "token_created" and e["data"].get("name") == name]
    revoked = [e for e in evs if e["type"] == "token_revoked" and e["data"].get("name") == name]
    assert len(created) == 1 and created[0]["data"]["role"] == "viewer", evs[-5:]
    assert len(revoked) == 1, evs[-5:]
    assert revoked[0]["id"] > created[0]["id"]


def test_only_hashes_stored(make_server):
    s = make_server()
    tok = s.create_token(unique("h"), "viewer")
    s.stop()
    for suffix in ("", "-wal", "-journal"):
        p = s.db_path + suffix
        if os.path.exists(p):
            with open(p, "rb") as f:
                data = f.read()
            assert tok.encode() not in data, f"plaintext token found in {p}"
            assert s.token.encode() not in data, f"plaintext bootstrap token found in {p}"


def test_bootstrap_token_printed_once(make_server):
    s = make_server(bootstrap_token=None)
    lines = [l for l in s.stderr_text().splitlines() if "admin token" in l]
    assert len(lines) == 1, s.stderr_text()
    m = re.fullmatch(r"admin token: (\S+)", lines[0])
    assert m, lines[0]
    tok = m.group(1)
    assert s.token == tok
    st, b = s.post("/api/signals", {"kind": "manual", "key": "boot", "summary": "x"}, token=tok)
    assert st == 202, b
    # admin: can create with any role-guarded route
    s.restart()
    assert "admin token" not in s.stderr_text(since_start=True)
    st, _ = s.get("/api/incidents", token=tok)
    assert st == 200


def test_bootstrap_token_from_env_not_printed(server):
    assert server.token not in server.stderr_text()
    st, _ = server.get("/api/incidents")
    assert st == 200


def test_x_intervene_actor_ignored_in_tokens_mode(shared_server, role_tokens):
    name, tok = role_tokens["responder"]
    iid = shared_server.new_incident()
    b = shared_server.transition(iid, "acknowledge", token=tok,
                                 headers={"X-Intervene-Actor": "mallory"})
    assert b["incident"]["acknowledged_by"] == name


def test_auth_mode_none(make_server):
    s = make_server({"auth": {"mode": "none"}}, bootstrap_token=False)
    st, b = s.get("/api/incidents", token=None)
    assert st == 200, b
    st, b = s.post("/api/signals", {"kind": "manual", "key": "none-1", "summary": "x"}, token=None)
    assert st == 202, b
    iid = b["incident_id"]
    st, _, b = s.request("POST", f"/api/incidents/{iid}/acknowledge", body={}, token=None,
                         headers={"X-Intervene-Actor": "bob"})
    assert st == 200, b
    assert b["incident"]["acknowledged_by"] == "bob"
    st, b = s.post(f"/api/incidents/{iid}/mitigate", {}, token=None)
    assert st == 200, b
    assert b["incident"]["mitigated_by"] == "local"
    evs = s.all_events(incident_id=iid)
    assert [e["actor"] for e in evs] == ["local", "bob", "local"], evs


def test_token_expiry(shared_server):
    name = unique("short")
    tok = shared_server.create_token(name, "viewer", expires="2s")
    wait_for(lambda: shared_server.get("/api/incidents", token=tok)[0] == 200, timeout=1.25,
             msg="short-lived token accepted")
    wait_for(lambda: shared_server.get("/api/incidents", token=tok)[0] == 401, timeout=4,
             msg="expired token refused")


def test_token_duplicate_active_name_exit_1(shared_server):
    name = unique("dup")
    shared_server.create_token(name, "viewer")
    r = shared_server.cli("token", "create", "--name", name, "--role", "admin")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert not r.stdout.strip() and r.stderr.strip()
