"""The client CLI (SPEC §12, client part): incident, signal, silence and events against a
running server, in text and json format; --server, --token / INTERVENE_TOKEN; exit
codes 0 (success), 1 (HTTP error, server unreachable), 2 (usage error)."""
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile

import pytest

from harness import BIN, free_port, unique

# --------------------------------------------------------------------------- helpers


def run_bin(*args, env=None, cwd=None, timeout=60):
    """The binary with a clean environment (no config, no token) plus env."""
    e = dict(os.environ)
    for k in ("INTERVENE_CONFIG", "INTERVENE_TOKEN", "INTERVENE_BOOTSTRAP_TOKEN"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env=e,
                          cwd=cwd or tempfile.gettempdir())


def cli(srv, *args, token=True, env=None, input=None, timeout=60):
    """`intervene --config <srv config> ARGS` with the admin token unless token is given."""
    a = list(args)
    if token is True:
        token = srv.token
    if token:
        a += ["--token", token]
    return srv.cli(*a, env=env, input=input, timeout=timeout)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def fails(r, code=1):
    assert r.returncode == code, f"want exit {code}, got {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def raw(srv, method, path, body=None, token=True):
    """→ (status, body text exactly as sent)."""
    h = {}
    if token is True:
        token = srv.token
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=15)
    try:
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8")
    finally:
        conn.close()


def same_as_api(r, srv, path):
    """--format json printed the API's body for GET path unchanged (plus one newline)."""
    st, body = raw(srv, "GET", path)
    assert st == 200, body
    assert r.stdout == body + "\n", f"CLI:\n{r.stdout!r}\nAPI:\n{body!r}"


def table(stdout):
    """Rows of an aligned table: header columns → list of dicts (split on 2+ spaces)."""
    lines = [l for l in stdout.splitlines() if l.strip() and not l.startswith("(")]
    head = re.split(r"\s{2,}", lines[0].strip())
    rows = []
    for l in lines[1:]:
        cells = re.split(r"\s{2,}", l.strip())
        rows.append(dict(zip(head, cells)))
    return head, rows


def new_incident(srv, **fields):
    key = unique("cli")
    r = srv.signal(key=key, **fields)
    assert r["outcome"] == "created", r
    return r["incident_id"], key


# --------------------------------------------------------------------------- help and usage

HELP_PATHS = [
    ["incident"], ["incident", "list"], ["incident", "show"], ["incident", "declare"],
    ["incident", "update"], ["incident", "assign"], ["incident", "ack"], ["incident", "mitigate"],
    ["incident", "resolve"], ["incident", "close"], ["incident", "reopen"],
    ["incident", "comment"], ["incident", "comments"], ["incident", "timeline"],
    ["signal"], ["silence"], ["silence", "add"], ["silence", "list"], ["silence", "end"],
    ["silence", "preview"], ["events"],
]


@pytest.mark.parametrize("args", HELP_PATHS, ids=" ".join)
def test_help_on_every_command(args):
    r = ok(run_bin(*args, "--help"))
    assert r.stdout.startswith("usage: intervene " + " ".join(args)), r.stdout
    assert "--server URL" in r.stdout and "--token" in r.stdout and "--format" in r.stdout
    assert r.stderr == ""


def test_top_level_help_lists_client_commands():
    r = ok(run_bin("--help"))
    for c in ("incident", "signal", "silence", "events"):
        assert re.search(rf"^\s+{c}\s", r.stdout, re.M), r.stdout


USAGE_ERRORS = [
    (["incident"], "usage"),
    (["incident", "frobnicate"], "unknown command"),
    (["incident", "list", "--bogus"], "unknown option '--bogus'"),
    (["incident", "list", "--status"], "--status needs a value"),
    (["incident", "list", "--page", "x"], "--page must be"),
    (["incident", "list", "--since", "yesterday"], "--since must be"),
    (["incident", "list", "extra"], "unexpected argument 'extra'"),
    (["incident", "show"], "missing ID"),
    (["incident", "show", "abc"], "ID must be a positive integer"),
    (["incident", "show", "0"], "ID must be a positive integer"),
    (["incident", "show", "1", "2"], "unexpected argument '2'"),
    (["incident", "declare"], "--summary is required"),
    (["incident", "declare", "--summary", "x", "--details", "{bad"], "--details is not valid JSON"),
    (["incident", "declare", "--summary", "x", "--details", "[1]"], "--details must be a JSON object"),
    (["incident", "declare", "--summary", "x", "--details", '{"a":1,"a":2}'], "not valid JSON"),
    (["incident", "declare", "--summary", "a", "--summary", "b"], "--summary is given twice"),
    (["incident", "update", "1"], "nothing to change"),
    (["incident", "update", "1", "--metadata", "nope"], "--metadata is not valid JSON"),
    (["incident", "assign", "1"], "missing USER"),
    (["incident", "comment", "1"], "missing TEXT"),
    (["incident", "ack", "1", "--notes"], "--notes needs a value"),
    (["incident", "list", "--format", "yaml"], "--format must be text or json"),
    (["incident", "list", "--server", "ftp://example.org"], "must start with http:// or https://"),
    (["signal", "--summary", "x"], "give --kind and --summary, or --file"),
    (["signal", "--kind", "manual", "--summary", "x", "--severity", "sev1", "--priority", "P1"],
     "give either --severity or --priority"),
    (["signal", "--kind", "manual", "--summary", "x", "--details", "nope"], "--details is not valid JSON"),
    (["signal", "--file", "x.json", "--kind", "manual"], "--file cannot be combined"),
    (["signal", "--resolve=yes"], "--resolve takes no value"),
    (["silence", "add", "--key-glob", "a*", "--reason", "r"], "give --duration or --ends-at"),
    (["silence", "add", "--key-glob", "a*", "--reason", "r", "--duration", "1h",
      "--ends-at", "2099-01-01T00:00:00Z"], "give either --duration or --ends-at"),
    (["silence", "add", "--reason", "r", "--duration", "1h"], "--key-glob is required"),
    (["silence", "end"], "missing ID"),
    (["events", "--after-id", "-3"], "--after-id must be"),
    (["events", "--incident-id", "x"], "--incident-id must be"),
]


@pytest.mark.parametrize("args,msg", USAGE_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_usage_errors_exit_2(args, msg):
    # --server points nowhere: a usage error must be found before any request
    if "--server" not in args and args != ["incident"]:
        at = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
        args = args[:at] + ["--server", "http://127.0.0.1:1"] + args[at:]
    r = fails(run_bin(*args), 2)
    assert msg in r.stderr, r.stderr
    assert r.stdout == ""


def test_token_with_newline_is_a_usage_error(shared_server):
    r = fails(cli(shared_server, "incident", "list", token="abc\r\nX-Evil: 1"), 2)
    assert "CR or LF" in r.stderr


def test_idempotency_key_with_newline_is_a_usage_error(shared_server):
    r = fails(cli(shared_server, "incident", "declare", "--summary", "x",
                  "--idempotency-key", "a\nb"), 2)
    assert "CR or LF" in r.stderr


# --------------------------------------------------------------------------- server and token

def test_server_unreachable_exit_1_names_url():
    port = free_port()
    r = fails(run_bin("incident", "list", "--server", f"http://127.0.0.1:{port}"))
    assert f"http://127.0.0.1:{port}" in r.stderr and "cannot reach" in r.stderr, r.stderr


def test_default_server_from_config_listen(shared_server):
    # no --server: the config's server.listen
    ok(cli(shared_server, "incident", "list"))


def test_config_via_env_and_server_flag_overrides(shared_server, make_server):
    s = shared_server
    # INTERVENE_CONFIG instead of --config
    ok(run_bin("incident", "list", "--token", s.token, env={"INTERVENE_CONFIG": s.config_path}))
    # a config whose listen points nowhere, overridden by --server
    idle = make_server(start=False)
    r = fails(run_bin("--config", idle.config_path, "incident", "list", "--token", s.token))
    assert f"127.0.0.1:{idle.port}" in r.stderr
    ok(run_bin("--config", idle.config_path, "incident", "list", "--token", s.token,
               "--server", f"http://127.0.0.1:{s.port}/"))


def test_wildcard_listen_means_loopback(make_server):
    port = free_port()
    s = make_server({"server": {"listen": f"0.0.0.0:{port}"}}, start=False)
    s.port = port  # the harness probes 127.0.0.1:<port>
    s.start()
    r = ok(cli(s, "incident", "list"))
    assert r.stdout == "no incidents\n"


def test_missing_config_file_uses_defaults():
    with tempfile.TemporaryDirectory() as d:
        probe = socket.socket()
        busy = probe.connect_ex(("127.0.0.1", 8080)) == 0
        probe.close()
        if busy:
            pytest.skip("something listens on 127.0.0.1:8080")
        r = fails(run_bin("incident", "list", cwd=d))
        assert "http://127.0.0.1:8080" in r.stderr, r.stderr


def test_token_sources(shared_server, role_tokens):
    s = shared_server
    _, viewer = role_tokens["viewer"]
    # none → 401 with a hint
    r = fails(cli(s, "incident", "list", token=None))
    assert "(unauthorized, HTTP 401)" in r.stderr and "INTERVENE_TOKEN" in r.stderr, r.stderr
    # INTERVENE_TOKEN
    ok(cli(s, "incident", "list", token=None, env={"INTERVENE_TOKEN": viewer}))
    # --token wins over INTERVENE_TOKEN
    ok(cli(s, "incident", "list", token=viewer, env={"INTERVENE_TOKEN": "wrong"}))
    r = fails(cli(s, "incident", "list", token="wrong", env={"INTERVENE_TOKEN": viewer}))
    assert "not valid" in r.stderr
    # the viewer may read but not write
    r = fails(cli(s, "incident", "declare", "--summary", "x", token=viewer))
    assert "(forbidden, HTTP 403)" in r.stderr, r.stderr


def test_auth_mode_none_needs_no_token(make_server):
    s = make_server({"auth": {"mode": "none"}}, bootstrap_token=None)
    r = ok(cli(s, "signal", "--kind", "manual", "--key", "k1", "--summary", "open", token=None))
    assert re.fullmatch(r"created incident \d+\n", r.stdout), r.stdout
    r = ok(cli(s, "incident", "list", token=None))
    assert "k1" in r.stdout


# --------------------------------------------------------------------------- incident list / show

def test_incident_list_text_and_json(shared_server):
    s = shared_server
    tag = unique("lst")
    ids = [s.new_incident(key=f"{tag}-{i}", severity=f"sev{i + 1}", summary=f"{tag} summary {i}")
           for i in range(3)]
    r = ok(cli(s, "incident", "list", "-q", tag))
    head, rows = table(r.stdout)
    assert head == ["ID", "SEV", "STATUS", "KIND", "KEY", "SUMMARY", "ASSIGNED", "AGE"]
    assert [int(x["ID"]) for x in rows] == sorted(ids, reverse=True)
    assert rows[0]["SEV"] == "sev3" and rows[0]["STATUS"] == "open" and rows[0]["KIND"] == "manual"
    assert all(re.fullmatch(r"\d+[smhd]", x["AGE"]) for x in rows), rows
    # columns line up: every row's SEV starts where the header's does
    lines = r.stdout.splitlines()
    col = lines[0].index("SEV")
    assert all(l[col:col + 3] == "sev" for l in lines[1:]), r.stdout
    r = ok(cli(s, "incident", "list", "--query", tag, "--format", "json"))
    same_as_api(r, s, f"/api/incidents?q={tag}")


def test_incident_list_filters_and_paging(shared_server):
    s = shared_server
    tag = unique("flt")
    a = s.new_incident(key=f"{tag}-a", severity="sev1")
    b = s.new_incident(key=f"{tag}-b", severity="sev2")
    c = s.new_incident(key=f"{tag}-c", severity="sev4")
    s.transition(b, "acknowledge")
    s.post(f"/api/incidents/{c}/assign", {"assigned_to": "zoe"})

    def ids(*args):
        r = ok(cli(s, "incident", "list", "-q", tag, *args))
        return [] if r.stdout == "no incidents\n" else [int(x["ID"]) for x in table(r.stdout)[1]]

    assert ids("--severity", "sev1", "--severity", "sev4") == [c, a]
    assert ids("--status", "acknowledged") == [b]
    assert ids("--status", "open", "--status", "acknowledged") == [c, b, a]
    assert ids("--status", "active", "--kind", "manual") == [c, b, a]
    assert ids("--assigned-to", "zoe") == [c]
    assert ids("--since", "1h") == [c, b, a]
    assert ids("--since", "2000-01-01T00:00:00Z") == [c, b, a]
    assert ids("--since", "2099-01-01T00:00:00Z") == []
    assert ids("--sort", "severity") == [a, b, c]
    r = ok(cli(s, "incident", "list", "-q", tag, "--per-page", "2"))
    assert len(table(r.stdout)[1]) == 2
    assert "(showing 1-2 of 3; next: --page 2)" in r.stdout
    assert ids("--per-page", "2", "--page", "2") == [a]
    r = fails(cli(s, "incident", "list", "--status", "nope"))
    assert "(validation_failed, HTTP 400)" in r.stderr and "field: status" in r.stderr


def test_incident_show_text_and_json(shared_server):
    s = shared_server
    iid = s.new_incident(summary="show me", details={"region": "eu-1", "hosts": ["a", "b"]})
    r = ok(cli(s, "incident", "show", str(iid)))
    out = r.stdout
    assert re.search(rf"^id:\s+{iid}$", out, re.M)
    assert re.search(r"^summary:\s+show me$", out, re.M)
    assert re.search(r"^status:\s+open$", out, re.M)
    assert re.search(r"^created_at:\s+\S+Z \(\d+[smhd] ago\)$", out, re.M), out
    assert re.search(r"^sla:\s+ack: pending \(due in \d+[smhd]\)", out, re.M), out
    assert re.search(r"^available_transitions:\s+acknowledge, mitigate$", out, re.M), out
    # details pretty-printed below the key
    assert re.search(r'^details:\s*\n  \{\n    "hosts": \[', out, re.M), out
    assert '      "region": "eu-1"' in out or '    "region": "eu-1"' in out
    r = ok(cli(s, "incident", "show", str(iid), "--format", "json"))
    same_as_api(r, s, f"/api/incidents/{iid}")


def test_incident_show_missing_exit_1(shared_server):
    r = fails(cli(shared_server, "incident", "show", "999999999"))
    assert r.stderr.startswith("intervene: ") and "(not_found, HTTP 404)" in r.stderr, r.stderr
    # json: the error body on stdout, unchanged
    r = fails(cli(shared_server, "incident", "show", "999999999", "--format", "json"))
    st, body = raw(shared_server, "GET", "/api/incidents/999999999")
    assert st == 404 and r.stdout == body + "\n"


def test_text_output_neutralises_control_characters(shared_server):
    s = shared_server
    tag = unique("esc")
    s.new_incident(key=tag, summary=f"evil \x1b[31mred\x1b]0;title\x07 {tag}")
    r = ok(cli(s, "incident", "list", "-q", tag))
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "evil ?[31mred?]0;title? " in r.stdout, r.stdout


# --------------------------------------------------------------------------- declare / update / assign

def test_incident_declare(shared_server):
    s = shared_server
    key = unique("decl")
    r = ok(cli(s, "incident", "declare", "--summary", "Checkout is slow", "--severity", "sev2",
               "--key", key, "--details", '{"p95_ms": 2300}', "--playbook", "dbt_run",
               "--playbook", "es_reindex"))
    m = re.fullmatch(r"incident (\d+) declared: open, sev2, unassigned\n", r.stdout)
    assert m, r.stdout
    inc = s.incident(int(m.group(1)))
    assert inc["key"] == key and inc["details"] == {"p95_ms": 2300}
    assert inc["playbooks"] == ["dbt_run", "es_reindex"] and inc["kind"] == "manual"
    # the same key again → 409 naming the active incident
    r = fails(cli(s, "incident", "declare", "--summary", "again", "--key", key))
    assert "(conflict, HTTP 409)" in r.stderr and f"incident_id: {m.group(1)}" in r.stderr, r.stderr
    # json: the 201 body
    r = ok(cli(s, "incident", "declare", "--summary", "json one", "--format", "json"))
    body = json.loads(r.stdout)
    assert body["incident"]["summary"] == "json one" and body["incident"]["key"].startswith("manual:")
    assert r.stdout.count("\n") == 1


def test_incident_declare_idempotency_key(shared_server):
    s = shared_server
    k = unique("idem")
    r1 = ok(cli(s, "incident", "declare", "--summary", "once", "--idempotency-key", k, "--format", "json"))
    r2 = ok(cli(s, "incident", "declare", "--summary", "once", "--idempotency-key", k, "--format", "json"))
    assert r1.stdout == r2.stdout


def test_incident_update(shared_server):
    s = shared_server
    iid = s.new_incident(severity="sev3")
    r = fails(cli(s, "incident", "update", str(iid), "--severity", "sev1"))
    assert "(validation_failed, HTTP 400)" in r.stderr and "field: reason" in r.stderr, r.stderr
    r = ok(cli(s, "incident", "update", str(iid), "--severity", "sev1", "--reason", "spreading",
               "--summary", "now worse", "--assigned-to", "ann", "--metadata", '{"team":"db"}',
               "--playbook", "dbt_run"))
    assert r.stdout == f"incident {iid} updated: open, sev1, assigned to ann\n"
    inc = s.incident(iid)
    assert inc["summary"] == "now worse" and inc["metadata"] == {"team": "db"}
    assert inc["playbooks"] == ["dbt_run"] and inc["assigned_to"] == "ann"
    ok(cli(s, "incident", "update", str(iid), "--assigned-to", "-"))
    assert s.incident(iid)["assigned_to"] is None
    r = ok(cli(s, "incident", "update", str(iid), "--metadata", '{"team":null}', "--format", "json"))
    assert json.loads(r.stdout)["incident"]["metadata"] == {}


def test_incident_assign(shared_server):
    s = shared_server
    iid = s.new_incident()
    r = ok(cli(s, "incident", "assign", str(iid), "bob"))
    assert r.stdout == f"incident {iid} assigned: open, sev3, assigned to bob\n"
    for clear in ("-", ""):
        ok(cli(s, "incident", "assign", str(iid), "carol"))
        r = ok(cli(s, "incident", "assign", str(iid), clear))
        assert r.stdout.endswith("unassigned\n")
        assert s.incident(iid)["assigned_to"] is None
    r = ok(cli(s, "incident", "assign", str(iid), "dan", "--format", "json"))
    assert json.loads(r.stdout)["incident"]["assigned_to"] == "dan"
    fails(cli(s, "incident", "assign", "999999999", "x"))


# --------------------------------------------------------------------------- lifecycle

def test_lifecycle_verbs(shared_server):
    s = shared_server
    iid = s.new_incident()
    r = ok(cli(s, "incident", "ack", str(iid), "--notes", "on it", "--assign", "eve"))
    assert r.stdout == f"incident {iid} acknowledged: acknowledged, sev3, assigned to eve\n"
    assert s.incident(iid)["notes"]["acknowledge"][0]["text"] == "on it"
    r = ok(cli(s, "incident", "mitigate", str(iid)))
    assert r.stdout.startswith(f"incident {iid} mitigated: mitigated")
    r = ok(cli(s, "incident", "resolve", str(iid), "--assign", "-"))
    assert r.stdout == f"incident {iid} resolved: resolved, sev3, unassigned\n"
    r = ok(cli(s, "incident", "close", str(iid), "--format", "json"))
    assert json.loads(r.stdout)["incident"]["status"] == "closed"
    r = ok(cli(s, "incident", "reopen", str(iid), "--notes", "back"))
    assert r.stdout.startswith(f"incident {iid} reopened: open")
    # the long verb is accepted too
    ok(cli(s, "incident", "acknowledge", str(iid)))
    # a refused transition: 409, exit 1
    r = fails(cli(s, "incident", "reopen", str(iid)))
    assert "(conflict, HTTP 409)" in r.stderr, r.stderr


# --------------------------------------------------------------------------- comments / timeline

def test_comments(shared_server):
    s = shared_server
    iid = s.new_incident()
    r = ok(cli(s, "incident", "comment", str(iid), "first look: disk"))
    assert re.fullmatch(rf"comment \d+ added to incident {iid}\n", r.stdout), r.stdout
    r = ok(cli(s, "incident", "comment", "--format", "json", str(iid), "--", "-starts with a dash",
               token=None, env={"INTERVENE_TOKEN": s.token}))
    assert json.loads(r.stdout)["comment"]["body"] == "-starts with a dash"
    r = ok(cli(s, "incident", "comments", str(iid)))
    head, rows = table(r.stdout)
    assert head == ["ID", "AUTHOR", "AGE", "BODY"]
    assert [x["BODY"] for x in rows] == ["first look: disk", "-starts with a dash"]
    r = ok(cli(s, "incident", "comments", str(iid), "--format", "json"))
    same_as_api(r, s, f"/api/incidents/{iid}/comments")
    r = fails(cli(s, "incident", "comment", str(iid), "   "))
    assert "field: body" in r.stderr


def test_timeline(shared_server):
    s = shared_server
    iid = s.new_incident()
    s.transition(iid, "acknowledge")
    s.transition(iid, "mitigate")
    r = ok(cli(s, "incident", "timeline", str(iid)))
    head, rows = table(r.stdout)
    assert head == ["ID", "TIME", "TYPE", "INCIDENT", "ACTOR", "DATA"]
    assert [x["TYPE"] for x in rows] == ["incident_created", "incident_updated", "incident_updated"]
    assert all(x["INCIDENT"] == str(iid) for x in rows)
    assert "change_type=mitigated" in rows[2]["DATA"]
    r = ok(cli(s, "incident", "timeline", str(iid), "--per-page", "2"))
    assert len(table(r.stdout)[1]) == 2 and "next: --page 2" in r.stdout
    r = ok(cli(s, "incident", "timeline", str(iid), "--page", "2", "--per-page", "2"))
    assert [x["TYPE"] for x in table(r.stdout)[1]] == ["incident_updated"]
    r = ok(cli(s, "incident", "timeline", str(iid), "--format", "json"))
    same_as_api(r, s, f"/api/incidents/{iid}/timeline")
    fails(cli(s, "incident", "timeline", "999999999"))


# --------------------------------------------------------------------------- signal

def test_signal_from_options(shared_server):
    s = shared_server
    key = unique("sig")
    r = ok(cli(s, "signal", "--kind", "budget", "--key", key, "--summary", "over budget",
               "--priority", "P1", "--details", '{"spent": 12.5}', "--source", "nightly",
               "--playbook", "dbt_run"))
    m = re.fullmatch(r"created incident (\d+)\n", r.stdout)
    assert m, r.stdout
    inc = s.incident(int(m.group(1)))
    assert inc["severity"] == "sev1" and inc["source"] == "nightly" and inc["kind"] == "budget"
    assert inc["details"] == {"spent": 12.5} and inc["playbooks"] == ["dbt_run"]
    r = ok(cli(s, "signal", "--kind", "budget", "--key", key, "--summary", "again",
               "--severity", "sev2", "--format", "json"))
    assert json.loads(r.stdout) == {"outcome": "deduplicated", "incident_id": int(m.group(1))}
    assert r.stdout == f'{{"incident_id":{m.group(1)},"outcome":"deduplicated"}}\n'
    r = ok(cli(s, "signal", "--kind", "budget", "--key", key, "--summary", "ok now", "--resolve"))
    assert r.stdout == f"resolved incident {m.group(1)}\n"
    r = ok(cli(s, "signal", "--kind", "budget", "--key", key, "--summary", "ok now", "--resolve"))
    assert r.stdout == "no_incident\n"
    # the server's validation: exit 1 naming the field
    r = fails(cli(s, "signal", "--kind", "budget", "--summary", "no key"))
    assert "(validation_failed, HTTP 400)" in r.stderr and "field: key" in r.stderr


def write_json(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return str(p)


def test_signal_file_2500_items_in_batches_of_1000(shared_server, tmp_path):
    s = shared_server
    tag = unique("bat")
    items = [{"kind": "manual", "key": f"{tag}-{i % 2000}", "summary": f"item {i}"} for i in range(2500)]
    path = write_json(tmp_path, "batch.json", items)
    r = ok(cli(s, "signal", "--file", path, "--format", "json"))
    lines = r.stdout.splitlines()
    assert len(lines) == 3, r.stdout[:500]
    results = [json.loads(l)["results"] for l in lines]
    assert [len(x) for x in results] == [1000, 1000, 500]
    flat = [x for batch in results for x in batch]
    assert [x["outcome"] for x in flat] == ["created"] * 2000 + ["deduplicated"] * 500
    assert flat[2000]["incident_id"] == flat[0]["incident_id"]
    # text: one row per item plus a summary line
    items2 = [{"kind": "manual", "key": f"{tag}-{i}", "summary": "again"} for i in range(1200)]
    path2 = write_json(tmp_path, "batch2.json", items2)
    r = ok(cli(s, "signal", "--file", path2))
    head, rows = table(r.stdout.rsplit("\n", 2)[0])
    assert head == ["INDEX", "OUTCOME", "INCIDENT", "KIND", "KEY"]
    assert len(rows) == 1200 and rows[0]["INDEX"] == "0" and rows[-1]["INDEX"] == "1199"
    assert rows[5]["OUTCOME"] == "deduplicated" and rows[5]["KEY"] == f"{tag}-5"
    assert r.stdout.splitlines()[-1] == "1200 signals in 2 requests: 1200 deduplicated"


def test_signal_file_split_by_size(shared_server, tmp_path):
    s = shared_server
    tag = unique("big")
    blob = "x" * 250_000  # ~250 KB each (under the 256 KiB details bound): four fit in 1 MiB
    items = [{"kind": "manual", "key": f"{tag}-{i}", "summary": "large", "details": {"blob": blob}}
             for i in range(10)]
    path = write_json(tmp_path, "large.json", items)
    r = ok(cli(s, "signal", "--file", path, "--format", "json"))
    sizes = [len(json.loads(l)["results"]) for l in r.stdout.splitlines()]
    assert sum(sizes) == 10 and len(sizes) == 3 and max(sizes) == 4, sizes
    st, b = s.get(f"/api/incidents?q={tag}")
    assert b["total"] == 10
    # one item larger than a request can hold: refused before anything is sent
    huge = [{"kind": "manual", "key": f"{tag}-huge", "summary": "huge", "details": {"b": "y" * 1_100_000}}]
    r = fails(cli(s, "signal", "--file", write_json(tmp_path, "huge.json", huge)), 2)
    assert "item 0 is" in r.stderr
    assert s.get(f"/api/incidents?q={tag}-huge")[1]["total"] == 0


def test_signal_file_single_object_and_stdin(shared_server, tmp_path):
    s = shared_server
    key = unique("one")
    path = write_json(tmp_path, "one.json", {"kind": "manual", "key": key, "summary": "from a file"})
    r = ok(cli(s, "signal", "--file", path))
    assert re.fullmatch(r"created incident \d+\n", r.stdout), r.stdout
    r = ok(cli(s, "signal", "--file", "-", "--format", "json",
               input=json.dumps([{"kind": "manual", "key": key, "summary": "stdin"}])))
    assert json.loads(r.stdout)["results"][0]["outcome"] == "deduplicated"


def test_signal_file_errors(shared_server, tmp_path):
    s = shared_server
    r = fails(cli(s, "signal", "--file", str(tmp_path / "missing.json")), 1)
    assert "cannot read" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    assert "not valid JSON" in fails(cli(s, "signal", "--file", str(bad)), 2).stderr
    assert "empty array" in fails(cli(s, "signal", "--file", write_json(tmp_path, "e.json", [])), 2).stderr
    r = fails(cli(s, "signal", "--file", write_json(tmp_path, "n.json", [{"kind": "manual", "summary": "a"}, 3])), 2)
    assert "item 1 is not a JSON object" in r.stderr
    assert "object or an array" in fails(cli(s, "signal", "--file", write_json(tmp_path, "s.json", "x")), 2).stderr
    # an invalid item in the second batch: the first batch is stored, the error names the file's index
    tag = unique("half")
    items = [{"kind": "manual", "key": f"{tag}-{i}", "summary": "ok"} for i in range(1500)]
    items[1200] = {"kind": "manual", "key": f"{tag}-bad", "summary": ""}
    r = fails(cli(s, "signal", "--file", write_json(tmp_path, "half.json", items)), 1)
    assert "(validation_failed, HTTP 400)" in r.stderr and "index: 1200" in r.stderr, r.stderr
    assert "items 0..999 were accepted" in r.stderr, r.stderr
    assert s.get(f"/api/incidents?q={tag}&per_page=1")[1]["total"] == 1000
    assert r.stdout.splitlines()[-1] == "1000 signals in 1 request: 1000 created"


# --------------------------------------------------------------------------- silences

def test_silences(shared_server):
    s = shared_server
    glob = unique("silc") + "-*"
    seen = s.new_incident(key=glob[:-1] + "0")  # an active incident the silence would match
    r = ok(cli(s, "silence", "add", "--key-glob", glob, "--kind", "manual", "--reason", "deploy",
               "--duration", "2h"))
    m = re.fullmatch(rf"silence (\d+) created: kind=manual key_glob={re.escape(glob)} until \S+Z \(in [12]h\)\n",
                     r.stdout)
    assert m, r.stdout
    sid = m.group(1)
    r = ok(cli(s, "silence", "add", "--key-glob", glob + "x", "--reason", "later",
               "--ends-at", "2099-01-01T00:00:00Z", "--starts-at", "2098-12-31T00:00:00Z", "--format", "json"))
    later = json.loads(r.stdout)["silence"]
    assert later["active"] is False and later["ends_at"] == "2099-01-01T00:00:00.000Z"
    r = fails(cli(s, "silence", "add", "--key-glob", glob, "--reason", "long", "--duration", "8d"))
    assert "(validation_failed, HTTP 400)" in r.stderr
    r = ok(cli(s, "silence", "list", "--per-page", "200"))
    head, rows = table(r.stdout)
    assert head == ["ID", "ACTIVE", "KIND", "KEY_GLOB", "ENDS", "CREATED_BY", "REASON"]
    mine = [x for x in rows if x["ID"] == sid]
    assert mine and mine[0]["ACTIVE"] == "yes" and mine[0]["KEY_GLOB"] == glob and mine[0]["ENDS"] in ("in 1h", "in 2h")
    assert not any(x["ID"] == str(later["id"]) for x in rows)
    r = ok(cli(s, "silence", "list", "--all", "--per-page", "200"))
    assert any(x["ID"] == str(later["id"]) for x in table(r.stdout)[1])
    r = ok(cli(s, "silence", "list", "--all", "--format", "json"))
    same_as_api(r, s, "/api/silences?all=true")
    # the silence works
    st, b = s.post("/api/signals", {"kind": "manual", "key": glob[:-1] + "1", "summary": "quiet"})
    assert b["outcome"] == "silenced"
    r = ok(cli(s, "silence", "preview", "--key-glob", glob))
    assert r.stdout.startswith("active incidents matching")
    assert re.search(rf"^{seen}\s+sev3\s+open\s+manual\s+{re.escape(glob[:-1])}0\s", r.stdout, re.M), r.stdout
    assert re.search(rf"^manual\s+{re.escape(glob[:-1])}0$", r.stdout, re.M), r.stdout
    r = ok(cli(s, "silence", "preview", "--key-glob", glob, "--kind", "manual", "--format", "json"))
    same_as_api(r, s, f"/api/silences/preview?key_glob={glob}&kind=manual")
    r = ok(cli(s, "silence", "end", sid))
    assert r.stdout.startswith(f"silence {sid} ended: kind=manual key_glob={glob} until ")
    r = ok(cli(s, "silence", "end", str(later["id"]), "--format", "json"))
    assert json.loads(r.stdout)["silence"]["active"] is False
    r = fails(cli(s, "silence", "end", "999999999"))
    assert "(not_found, HTTP 404)" in r.stderr


# --------------------------------------------------------------------------- events

def test_events_text_and_json(shared_server):
    s = shared_server
    iid = s.new_incident()
    s.transition(iid, "acknowledge")
    evs = s.all_events(incident_id=iid)
    first = evs[0]["id"]
    r = ok(cli(s, "events", "--incident-id", str(iid)))
    head, rows = table(r.stdout)
    assert head == ["ID", "TIME", "TYPE", "INCIDENT", "ACTOR", "DATA"]
    assert [int(x["ID"]) for x in rows] == [e["id"] for e in evs]
    assert rows[0]["TYPE"] == "incident_created" and rows[0]["ACTOR"] == evs[0]["actor"]
    assert rows[0]["TIME"] == evs[0]["created_at"]
    assert "change_type=acknowledged" in rows[1]["DATA"]
    r = ok(cli(s, "events", "--after-id", str(first - 1), "--limit", "1", "--types",
               "incident_created,incident_updated", "--format", "json"))
    same_as_api(r, s, f"/api/events?types=incident_created%2Cincident_updated&after_id={first - 1}&limit=1")
    r = ok(cli(s, "events", "--after-id", str(first - 1), "--limit", "1", "--incident-id", str(iid)))
    assert f"next: --after-id {first}" in r.stdout
    r = ok(cli(s, "events", "--types", "token_revoked", "--types", "audit_anchor",
               "--after-id", str(evs[-1]["id"])))
    assert r.stdout == "no events\n"
    r = fails(cli(s, "events", "--types", "nope"))
    assert "field: types" in r.stderr


# `events --follow` (the event stream): test_cli_events_follow.py
