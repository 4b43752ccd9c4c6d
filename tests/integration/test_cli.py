"""Local CLI (SPEC §12, local part): version, --help, exit codes, config check, migrate,
schema-version refusal, SIGTERM."""
import http.client
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from harness import BIN, Server, free_port, wait_for


@pytest.fixture
def idle(make_server):
    """A Server object whose process is not started (a config + directory for local commands)."""
    return make_server(start=False)


def run(*args, timeout=20, env=None):
    e = dict(os.environ)
    e.pop("INTERVENE_CONFIG", None)
    if env:
        e.update(env)
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env=e)


def test_version(idle):
    r = idle.cli("version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"intervene \S+\n?", r.stdout), repr(r.stdout)


def test_version_without_config():
    r = run("version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("intervene ")


@pytest.mark.parametrize("args", [
    [], ["serve"], ["migrate"], ["config", "check"], ["token", "create"], ["token", "list"],
    ["token", "revoke"], ["audit", "verify"], ["version"], ["token"], ["config"], ["audit"],
], ids=lambda a: " ".join(a) or "top")
def test_help(idle, args):
    r = idle.cli(*args, "--help", timeout=10)
    assert r.returncode == 0, f"{args} --help → {r.returncode}: {r.stderr}"
    out = r.stdout + r.stderr
    assert out.strip(), f"{args} --help printed nothing"
    assert "usage" in out.lower(), out


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["serve", "--no-such-option"],
    ["token", "create", "--role", "viewer"],          # missing --name
    ["token", "create", "--name", "x"],               # missing --role
    ["token", "frobnicate"],
    ["token", "revoke"],                              # missing NAME
    ["config", "frobnicate"],
    ["audit", "frobnicate"],
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(idle, args):
    r = idle.cli(*args, timeout=10)
    assert r.returncode == 2, f"{args} → {r.returncode}: {r.stdout}{r.stderr}"
    assert r.stderr.strip(), "a usage error should say something on stderr"


def test_unknown_role_is_refused(idle):
    r = idle.cli("token", "create", "--name", "x", "--role", "emperor", timeout=10)
    assert r.returncode in (1, 2), (r.returncode, r.stdout, r.stderr)
    assert not r.stdout.strip(), "no token may be printed for an unknown role"


def test_missing_config_argument_exit_2():
    r = run("--config")
    assert r.returncode == 2, (r.returncode, r.stderr)


def test_config_check_prints_effective_config_with_secrets_masked(make_server):
    s = make_server({"tracker": {"provider": "github",
                                 "github": {"token": "ghp_supersecretvalue123", "owner": "acme",
                                            "repo": "ops"}},
                     "actions": {"elasticsearch": {"password": "hunter2hunter2"}}},
                    start=False)
    r = s.cli("config", "check")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "ghp_supersecretvalue123" not in out + r.stderr
    assert "hunter2hunter2" not in out + r.stderr
    # effective config: our values and defaults
    assert str(s.port) in out
    assert "acme" in out
    assert "max_body_bytes" in out and "1048576" in out
    assert "sla" in out


def test_config_check_has_no_key_without_effect(make_server):
    """Every key of the configuration is in effect now that the dashboard exists
    (server.web was the last key of a feature still to come): config check prints no
    "# note:" lines, shows server.web as a key, and its output loads back."""
    s = make_server({"server": {"web": False}}, start=False)
    r = s.cli("config", "check")
    assert r.returncode == 0, r.stderr
    assert not [l for l in r.stdout.splitlines() if l.startswith("# note: ")], r.stdout
    assert re.search(r"^  web: false$", r.stdout, re.M), r.stdout
    with open(os.path.join(s.dir, "again.yaml"), "w") as f:
        f.write(r.stdout)
    r2 = run("--config", os.path.join(s.dir, "again.yaml"), "config", "check")
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout


def test_config_check_env_substitution(make_server):
    raw = ("server:\n  listen: 127.0.0.1:${IT_PORT:-9999}\n"
           "storage:\n  url: sqlite://it.db\n")
    s = make_server(raw_config=raw, start=False)
    r = s.cli("config", "check", env={"IT_PORT": "18123"})
    assert r.returncode == 0, r.stderr
    assert "127.0.0.1:18123" in r.stdout
    r = s.cli("config", "check")
    assert r.returncode == 0, r.stderr
    assert "127.0.0.1:9999" in r.stdout


@pytest.mark.parametrize("raw,line,needle", [
    ("server:\n  listen: 127.0.0.1:8080\n  bogus_key: 1\n", 3, "bogus_key"),
    ("server:\n  max_body_bytes: lots\n", 2, "max_body_bytes"),
    ("watcher:\n  enabled: false\n  interval: 15 minutes\n", 3, "interval"),
    ("policy:\n  rate_limit:\n    max: -4\n", 3, "max"),
], ids=["unknown-key", "wrong-type", "bad-duration", "out-of-range"])
def test_config_errors_name_file_line_column(make_server, raw, line, needle):
    s = make_server(raw_config=raw, start=False)
    r = s.cli("config", "check")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    err = r.stderr + r.stdout
    assert re.search(r"intervene\.yaml:%d:\d+" % line, err), err
    assert needle in err, err


def test_config_unset_variable_is_error(make_server):
    raw = "server:\n  listen: ${IT_SURELY_UNSET_VAR}\n"
    s = make_server(raw_config=raw, start=False)
    r = s.cli("config", "check")
    assert r.returncode == 1
    assert "IT_SURELY_UNSET_VAR" in r.stderr + r.stdout


@pytest.mark.parametrize("suffix", ["?cache=shared", "#main"])
def test_sqlite_url_with_query_refused(make_server, suffix):
    """A query or fragment is not applied by the store: refuse it rather than create a
    database file whose name ends in it."""
    raw = f"server:\n  listen: 127.0.0.1:{free_port()}\nstorage:\n  url: sqlite://it.db{suffix}\n"
    s = make_server(raw_config=raw, start=False)
    for cmd in (["config", "check"], ["migrate"], ["serve"]):
        r = s.cli(*cmd, timeout=10)
        assert r.returncode == 1, (cmd, r.returncode, r.stdout, r.stderr)
        assert re.search(r"intervene\.yaml:4:8: storage\.url: .*sqlite://PATH", r.stderr), r.stderr
        assert suffix in r.stderr, r.stderr
    assert sorted(os.listdir(s.dir)) == ["intervene.yaml"], os.listdir(s.dir)


def test_auth_none_refused_on_non_loopback(make_server):
    port = free_port()
    s = make_server({"auth": {"mode": "none"}, "server": {"listen": f"0.0.0.0:{port}"}},
                    start=False)
    r = s.cli("config", "check")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "none" in r.stderr.lower() or "loopback" in r.stderr.lower(), r.stderr
    p = subprocess.Popen([BIN, "--config", s.config_path, "serve"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=s.env())
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("serve with auth.mode none on 0.0.0.0 kept running")
    assert p.returncode == 1, (p.returncode, err)
    assert err.strip()


def test_auth_none_accepted_on_loopback(make_server):
    s = make_server({"auth": {"mode": "none"}}, start=False)
    r = s.cli("config", "check")
    assert r.returncode == 0, r.stderr


def test_migrate_then_serve(make_server):
    s = make_server(start=False)
    assert not os.path.exists(s.db_path)
    r = s.cli("migrate")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(s.db_path)
    r = s.cli("migrate")  # idempotent
    assert r.returncode == 0, r.stderr
    s.start()
    st, b = s.post("/api/signals", {"kind": "manual", "key": "after-migrate", "summary": "x"})
    assert st == 202, b
    st, b = s.get("/readyz", token=None)
    assert st == 200 and b["status"] == "ready", b
    s.stop()


def _set_user_version(path, v):
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {int(v)}")
    con.commit()
    con.close()


def test_newer_schema_refused(make_server):
    s = make_server(start=False)
    r = s.cli("migrate")
    assert r.returncode == 0, r.stderr
    _set_user_version(s.db_path, 9999)
    r = s.cli("migrate")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "9999" in r.stderr + r.stdout, r.stderr
    p = subprocess.Popen([BIN, "--config", s.config_path, "serve"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=s.env())
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("serve kept running on a database with a newer schema")
    assert p.returncode == 1, (p.returncode, err)
    assert "9999" in err, err
    # and the database was not touched
    con = sqlite3.connect(s.db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 9999
    con.close()


def test_sigterm_exits_zero_quickly(server):
    st, _ = server.post("/api/signals", {"kind": "manual", "key": "term", "summary": "x"})
    assert st == 202
    t0 = time.monotonic()
    rc = server.stop(timeout=5)
    assert rc == 0
    assert time.monotonic() - t0 < 3.0


def test_sigterm_with_idle_keepalive_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    r.read()
    assert r.status == 200
    # the connection stays open and idle
    raw = socket.create_connection(("127.0.0.1", server.port))  # another one that never speaks
    try:
        t0 = time.monotonic()
        rc = server.stop(timeout=5)
        assert rc == 0
        assert time.monotonic() - t0 < 3.0
    finally:
        conn.close()
        raw.close()


def test_data_survives_restart(server):
    st, b = server.post("/api/signals", {"kind": "manual", "key": "persist", "summary": "x"})
    assert st == 202
    iid = b["incident_id"]
    server.restart()
    assert server.incident(iid)["key"] == "persist"


def _incidents_by_key(s):
    """key → incident id of every incident, through the paged list."""
    out, page = {}, 1
    while True:
        st, b = s.get(f"/api/incidents?per_page=200&page={page}")
        assert st == 200, (st, b)
        for item in b["incidents"]:
            out[item["key"]] = item["id"]
        if page * 200 >= b["total"]:
            return out
        page += 1


def test_sigterm_under_load_is_graceful(server):
    """Signals in flight when SIGTERM arrives: each one answered 2xx (before or while
    the server stopped) is there after a restart; every other one got a clean JSON 503
    (and is not there) or a closed connection, never a 2xx that was lost or a garbled
    reply; the process exits 0. A closed connection is right only for a signal the
    server never applied: one it applied was in flight at SIGTERM, and a graceful stop
    sends its reply (else its 2xx was lost on the way)."""
    import json
    import threading
    outcomes, lock, stop = [], threading.Lock(), threading.Event()
    term_sent = []  # monotonic time of the SIGTERM

    def record(key, kind, detail):
        with lock:
            outcomes.append((key, kind, detail, time.monotonic()))

    def worker(t):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        i = 0
        try:
            while not stop.is_set():
                key = f"term-{t}-{i}"
                i += 1
                try:
                    conn.request("POST", "/api/signals",
                                 body=json.dumps({"kind": "manual", "key": key, "summary": "x"}),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {server.token}"})
                    r = conn.getresponse()
                    raw = r.read()
                except (OSError, http.client.HTTPException) as e:
                    record(key, "closed", repr(e))  # the server went away: either outcome
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                if 200 <= r.status < 300:
                    ok = (isinstance(body, dict) and body.get("outcome") == "created"
                          and isinstance(body.get("incident_id"), int))
                    record(key, "acked" if ok else "bad", (r.status, body if ok else raw[:300]))
                elif (r.status == 503 and isinstance(body, dict)
                      and isinstance(body.get("error"), dict)
                      and body["error"].get("code") and body["error"].get("message")):
                    record(key, "refused", (r.status, body))
                else:
                    record(key, "bad", (r.status, raw[:300]))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    try:
        wait_for(lambda: sum(1 for o in outcomes if o[1] == "acked") >= 50, timeout=30,
                 msg="50 acknowledged signals before SIGTERM")
        term_sent.append(time.monotonic())
        rc = server.stop(timeout=15)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    assert not any(th.is_alive() for th in threads), "a client hung after the server stopped"
    assert rc == 0

    bad = [o for o in outcomes if o[1] == "bad"]
    assert not bad, f"replies that are neither a 2xx nor a clean 503: {bad[:5]}"
    during = [o for o in outcomes if o[3] >= term_sent[0]]
    assert during, "no request was in flight while the server stopped: the test proves nothing"
    acked = {o[0]: o[2][1]["incident_id"] for o in outcomes if o[1] == "acked"}
    refused = [o[0] for o in outcomes if o[1] == "refused"]
    closed = [o[0] for o in outcomes if o[1] == "closed"]
    print(f"SIGTERM under load: {len(acked)} acknowledged ({sum(1 for o in during if o[1] == 'acked')} "
          f"after SIGTERM was sent), {len(refused)} refused, "
          f"{sum(1 for o in outcomes if o[1] == 'closed')} closed connections")

    server.start()
    have = _incidents_by_key(server)
    lost = sorted(k for k in acked if k not in have)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged signals lost: {lost[:10]}"
    moved = sorted(k for k, iid in acked.items() if have[k] != iid)
    assert not moved, f"acknowledged incident ids changed: {[(k, acked[k], have[k]) for k in moved[:10]]}"
    applied = sorted(k for k in refused if k in have)
    assert not applied, f"signals refused with 503 were applied anyway: {applied[:10]}"
    unanswered = sorted(k for k in closed if k in have)
    assert not unanswered, (
        f"{len(unanswered)} signal(s) applied by the server whose reply never arrived (the "
        f"connection closed instead: the 2xx was lost at shutdown): {unanswered}")


def test_read_timeout_closes_stalled_request(make_server):
    s = make_server({"server": {"read_timeout": "1s"}})
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        c.sendall(b"POST /api/signals HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        # the server stays responsive while this request stalls
        st, _ = s.get("/healthz", token=None)
        assert st == 200
        t0 = time.monotonic()
        try:
            data = c.recv(4096)
            while data:
                more = c.recv(4096)
                if not more:
                    break
                data += more
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert time.monotonic() - t0 < 5, "stalled request was not timed out"
    finally:
        c.close()
    assert s.alive()
