import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BIN, Server, unique  # noqa: E402


def _require_binary():
    if not os.path.exists(BIN):
        pytest.fail(f"intervene binary not found at {BIN}: run `meson setup build && ninja -C build` "
                    f"or set INTERVENE_BIN", pytrace=False)


@pytest.fixture
def make_server():
    """Factory: make_server(config_dict=None, **Server kwargs) → started Server, cleaned up after."""
    _require_binary()
    made = []

    def factory(config=None, **kw):
        s = Server(config, **kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.cleanup()


@pytest.fixture
def server(make_server):
    """A fresh server per test (for tests that kill, restart or need an empty database)."""
    return make_server()


@pytest.fixture(scope="module")
def shared_server():
    """One server per test module, for tests that only add their own uniquely keyed data."""
    _require_binary()
    s = Server()
    yield s
    s.cleanup()


def _role_tokens(srv):
    toks = {}
    for role in ("viewer", "responder", "approver", "admin"):
        name = unique(role)
        toks[role] = (name, srv.create_token(name, role))
    return toks


@pytest.fixture(scope="module")
def role_tokens(shared_server):
    """role → (name, token) on the shared server, created with the local CLI."""
    toks = _role_tokens(shared_server)
    # the server sees locally created tokens within 1 s
    from harness import wait_for
    for role, (_, tok) in toks.items():
        wait_for(lambda: shared_server.get("/api/incidents", token=tok)[0] == 200, timeout=2.0,
                 msg=f"{role} token accepted")
    return toks
