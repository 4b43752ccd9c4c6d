"""The harness itself: how it stops and judges servers (with a fake `intervene` whose
behaviour at SIGTERM each test chooses), how it finds sanitizer reports, and which
store INTERVENE_TEST_STORE selects. tests/integration/test_harness_sanitizers.py proves
the same on a real binary with injected bugs (sanitizer pass)."""

import os
import sys
import textwrap

import pytest

import harness
from harness import Server, ServerError, ServerProblem

FAKE = textwrap.dedent('''\
    #!{python}
    """A stand-in for intervene: `--config PATH serve` answers /healthz on the configured
    port; FAKE_MODE says what it does on SIGTERM. Any other command prints FAKE_CLI_ERR to
    stderr."""
    import http.server, os, re, signal, sys

    LEAK = ("=================================================================\\n"
            "==4242==ERROR: LeakSanitizer: detected memory leaks\\n\\n"
            "Direct leak of 64 byte(s) in 1 object(s) allocated from:\\n"
            "    #0 0x1 in malloc\\n    #1 0x2 in fake_leak src/fake.c:1\\n\\n"
            "SUMMARY: AddressSanitizer: 64 byte(s) leaked in 1 allocation(s).\\n")
    UBSAN = ("src/fake.c:7:3: runtime error: signed integer overflow: 2147483647 + 1\\n"
             "    #0 0x3 in fake_add src/fake.c:7\\n"
             "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior src/fake.c:7:3\\n")
    mode = os.environ.get("FAKE_MODE", "ok")
    if sys.argv[3:4] != ["serve"]:
        sys.stderr.write(os.environ.get("FAKE_CLI_ERR", ""))
        sys.exit(0)
    port = int(re.search(r"listen: 127\\.0\\.0\\.1:(\\d+)", open(sys.argv[2]).read()).group(1))

    def on_term(sig, frame):
        if mode == "exit3":
            os._exit(3)
        if mode == "leak":
            sys.stderr.write(LEAK)
            sys.stderr.flush()
        os._exit(0)

    if mode == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_term)
    if mode == "ubsan-at-start":
        sys.stderr.write(UBSAN)
        sys.stderr.flush()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/crash":
                os._exit(1)
            body = b'{{"status":"ok"}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    sys.stderr.write("level=info msg=\\"listening\\" note=\\"quoting runtime error: is not a report\\"\\n")
    sys.stderr.flush()
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
''')


@pytest.fixture
def fake(tmp_path):
    path = tmp_path / "intervene"
    path.write_text(FAKE.format(python=sys.executable))
    path.chmod(0o755)
    made = []

    def make(mode, **kw):
        s = Server(binary=str(path), env={"FAKE_MODE": mode, **kw.pop("env", {})}, **kw)
        made.append(s)
        return s

    yield make
    for s in made:  # what a test left behind must not leak processes
        if s.alive():
            s.proc.kill()
            s.proc.wait()
        if s in harness.SERVERS:
            harness.SERVERS.remove(s)


def test_clean_stop_passes(fake):
    s = fake("ok")
    assert s.stop() == 0
    s.start()
    s.cleanup()  # SIGTERM again: no problem


def test_nonzero_exit_at_sigterm_fails(fake):
    s = fake("exit3")
    with pytest.raises(ServerProblem, match=r"exited with 3"):
        s.cleanup()


def test_stop_check_false_leaves_the_status_to_the_test(fake):
    s = fake("exit3")
    assert s.stop(check=False) == 3
    s.cleanup()  # judged already


def test_ignoring_sigterm_is_killed_and_fails(fake):
    s = fake("ignore")
    with pytest.raises(ServerProblem, match=r"did not exit within 1s of SIGTERM \(killed with SIGKILL\)"):
        s.stop(timeout=1)
    assert not s.alive()


def test_cleanup_of_a_server_ignoring_sigterm_fails(fake):
    s = fake("ignore")
    with pytest.raises(ServerProblem, match=r"did not exit within"):
        s.cleanup(timeout=1)
    assert not s.alive()


def test_report_at_sigterm_fails_even_with_status_0(fake):
    s = fake("leak")
    with pytest.raises(ServerProblem) as e:
        s.cleanup()
    msg = str(e.value)
    assert "ERROR: LeakSanitizer: detected memory leaks" in msg and "fake_leak" in msg, msg
    assert "SUMMARY: AddressSanitizer: 64 byte(s) leaked" in msg
    assert "exited with" not in msg  # the status was 0: the report alone fails it


def test_kill9_exempts_the_status_not_the_stderr(fake):
    ok = fake("ok")
    ok.kill9()
    ok.cleanup()  # a deliberate kill -9 is no failure
    s = fake("ubsan-at-start")
    s.kill9()
    s.start()  # the report of the killed run is in the first part of the stderr
    s.kill9()
    with pytest.raises(ServerProblem) as e:
        s.cleanup()
    msg = str(e.value)
    assert msg.count("runtime error: signed integer overflow") == 2, msg  # both starts
    assert "start 1" in msg and "start 2" in msg


def test_server_dying_on_its_own_fails(fake):
    s = fake("ok")
    try:
        s.get("/crash")
    except OSError:
        pass
    harness.wait_for(lambda: not s.alive(), msg="the fake to exit")
    with pytest.raises(ServerProblem, match=r"exited with 1"):
        s.cleanup()


def test_cli_report_fails(fake):
    s = fake("ok", start=False, env={"FAKE_CLI_ERR": "oops\n=================\n"
                                     "==1==ERROR: AddressSanitizer: heap-use-after-free\n"
                                     "SUMMARY: AddressSanitizer: heap-use-after-free x.c:1\n"})
    with pytest.raises(ServerProblem, match=r"(?s)intervene version \(exit 0\).*heap-use-after-free"):
        s.cli("version")
    s2 = fake("ok", start=False, env={"FAKE_CLI_ERR": "level=error msg=\"runtime error: in a log line\"\n"})
    assert s2.cli("version").returncode == 0


def test_sanitizer_reports_parsing():
    text = ("level=info msg=x\n"
            "level=error msg=\"request\" detail=\"ERROR: AddressSanitizer quoted\"\n"
            "=================================================================\n"
            "==7==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n"
            "READ of size 1\n"
            "SUMMARY: AddressSanitizer: heap-buffer-overflow a.c:3 in f\n"
            "Shadow bytes around the buggy address:\n"
            "a.c:9:1: runtime error: load of null pointer\n"
            "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior a.c:9:1\n"
            "WARNING: ThreadSanitizer: data race (pid=9)\n"
            "SUMMARY: ThreadSanitizer: data race a.c:4 in g\n")
    reports = harness.sanitizer_reports(text)
    assert len(reports) == 3, reports
    assert reports[0].startswith("=====") and reports[0].endswith("in f")
    assert "READ of size 1" in reports[0]
    assert reports[1].startswith("a.c:9:1: runtime error")
    assert reports[2].startswith("WARNING: ThreadSanitizer")
    assert harness.sanitizer_reports("level=warn msg=\"runtime error: quoted\"\n") == []


def test_log_path_helpers():
    env = {"ASAN_OPTIONS": "detect_leaks=1:log_path=/x/r:exitcode=66", "UBSAN_OPTIONS": "a=1",
           "PATH": "/bin"}
    e = harness.without_log_path(env)
    assert e["ASAN_OPTIONS"] == "detect_leaks=1:exitcode=66" and e["PATH"] == "/bin"
    assert harness.log_path_of(env["ASAN_OPTIONS"]) == "/x/r"
    assert harness.with_log_path("a=1:log_path=/y", "/z/r") == "a=1:log_path=/z/r"


def test_the_sanitizer_pass_keeps_leak_checking():
    """In the sanitizer pass the options tools/test.sh exports reach the tests intact."""
    if not os.environ.get("INTERVENE_SANITIZE"):
        pytest.skip("sanitizer pass only (INTERVENE_SANITIZE unset)")
    opts = dict(o.partition("=")[::2] for o in os.environ["ASAN_OPTIONS"].split(":") if o)
    assert opts.get("detect_leaks") == "1" and opts.get("exitcode") not in (None, "", "0"), opts


@pytest.mark.parametrize("value", [None, "", "sqlite", " sqlite "])
def test_store_sqlite(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("INTERVENE_TEST_STORE", raising=False)
    else:
        monkeypatch.setenv("INTERVENE_TEST_STORE", value)
    s = Server(start=False)
    try:
        assert s.config["storage"]["url"] == f"sqlite://{s.db_path}"
        assert s.db_path.startswith(s.dir + os.sep)
    finally:
        s.cleanup()


@pytest.mark.parametrize("value,msg", [
    ("postgres://it:secret@127.0.0.1:5432/intervene", "PostgreSQL backend not built yet"),
    ("postgresql://127.0.0.1/x", "PostgreSQL backend not built yet"),
    ("mysql://x", "is not understood"),
])
def test_store_other(monkeypatch, value, msg):
    monkeypatch.setenv("INTERVENE_TEST_STORE", value)
    n = len(harness.SERVERS)
    with pytest.raises(ServerError, match=msg) as e:
        Server(start=False)
    assert "secret" not in str(e.value)
    assert len(harness.SERVERS) == n
