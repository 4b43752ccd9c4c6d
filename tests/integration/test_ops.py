"""Operational routes (SPEC §5.4): /healthz, /readyz, /api/version; public, with request ids."""
from harness import Server


def test_healthz(shared_server):
    st, h, b = shared_server.request("GET", "/healthz", token=None)
    assert st == 200
    assert b == {"status": "ok"} or (isinstance(b, dict) and b.get("status") == "ok"), b
    assert h.get("x-request-id")
    assert h.get("content-type", "").startswith("application/json")


def test_readyz(shared_server):
    st, h, b = shared_server.request("GET", "/readyz", token=None)
    assert st == 200, b
    assert b["status"] == "ready"
    assert h.get("x-request-id")


def test_version_route_matches_cli(shared_server):
    st, h, b = shared_server.request("GET", "/api/version", token=None)
    assert st == 200, b
    assert isinstance(b["version"], str) and b["version"]
    r = shared_server.cli("version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"intervene {b['version']}"


def test_public_routes_ignore_bad_token(shared_server):
    for path in ("/healthz", "/readyz", "/api/version"):
        st, _, _ = shared_server.request("GET", path, token="not-a-token")
        assert st == 200, path


def test_request_ids_are_unique(shared_server):
    ids = set()
    for _ in range(5):
        _, h, _ = shared_server.request("GET", "/healthz", token=None)
        ids.add(h["x-request-id"])
    assert len(ids) == 5


def test_version_advertises_limits(shared_server):
    st, body = shared_server.get("/api/version", token=None)
    assert st == 200
    assert body["limits"] == {"max_body_bytes": 1048576, "max_signals_per_batch": 1000}


def test_one_logfmt_line_per_request_with_its_request_id(server):
    st, h, _ = server.request("GET", "/api/incidents?q=secret-looking-value")
    assert st == 200
    rid = h["x-request-id"]

    def line():
        for l in server.stderr_text().splitlines():
            if f"request_id={rid} " in l:
                return l
        return None

    from harness import wait_for
    wait_for(lambda: line() is not None, timeout=3.0, msg="request logged")
    l = line()
    assert l.startswith("level=info ") and 'msg="request"' in l
    assert 'route="/api/incidents"' in l and "status=200" in l and 'actor="admin"' in l
    # the raw query never reaches the log, nor does the token
    assert "secret-looking-value" not in server.stderr_text()
    assert server.token not in server.stderr_text()
