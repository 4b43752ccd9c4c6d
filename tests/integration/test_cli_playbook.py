"""The playbook client commands (SPEC §12, §5.2): `intervene playbook list|offered|dry-run|
approve|execute|rollback|cancel|history|show` against a running server, in text and json
format; exit codes 0 (success; an action that succeeded or still runs), 1 (HTTP error, a
failed plan, an action that ended failed or cancelled), 2 (usage error)."""
import json
import os
import re
import subprocess
import tempfile

import pytest

from harness import BIN, Server, free_port, unique, wait_for

BASE = "/api/playbooks/incidents"

# --------------------------------------------------------------------------- helpers


def run_bin(*args, timeout=30):
    """The binary with a clean environment (no config, no token)."""
    e = dict(os.environ)
    for k in ("INTERVENE_CONFIG", "INTERVENE_TOKEN", "INTERVENE_BOOTSTRAP_TOKEN"):
        e.pop(k, None)
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env=e,
                          cwd=tempfile.gettempdir())


def cli(srv, *args, token=None, input=None, timeout=60):
    """`intervene --config <srv config> playbook ARGS` with token (default: admin)."""
    return srv.cli("playbook", *args, "--token", token or srv.token, input=input,
                   timeout=timeout)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def fails(r, code=1):
    assert r.returncode == code, \
        f"want exit {code}, got {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def fields(stdout):
    """A `key: value` listing → dict (blocks below a key are skipped; hint lines too)."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^([a-z_]+):\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def table(stdout):
    """Rows of an aligned table: header columns → list of dicts (split on 2+ spaces)."""
    lines = [l for l in stdout.splitlines() if l.strip() and not l.startswith("(")]
    head = re.split(r"\s{2,}", lines[0].strip())
    return head, [dict(zip(head, re.split(r"\s{2,}", l.strip()))) for l in lines[1:]]


def raw_get(srv, path):
    """GET path → the body text exactly as sent."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=15)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {srv.token}"})
        resp = conn.getresponse()
        assert resp.status == 200
        return resp.read().decode("utf-8")
    finally:
        conn.close()


def same_as_api(r, srv, path):
    assert r.stdout == raw_get(srv, path) + "\n", r.stdout


def set_canary(srv, name, pct, version="v2"):
    st, _, b = srv.request("PUT", f"/api/settings/canary.{name}",
                           body={"value": {"version": version, "baseline_version": "v1",
                                           "canary_pct": pct, "kill_switch": False},
                                 "reason": "t"})
    assert st == 200, b


def canary_pct(srv, name):
    st, _, b = srv.request("GET", f"/api/settings/canary.{name}")
    assert st == 200, b
    return b["setting"]["value"]["canary_pct"]


def action(srv, iid, aid):
    st, b = srv.get(f"{BASE}/{iid}/actions/{aid}")
    assert st == 200, b
    return b["action"]


def split_args(name, target, version="v2"):
    return ["--param", f"canary={name}", "--param", f"version={version}",
            "--param", f"target_percent={target}"]


def tokens_live(srv, *tokens):
    """Tokens made by the CLI reach a running server within a second."""
    for t in tokens:
        wait_for(lambda: srv.get("/api/session", token=t)[0] == 200, timeout=5,
                 msg="the new token to work")


@pytest.fixture(scope="module")
def srv():
    # Elasticsearch on a port nobody listens on: clear_cache plans, then fails to run
    s = Server({"actions": {"canary_step_interval": "200ms", "approval_ttl": "1h",
                            "elasticsearch": {"url": f"http://127.0.0.1:{free_port()}",
                                              "timeout": "2s"}}})
    s.approver = s.create_token("ann-approver", "approver")
    s.responder = s.create_token("rob-responder", "responder")
    tokens_live(s, s.approver, s.responder)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def slow():
    """Canary steps 30 s apart: an adjust_canary_split keeps running until cancelled."""
    s = Server({"actions": {"canary_step_interval": "30s"}})
    yield s
    s.cleanup()


# --------------------------------------------------------------------------- help and usage

SUBCOMMANDS = ["list", "offered", "dry-run", "approve", "execute", "rollback", "cancel",
               "history", "show"]


@pytest.mark.parametrize("sub", [None] + SUBCOMMANDS)
def test_help_on_every_playbook_command(sub):
    args = ["playbook"] + ([sub] if sub else [])
    r = ok(run_bin(*args, "--help"))
    assert r.stdout.startswith("usage: intervene " + " ".join(args)), r.stdout
    assert "--server URL" in r.stdout and "--token" in r.stdout and "--format" in r.stdout
    assert r.stderr == ""
    if not sub:
        for s in SUBCOMMANDS:
            assert re.search(rf"^  {s}\b", r.stdout, re.M), r.stdout


def test_top_level_help_lists_playbook():
    r = ok(run_bin("--help"))
    assert re.search(r"^\s+playbook\s+list\|offered\|dry-run", r.stdout, re.M), r.stdout


def test_cli_doc_has_a_section_per_subcommand():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "docs", "cli.md")) as f:
        doc = f.read()
    assert "\n## playbook\n" in doc
    for s in SUBCOMMANDS:
        assert re.search(rf"^### playbook {s}\b", doc, re.M), s


USAGE_ERRORS = [
    (["playbook"], "usage"),
    (["playbook", "frobnicate"], "unknown command"),
    (["playbook", "list", "extra"], "unexpected argument 'extra'"),
    (["playbook", "offered"], "missing INC"),
    (["playbook", "offered", "x"], "INC must be a positive integer"),
    (["playbook", "dry-run", "1"], "missing TYPE"),
    (["playbook", "dry-run", "1", "clear_cache", "--param", "index_name"],
     "--param must be NAME=VALUE (got 'index_name')"),
    (["playbook", "dry-run", "1", "clear_cache", "--param", "=x"], "--param must be NAME=VALUE"),
    (["playbook", "dry-run", "1", "clear_cache", "--params", "{bad"], "--params is not valid JSON"),
    (["playbook", "dry-run", "1", "clear_cache", "--params", "[1]"],
     "--params must be a JSON object"),
    (["playbook", "dry-run", "1", "clear_cache", "--params", "{}", "--params-file", "x.json"],
     "give either --params or --params-file"),
    (["playbook", "dry-run", "1", "clear_cache", "--param"], "--param needs a value"),
    (["playbook", "approve", "1"], "missing ACTION"),
    (["playbook", "approve", "1", "0"], "ACTION must be a positive integer"),
    (["playbook", "execute", "1", "2", "--wait", "61"], "--wait must be 0..60 seconds"),
    (["playbook", "execute", "1", "2", "--wait", "soon"], "--wait must be a non-negative integer"),
    (["playbook", "execute", "1", "2", "--idempotency-key", "a\nb"], "CR or LF"),
    (["playbook", "rollback", "1"], "missing ACTION"),
    (["playbook", "cancel", "1", "2", "3"], "unexpected argument '3'"),
    (["playbook", "history", "1", "--page", "x"], "--page must be"),
    (["playbook", "show", "1", "--bogus"], "unknown option '--bogus'"),
    (["playbook", "list", "--format", "yaml"], "--format must be text or json"),
]


@pytest.mark.parametrize("args,msg", USAGE_ERRORS,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_usage_errors_exit_2(args, msg):
    # --server points nowhere: a usage error must be found before any request
    if len(args) > 1:
        args = args[:2] + ["--server", f"http://127.0.0.1:{free_port()}"] + args[2:]
    r = fails(run_bin(*args), 2)
    assert msg in r.stderr, r.stderr
    assert r.stdout == ""


def test_params_file_errors(srv, tmp_path):
    iid = srv.new_incident(unique("pb"))
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    r = fails(cli(srv, "dry-run", str(iid), "clear_cache", "--params-file", str(bad)), 2)
    assert "must hold a JSON object" in r.stderr
    bad.write_text('{"a": 1, "a": 2}')
    r = fails(cli(srv, "dry-run", str(iid), "clear_cache", "--params-file", str(bad)), 2)
    assert "is not valid JSON" in r.stderr
    r = fails(cli(srv, "dry-run", str(iid), "clear_cache", "--params-file",
                  str(tmp_path / "missing.json")))
    assert "cannot read" in r.stderr


def test_server_unreachable_exit_1():
    port = free_port()
    r = fails(run_bin("playbook", "list", "--server", f"http://127.0.0.1:{port}"))
    assert f"127.0.0.1:{port}" in r.stderr and "cannot reach" in r.stderr


# --------------------------------------------------------------------------- list, offered

def test_list_table_and_json(srv):
    st, b = srv.get("/api/playbooks/actions")
    assert st == 200
    r = ok(cli(srv, "list"))
    head, rows = table(r.stdout)
    assert head == ["NAME", "REVERSIBLE", "APPROVAL", "PARAMS"]
    assert [x["NAME"] for x in rows] == [a["name"] for a in b["actions"]]
    split = next(x for x in rows if x["NAME"] == "adjust_canary_split")
    assert split["REVERSIBLE"] == "yes"
    assert split["APPROVAL"] == "when the target is above the current percentage"
    assert split["PARAMS"] == "canary version target_percent [gradual]"
    assert next(x for x in rows if x["NAME"] == "clear_cache")["REVERSIBLE"] == "no"
    same_as_api(ok(cli(srv, "list", "--format", "json")), srv, "/api/playbooks/actions")
    # a viewer may list
    ok(cli(srv, "ls", token=srv.responder))


def test_offered_table_and_json(srv):
    st, b = srv.post("/api/incidents", {"summary": "offer me", "playbooks": ["clear_cache"]})
    assert st == 201, b
    iid = b["incident"]["id"]
    r = ok(cli(srv, "offered", str(iid)))
    head, rows = table(r.stdout)
    assert head == ["TYPE", "APPROVAL", "NAME", "PARAMS"]
    assert rows[0]["TYPE"] == "clear_cache" and rows[0]["APPROVAL"] == "no", r.stdout
    same_as_api(ok(cli(srv, "offered", str(iid), "--format", "json")), srv,
                f"{BASE}/{iid}/actions")
    empty = srv.new_incident(unique("pb"))
    assert ok(cli(srv, "offered", str(empty))).stdout == "no actions offered\n"
    r = fails(cli(srv, "offered", "999999"))
    assert "(not_found, HTTP 404)" in r.stderr


# --------------------------------------------------------------------------- dry-run

def test_dry_run_prints_the_plan_and_types_params_by_the_catalogue(srv):
    name = unique("c")
    set_canary(srv, name, 60, version="2")  # a version that looks like a number
    iid = srv.new_incident(unique("pb"))
    r = ok(cli(srv, "dry-run", str(iid), "adjust_canary_split",
               *split_args(name, 30, version="2"), token=srv.responder))
    f = fields(r.stdout)
    aid = int(f["id"])
    a = action(srv, iid, aid)
    assert a["params"]["version"] == "2" and a["params"]["target_percent"] == 30
    assert f["status"] == "dry_run_success" and f["action_type"] == "adjust_canary_split"
    assert f["incident_id"] == str(iid) and f["target"] == f"canary:{name}"
    assert f["message"] == a["plan"]["message"]
    assert f["steps"] == "50, 40, 30"
    assert f["risk"] == "low" and f["systems"] == "canary traffic split"
    assert f["estimates"].startswith("about ")
    assert f["requires_approval"].startswith("no (rule: when the target is above")
    assert f["reversible"].startswith("yes")
    assert f["plan_hash"] == a["plan_hash"] and len(f["plan_hash"]) == 64
    assert json.loads(f["params"]) == a["params"]
    assert f["requested_by"] == "rob-responder"
    assert f"(next: intervene playbook execute {iid} {aid})" in r.stdout
    assert r.stderr == ""


def test_dry_run_json_is_the_body(srv):
    name = unique("c")
    set_canary(srv, name, 60)
    iid = srv.new_incident(unique("pb"))
    r = ok(cli(srv, "dry-run", str(iid), "adjust_canary_split", *split_args(name, 40),
               "--format", "json"))
    body = json.loads(r.stdout)
    assert r.stdout.count("\n") == 1
    got = action(srv, iid, body["action"]["id"])
    got.pop("log")
    assert body["action"] == got


def test_dry_run_that_needs_approval_says_who_may_approve(srv):
    name = unique("c")
    set_canary(srv, name, 30)
    iid = srv.new_incident(unique("pb"))
    r = ok(cli(srv, "dry-run", str(iid), "adjust_canary_split", *split_args(name, 50),
               token=srv.responder))
    f = fields(r.stdout)
    assert f["requires_approval"].startswith("yes (rule: ")
    assert f"intervene playbook approve {iid} {f['id']} --plan-hash {f['plan_hash']}" in r.stdout
    assert "other than rob-responder" in r.stdout


def test_dry_run_failed_exits_1_with_the_reason(srv):
    iid = srv.new_incident(unique("pb"))
    missing = unique("nope")
    for fmt in ("text", "json"):
        r = fails(cli(srv, "dry-run", str(iid), "rollback_planner", "--param",
                      f"canary={missing}", "--param", "from_version=v2", "--format", fmt))
        assert re.search(r"the plan of action \d+ failed: .*" + missing, r.stderr), r.stderr
        if fmt == "json":
            assert json.loads(r.stdout)["action"]["status"] == "dry_run_failed"
        else:
            f = fields(r.stdout)
            assert f["status"] == "dry_run_failed" and missing in f["error"]


def test_dry_run_refused_params_exit_1_naming_the_field(srv):
    iid = srv.new_incident(unique("pb"))
    r = fails(cli(srv, "dry-run", str(iid), "adjust_canary_split", *split_args("x", "lots")))
    assert "(validation_failed, HTTP 400)" in r.stderr and "field: params.target_percent" in r.stderr
    r = fails(cli(srv, "dry-run", str(iid), "no_such_type"))
    assert "field: action_type" in r.stderr
    r = fails(cli(srv, "dry-run", str(iid), "clear_cache", "--param", "bogus=1"))
    assert "params.bogus" in r.stderr


def test_array_params_from_repeats_json_and_files(srv):
    iid = srv.new_incident(unique("pb"))
    r = ok(cli(srv, "dry-run", str(iid), "clear_cache", "--param", "cache_types=query",
               "--param", "cache_types=fielddata", "--param", "index_name=2024"))
    a = action(srv, iid, int(fields(r.stdout)["id"]))
    assert a["params"] == {"cache_types": ["query", "fielddata"], "index_name": "2024"}
    r = ok(cli(srv, "dry-run", str(iid), "clear_cache", "--param",
               'cache_types=["request","fielddata"]'))
    a = action(srv, iid, int(fields(r.stdout)["id"]))
    assert a["params"]["cache_types"] == ["request", "fielddata"]
    # --params from standard input; --param replaces one of its keys
    r = ok(cli(srv, "dry-run", str(iid), "clear_cache", "--params-file", "-", "--param",
               "index_name=logs", input='{"index_name": "other", "cache_types": ["query"]}'))
    a = action(srv, iid, int(fields(r.stdout)["id"]))
    assert a["params"] == {"cache_types": ["query"], "index_name": "logs"}
    f = fields(r.stdout)
    assert f["commands"] == a["plan"]["commands"][0]
    # a name given twice is an error unless the param is an array
    r = fails(cli(srv, "dry-run", str(iid), "clear_cache", "--param", "index_name=a",
                  "--param", "index_name=b"), 2)
    assert "--param index_name is given twice" in r.stderr


# --------------------------------------------------------------------------- execute, show, history

def test_execute_wait_show_and_history(srv):
    name = unique("c")
    set_canary(srv, name, 60)
    iid = srv.new_incident(unique("pb"))
    aid = fields(ok(cli(srv, "dry-run", str(iid), "adjust_canary_split",
                        *split_args(name, 40))).stdout)["id"]
    r = ok(cli(srv, "execute", str(iid), aid, "--wait", "20", token=srv.responder))
    f = fields(r.stdout)
    assert f["status"] == "success" and f["executed_by"] == "rob-responder"
    assert "finished_at" in f and "\nresult:\n" in r.stdout
    assert f"(undo: intervene playbook rollback {iid} {aid})" in r.stdout
    assert canary_pct(srv, name) == 40
    # show: the log, indented below its key
    r = ok(cli(srv, "show", str(iid), aid))
    assert fields(r.stdout)["status"] == "success"
    log = r.stdout.split("\nlog:\n", 1)[1]
    assert re.search(rf"^  canary\.{name} step 1: .*\"canary_pct\":50", log, re.M), r.stdout
    same_as_api(ok(cli(srv, "show", str(iid), aid, "--format", "json")), srv,
                f"{BASE}/{iid}/actions/{aid}")
    # history
    r = ok(cli(srv, "history", str(iid)))
    head, rows = table(r.stdout)
    assert head == ["ID", "TYPE", "STATUS", "TARGET", "REQUESTED_BY", "APPROVED_BY", "AGE", "ERROR"]
    assert rows[0]["ID"] == aid and rows[0]["STATUS"] == "success"
    assert rows[0]["TARGET"] == f"canary:{name}"
    same_as_api(ok(cli(srv, "history", str(iid), "--format", "json")), srv,
                f"{BASE}/{iid}/actions/history")


def test_history_pages(srv):
    iid = srv.new_incident(unique("pb"))
    for _ in range(3):
        ok(cli(srv, "dry-run", str(iid), "clear_cache"))
    r = ok(cli(srv, "history", str(iid), "--per-page", "2"))
    _, rows = table(r.stdout)
    assert len(rows) == 2 and "(showing 1-2 of 3; next: --page 2)" in r.stdout
    r = ok(cli(srv, "history", str(iid), "--per-page", "2", "--page", "2"))
    assert len(table(r.stdout)[1]) == 1
    same_as_api(ok(cli(srv, "history", str(iid), "--per-page", "2", "--page", "2",
                       "--format", "json")), srv,
                f"{BASE}/{iid}/actions/history?per_page=2&page=2")
    assert ok(cli(srv, "history", str(srv.new_incident(unique("pb"))))).stdout == "no actions\n"


def test_show_unknown_action_exit_1(srv):
    iid = srv.new_incident(unique("pb"))
    r = fails(cli(srv, "show", str(iid), "999999"))
    assert "(not_found, HTTP 404)" in r.stderr
    r = fails(cli(srv, "show", str(iid), "999999", "--format", "json"))
    assert json.loads(r.stdout)["error"]["code"] == "not_found"


def test_execute_that_fails_exits_1_with_its_error(srv):
    iid = srv.new_incident(unique("pb"))
    aid = fields(ok(cli(srv, "dry-run", str(iid), "clear_cache")).stdout)["id"]
    r = fails(cli(srv, "execute", str(iid), aid, "--wait", "20"))
    assert re.search(rf"intervene playbook execute: action {aid} failed: \S", r.stderr), r.stderr
    assert fields(r.stdout)["status"] == "failed"
    a = action(srv, iid, int(aid))
    assert a["status"] == "failed" and a["error"] in r.stderr


def test_execute_json_exit_code_and_idempotency_key(srv):
    name = unique("c")
    set_canary(srv, name, 60)
    iid = srv.new_incident(unique("pb"))
    aid = fields(ok(cli(srv, "dry-run", str(iid), "adjust_canary_split",
                        *split_args(name, 50))).stdout)["id"]
    key = unique("idem")
    r1 = ok(cli(srv, "execute", str(iid), aid, "--idempotency-key", key, "--format", "json"))
    a1 = json.loads(r1.stdout)["action"]
    assert a1["status"] == "running" and a1["id"] == int(aid)
    # the same key: the first reply again, not a 409 for an action that runs already
    r2 = ok(cli(srv, "execute", str(iid), aid, "--idempotency-key", key, "--format", "json"))
    assert r2.stdout == r1.stdout
    wait_for(lambda: action(srv, iid, int(aid))["status"] == "success", timeout=20,
             msg="the action to end")
    # without a key a second execute is refused
    r = fails(cli(srv, "execute", str(iid), aid))
    assert "(conflict, HTTP 409)" in r.stderr


# --------------------------------------------------------------------------- approval, rollback

def test_approval_then_execute_then_rollback(srv):
    name = unique("c")
    set_canary(srv, name, 30)
    iid = srv.new_incident(unique("pb"))
    f = fields(ok(cli(srv, "dry-run", str(iid), "adjust_canary_split", *split_args(name, 50),
                      token=srv.responder)).stdout)
    aid, hash_ = f["id"], f["plan_hash"]
    # not without approval
    r = fails(cli(srv, "execute", str(iid), aid, token=srv.responder))
    assert "(approval_required, HTTP 403)" in r.stderr
    # not by a responder, not with another plan's hash
    r = fails(cli(srv, "approve", str(iid), aid, token=srv.responder))
    assert "HTTP 403" in r.stderr
    r = fails(cli(srv, "approve", str(iid), aid, "--plan-hash", "0" * 64, token=srv.approver))
    assert "(conflict, HTTP 409)" in r.stderr
    r = ok(cli(srv, "approve", str(iid), aid, "--plan-hash", hash_, token=srv.approver))
    g = fields(r.stdout)
    assert g["status"] == "approved" and g["approved_by"] == "ann-approver"
    assert f"(next: intervene playbook execute {iid} {aid})" in r.stdout
    r = ok(cli(srv, "execute", str(iid), aid, "--wait", "20", token=srv.responder))
    assert fields(r.stdout)["status"] == "success"
    assert canary_pct(srv, name) == 50
    # the rollback is a new plan: back to 30 lowers traffic, no approval needed
    r = ok(cli(srv, "rollback", str(iid), aid, token=srv.responder))
    rb = fields(r.stdout)
    assert rb["rollback_of"] == aid and rb["status"] == "dry_run_success"
    assert rb["steps"] == "40, 30" and rb["requires_approval"].startswith("no")
    ok(cli(srv, "execute", str(iid), rb["id"], "--wait", "20", token=srv.responder))
    assert canary_pct(srv, name) == 30
    assert action(srv, iid, int(aid))["status"] == "rolled_back"
    # only a succeeded action can be rolled back
    r = fails(cli(srv, "rollback", str(iid), aid))
    assert "(conflict, HTTP 409)" in r.stderr


def test_rollback_json_and_not_reversible(srv):
    iid = srv.new_incident(unique("pb"))
    aid = fields(ok(cli(srv, "dry-run", str(iid), "clear_cache")).stdout)["id"]
    r = fails(cli(srv, "rollback", str(iid), aid, "--format", "json"))
    assert json.loads(r.stdout)["error"]["code"] == "conflict"
    name = unique("c")
    set_canary(srv, name, 60)
    aid = fields(ok(cli(srv, "dry-run", str(iid), "adjust_canary_split",
                        *split_args(name, 50))).stdout)["id"]
    ok(cli(srv, "execute", str(iid), aid, "--wait", "20"))
    r = ok(cli(srv, "rollback", str(iid), aid, "--format", "json"))
    rb = json.loads(r.stdout)["action"]
    assert rb["rollback_of"] == int(aid) and rb["plan"]["steps"] == [60]
    assert rb["requires_approval"] is True


# --------------------------------------------------------------------------- running, cancel

def test_execute_still_running_after_the_wait_exits_0_then_cancel(slow):
    name = unique("c")
    set_canary(slow, name, 60)
    iid = slow.new_incident(unique("pb"))
    aid = fields(ok(cli(slow, "dry-run", str(iid), "adjust_canary_split",
                        *split_args(name, 0))).stdout)["id"]
    r = ok(cli(slow, "execute", str(iid), aid, "--wait", "1"))
    assert fields(r.stdout)["status"] == "running"
    assert f"(still running: intervene playbook show {iid} {aid})" in r.stdout
    r = ok(cli(slow, "cancel", str(iid), aid))
    assert fields(r.stdout)["id"] == aid
    wait_for(lambda: action(slow, iid, int(aid))["status"] == "cancelled", timeout=10,
             msg="the action to be cancelled")
    assert fields(ok(cli(slow, "show", str(iid), aid)).stdout)["status"] == "cancelled"
    # not running any more
    r = fails(cli(slow, "cancel", str(iid), aid))
    assert "(conflict, HTTP 409)" in r.stderr


def test_execute_waiting_on_an_action_that_gets_cancelled_exits_1(slow):
    name = unique("c")
    set_canary(slow, name, 60)
    iid = slow.new_incident(unique("pb"))
    aid = fields(ok(cli(slow, "dry-run", str(iid), "adjust_canary_split",
                        *split_args(name, 0))).stdout)["id"]
    e = slow.env()
    e.pop("INTERVENE_BOOTSTRAP_TOKEN", None)
    p = subprocess.Popen([slow.bin, "--config", slow.config_path, "playbook", "execute", str(iid),
                          aid, "--wait", "30", "--token", slow.token],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    try:
        wait_for(lambda: action(slow, iid, int(aid))["status"] == "running", timeout=10,
                 msg="the action to start")
        ok(cli(slow, "cancel", str(iid), aid, "--format", "json"))
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 1, (out, err)
    assert f"intervene playbook execute: action {aid} cancelled\n" in err, err
    assert fields(out)["status"] == "cancelled"
