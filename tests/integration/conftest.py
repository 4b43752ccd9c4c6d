import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import BIN, Server, ServerProblem, unique  # noqa: E402

# Sanitizer reports of the processes tests start themselves (the CLI through subprocess,
# shell snippets, a nested pytest): their runtime writes to <SAN_PREFIX>.<pid> files
# (log_path, inherited through the environment) instead of a stderr the test may not
# read, and every test fails when a report appeared during it. Servers and Server.cli()
# keep their reports on stderr, which the harness reads (harness.without_log_path).
SAN_PREFIX = None


def _sanitizer_setup():
    """In the sanitizer pass (INTERVENE_SANITIZE set by tools/test.sh) the options must
    keep leak checking and a failing exit code; every run gets a log_path prefix (kept
    from a parent pytest session that set one)."""
    if os.environ.get("INTERVENE_SANITIZE"):
        opts = dict(o.partition("=")[::2] for o in os.environ.get("ASAN_OPTIONS", "").split(":") if o)
        if opts.get("detect_leaks") != "1" or opts.get("exitcode", "0") in ("", "0"):
            raise pytest.UsageError(
                "INTERVENE_SANITIZE is set but ASAN_OPTIONS lacks detect_leaks=1 or a non-zero "
                f"exitcode: {os.environ.get('ASAN_OPTIONS', '')!r}")
    prefix = harness.log_path_of(os.environ.get("ASAN_OPTIONS"))
    if not prefix or prefix in ("stderr", "stdout"):
        prefix = os.path.join(tempfile.mkdtemp(prefix="intervene-san-"), "report")
    for v in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        os.environ[v] = harness.with_log_path(os.environ.get(v, ""), prefix)
    return prefix


_SAN_DIR_MADE = None


def pytest_configure(config):
    global SAN_PREFIX, _SAN_DIR_MADE
    before = harness.log_path_of(os.environ.get("ASAN_OPTIONS"))
    SAN_PREFIX = _sanitizer_setup()
    if SAN_PREFIX != before:
        _SAN_DIR_MADE = os.path.dirname(SAN_PREFIX)


def pytest_unconfigure(config):
    if _SAN_DIR_MADE:
        try:
            os.rmdir(_SAN_DIR_MADE)  # only when empty: reports stay for a look
        except OSError:
            pass


def _report_files():
    d, base = os.path.split(SAN_PREFIX)
    try:
        names = os.listdir(d)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n.startswith(base + "."):
            try:
                out[n] = os.path.getsize(os.path.join(d, n))
            except OSError:
                pass
    return out


@pytest.fixture(autouse=True)
def _judge_processes():
    """After each test: the servers it started itself and left behind are stopped and
    judged (Server.cleanup), and a sanitizer report written by any process it ran
    fails it."""
    before_files = _report_files()
    before_servers = list(harness.SERVERS)
    yield
    problems = []
    for s in [s for s in harness.SERVERS if s not in before_servers]:
        try:
            s.cleanup()
        except ServerProblem as e:
            problems.append(str(e))
    d = os.path.dirname(SAN_PREFIX)
    for name, size in sorted(_report_files().items()):
        start = before_files.get(name, 0)
        if size <= start:
            continue
        with open(os.path.join(d, name), "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        reports = harness.sanitizer_reports(text)
        pid = name.rsplit(".", 1)[-1]
        if reports:
            problems.append(harness.describe_reports(f"a process the test ran (pid {pid})", reports))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _cleanup_all(servers):
    problems = []
    for s in servers:
        try:
            s.cleanup()
        except ServerProblem as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _require_binary():
    if not os.path.exists(BIN):
        pytest.fail(f"intervene binary not found at {BIN}: run `meson setup build && ninja -C build` "
                    f"or set INTERVENE_BIN", pytrace=False)


@pytest.fixture
def make_server():
    """Factory: make_server(config_dict=None, **Server kwargs) → started Server, stopped
    with SIGTERM and judged after the test."""
    _require_binary()
    made = []

    def factory(config=None, **kw):
        s = Server(config, **kw)
        made.append(s)
        return s

    yield factory
    _cleanup_all(made)


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
    _cleanup_all([s])


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
