"""Runtime settings (SPEC §5.3, §6, §12): PUT/GET round trips of `tracker` and
`canary.<name>`, secrets masked in responses, in the settings_changed event and in the
log, "****" keeping the stored secret, roles, reasons, unknown keys, GET /api/canary/{name},
and `intervene settings get|set`."""
import json
import os
import tempfile

import pytest

from harness import Server, assert_error, unique, wait_for

FILE_TOKEN = "ghp_FILEsecret0123456789"

CANARY = {"version": "2.4.0", "baseline_version": "2.3.1", "canary_pct": 25, "kill_switch": False}


@pytest.fixture(scope="module")
def srv():
    """A server whose configuration file has a tracker block with a secret."""
    s = Server({"tracker": {"provider": "github",
                            "github": {"token": FILE_TOKEN, "owner": "acme", "repo": "web"}}})
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def roles(srv):
    """role → token on srv, created with the local CLI."""
    toks = {role: srv.create_token(unique(role), role) for role in ("viewer", "responder", "approver")}
    wait_for(lambda: all(srv.get("/api/settings", token=t)[0] == 200 for t in toks.values()),
             timeout=2.0, msg="the new tokens are accepted")
    return toks


def put(s, key, value, reason="because", **kw):
    st, _, b = s.request("PUT", f"/api/settings/{key}", body={"value": value, "reason": reason}, **kw)
    return st, b


def changes(s, key):
    """The data of every settings_changed event of key, oldest first."""
    return [e["data"] for e in s.all_events(types="settings_changed") if e["data"]["key"] == key]


# --------------------------------------------------------------------------- canary

def test_canary_round_trip(srv):
    name = unique("web")
    st, b = put(srv, f"canary.{name}", CANARY, reason="ramp to 25%")
    assert st == 200, b
    s = b["setting"]
    assert s["key"] == f"canary.{name}" and s["value"] == CANARY and s["source"] == "setting"
    assert s["updated_by"] == "admin" and s["reason"] == "ramp to 25%" and s["updated_at"]
    st, b = srv.get(f"/api/settings/canary.{name}")
    assert st == 200 and b["setting"] == s
    st, b = srv.get(f"/api/canary/{name}")
    assert st == 200, b
    assert b == {"name": name, **CANARY, "updated_at": s["updated_at"]}
    data = changes(srv, f"canary.{name}")
    assert data == [{"key": f"canary.{name}", "updated_by": "admin", "reason": "ramp to 25%",
                     "changed_fields": ["baseline_version", "canary_pct", "kill_switch", "version"]}]
    st, b = put(srv, f"canary.{name}", dict(CANARY, kill_switch=True), reason="errors up")
    assert st == 200 and b["setting"]["value"]["kill_switch"] is True
    assert changes(srv, f"canary.{name}")[-1]["changed_fields"] == ["kill_switch"]
    st, b = srv.get(f"/api/canary/{name}")
    assert b["kill_switch"] is True and b["canary_pct"] == 25


def test_canary_unset_and_bounds(srv):
    name = unique("unset")
    assert_error(*srv.get(f"/api/canary/{name}"), 404, "not_found")
    assert_error(*srv.get(f"/api/settings/canary.{name}"), 404, "not_found")
    for bad, field in ((dict(CANARY, canary_pct=101), "value.canary_pct"),
                       (dict(CANARY, canary_pct=-1), "value.canary_pct"),
                       (dict(CANARY, canary_pct=2.5), "value.canary_pct"),
                       (dict(CANARY, version=""), "value.version"),
                       (dict(CANARY, version="v" * 129), "value.version"),
                       (dict(CANARY, kill_switch="no"), "value.kill_switch"),
                       (dict(CANARY, extra=1), "value.extra"),
                       ({k: v for k, v in CANARY.items() if k != "baseline_version"},
                        "value.baseline_version")):
        assert_error(*put(srv, f"canary.{name}", bad), 400, "validation_failed", field)
    # nothing was stored by the refused requests
    assert_error(*srv.get(f"/api/canary/{name}"), 404, "not_found")
    assert changes(srv, f"canary.{name}") == []


# --------------------------------------------------------------------------- tracker

def test_tracker_masking_and_kept_secret(srv):
    # unset: the file's block, its token masked
    st, b = srv.get("/api/settings/tracker")
    assert st == 200, b
    s = b["setting"]
    assert s["source"] == "config" and s["updated_at"] is None and s["reason"] is None
    assert s["value"]["github"]["token"] == "****" and s["value"]["github"]["repo"] == "web"
    # the value read back is put back as it is, with one change: the token is kept
    value = dict(s["value"], github=dict(s["value"]["github"], repo="search"))
    st, b = put(srv, "tracker", value, reason="repo renamed")
    assert st == 200, b
    assert b["setting"]["source"] == "setting" and b["setting"]["value"]["github"]["token"] == "****"
    assert changes(srv, "tracker")[-1]["changed_fields"] == ["github.repo"]
    # a new secret is named but never shown
    new_token = "ghp_NEWsecret" + unique("t").replace("-", "")
    value["github"]["token"] = new_token
    st, b = put(srv, "tracker", value, reason="rotate")
    assert st == 200 and b["setting"]["value"]["github"]["token"] == "****"
    assert changes(srv, "tracker")[-1] == {"key": "tracker", "updated_by": "admin",
                                          "reason": "rotate", "changed_fields": ["github.token"]}
    # "****" again: nothing changed, still recorded
    value["github"]["token"] = "****"
    st, b = put(srv, "tracker", value, reason="no-op")
    assert st == 200
    assert changes(srv, "tracker")[-1]["changed_fields"] == []
    # an emptied secret shows as "", and "****" then keeps "" (provider none needs none)
    value = dict(value, provider="none", github=dict(value["github"], token=""))
    st, b = put(srv, "tracker", value, reason="off")
    assert st == 200 and b["setting"]["value"]["github"]["token"] == ""
    assert sorted(changes(srv, "tracker")[-1]["changed_fields"]) == ["github.token", "provider"]
    value["github"]["token"] = "****"
    st, b = put(srv, "tracker", value, reason="still off")
    assert st == 200 and b["setting"]["value"]["github"]["token"] == ""
    # no secret anywhere: responses, the event log, the list, the server's log
    texts = [json.dumps(srv.get("/api/settings")[1]), json.dumps(srv.get("/api/settings/tracker")[1]),
             json.dumps(srv.all_events()), srv.stderr_text()]
    for t in texts:
        assert FILE_TOKEN not in t and new_token not in t


def test_tracker_validation_names_the_field(srv):
    cases = [
        ({"provider": "github"}, "value.github.token", "required when tracker.provider is github"),
        ({"provider": "jira", "jira": {"base_url": "https://j.example", "email": "a@b",
                                       "api_token": "t", "project_key": "1X"}},
         "value.jira.project_key", "Jira project key"),
        ({"pace": {"per_minute": 0}}, "value.pace.per_minute", "between 1 and 100000"),
        ({"sync": {"close_on": "later"}}, "value.sync.close_on", "resolved, closed or never"),
        ({"gihub": {}}, "value.gihub", "did you mean github?"),
        ({"github": {"owner": "${USER}"}}, "value.github.owner", "not expanded"),
        ({"gitlab": {"token": "a\nb"}}, "value.gitlab.token", "CR or LF"),
        # a kept secret is never sent to a new host
        ({"provider": "github", "github": {"token": "****", "owner": "acme", "repo": "web",
                                           "base_url": "https://elsewhere.example"}},
         "value.github.token", "keeps the stored secret only while base_url stays the same"),
    ]
    gh = {"token": "ghp_" + unique("t").replace("-", ""), "owner": "acme", "repo": "web"}
    assert put(srv, "tracker", {"provider": "github", "github": gh})[0] == 200
    before = len(changes(srv, "tracker"))
    for value, field, text in cases:
        st, b = put(srv, "tracker", value)
        err = assert_error(st, b, 400, "validation_failed", field)
        assert text in err["message"], err
        assert "tracker.github" not in err["message"] and ":1:" not in err["message"], err
    for value in ("github", [], 5):
        assert_error(*put(srv, "tracker", value), 400, "validation_failed", "value")
    assert len(changes(srv, "tracker")) == before


# --------------------------------------------------------------------------- the rest of the contract

def test_list_tracker_first(srv):
    a, z = unique("a-list"), unique("z-list")
    for n in (z, a):
        assert put(srv, f"canary.{n}", CANARY)[0] == 200
    st, b = srv.get("/api/settings?per_page=200")
    assert st == 200, b
    keys = [s["key"] for s in b["settings"]]
    assert keys[0] == "tracker" and keys[1:] == sorted(keys[1:])
    assert f"canary.{a}" in keys and f"canary.{z}" in keys
    assert b["total"] == len(keys) and b["page"] == 1
    st, b = srv.get("/api/settings?per_page=1&page=2")
    assert st == 200 and len(b["settings"]) == 1 and b["settings"][0]["key"] != "tracker"


def test_roles_reason_and_unknown_keys(srv, roles):
    name = unique("roles")
    for role in ("viewer", "responder", "approver"):
        st, _, b = srv.request("PUT", f"/api/settings/canary.{name}",
                               body={"value": CANARY, "reason": "r"}, token=roles[role])
        assert_error(st, b, 403, "forbidden")
    assert srv.get("/api/settings", token=roles["viewer"])[0] == 200
    assert srv.get("/api/settings/tracker", token=roles["viewer"])[0] == 200
    assert_error(*srv.get(f"/api/canary/{name}", token=roles["viewer"]), 404, "not_found")
    # reason: required, not blank, at most 1000 characters
    st, _, b = srv.request("PUT", f"/api/settings/canary.{name}", body={"value": CANARY})
    assert_error(st, b, 400, "validation_failed", "reason")
    for reason in ("", "  \t", "é" * 1001):
        assert_error(*put(srv, f"canary.{name}", CANARY, reason=reason), 400, "validation_failed",
                     "reason")
    assert put(srv, f"canary.{name}", CANARY, reason="é" * 1000)[0] == 200
    # unknown keys and names are 404, reads and writes alike
    for key in ("notify", "tracker.github", "canary.", "canary.a%2Fb", "Tracker"):
        assert_error(*put(srv, key, CANARY), 404, "not_found")
        assert_error(*srv.get(f"/api/settings/{key}"), 404, "not_found")
    assert_error(*srv.get("/api/canary/" + "x" * 65), 404, "not_found")


def test_settings_survive_a_restart(make_server):
    s = make_server()
    name = unique("keep")
    assert put(s, f"canary.{name}", CANARY)[0] == 200
    assert put(s, "tracker", {"provider": "gitlab", "gitlab": {"token": "glpat-x", "project_id": "7"}})[0] == 200
    s.stop()
    s.start()
    st, b = s.get(f"/api/canary/{name}")
    assert st == 200 and b["version"] == "2.4.0"
    st, b = s.get("/api/settings/tracker")
    assert b["setting"]["source"] == "setting" and b["setting"]["value"]["provider"] == "gitlab"
    assert b["setting"]["value"]["gitlab"]["token"] == "****"
    assert s.cli("audit", "verify").returncode == 0


# --------------------------------------------------------------------------- CLI

def cli(s, *args, input=None):
    return s.cli(*args, "--token", s.token, input=input)


def test_cli_get_and_set(srv):
    name = unique("cli")
    r = cli(srv, "settings", "set", f"canary.{name}", "--value", json.dumps(CANARY),
            "--reason", "from the cli")
    assert r.returncode == 0, r.stderr
    assert f"canary.{name}" in r.stdout and "from the cli" in r.stdout
    r = cli(srv, "settings", "get", f"canary.{name}", "--format", "json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got == srv.get(f"/api/settings/canary.{name}")[1]
    assert got["setting"]["value"] == CANARY
    r = cli(srv, "settings", "get")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["KEY", "SOURCE", "UPDATED"]
    assert lines[1].startswith("tracker ") and any(l.startswith(f"canary.{name} ") for l in lines)
    assert FILE_TOKEN not in r.stdout
    r = cli(srv, "settings", "get", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["settings"][0]["key"] == "tracker"
    # a file, and standard input: the tracker read back with --format json, edited, put back
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(dict(CANARY, canary_pct=50), f)
    try:
        r = cli(srv, "settings", "set", f"canary.{name}", "--value-file", f.name, "--reason", "half")
        assert r.returncode == 0, r.stderr
    finally:
        os.unlink(f.name)
    assert srv.get(f"/api/canary/{name}")[1]["canary_pct"] == 50
    value = json.loads(cli(srv, "settings", "get", "tracker", "--format", "json").stdout)["setting"]["value"]
    value["pace"]["burst"] = 7
    r = cli(srv, "settings", "set", "tracker", "--value-file", "-", "--reason", "slower",
            input=json.dumps(value))
    assert r.returncode == 0, r.stderr
    assert srv.get("/api/settings/tracker")[1]["setting"]["value"]["pace"]["burst"] == 7
    assert changes(srv, "tracker")[-1]["changed_fields"] == ["pace.burst"]


def test_cli_errors_and_help(srv):
    name = unique("clierr")
    for args in (("settings", "--help"), ("settings", "get", "--help"), ("settings", "set", "--help")):
        r = srv.cli(*args)
        assert r.returncode == 0 and r.stdout.startswith("usage: intervene settings"), r
    assert "set KEY (--value JSON | --value-file FILE) --reason TEXT" in srv.cli("settings", "set", "--help").stdout
    assert srv.cli("settings").returncode == 2
    # usage errors: exit 2
    for args in (("settings", "set", f"canary.{name}", "--reason", "r"),
                 ("settings", "set", f"canary.{name}", "--value", "{}", "--value-file", "x", "--reason", "r"),
                 ("settings", "set", f"canary.{name}", "--value", "[1]", "--reason", "r"),
                 ("settings", "set", f"canary.{name}", "--value", "{bad", "--reason", "r"),
                 ("settings", "set", "--value", "{}", "--reason", "r"),
                 ("settings", "get", "a", "b"),
                 ("settings", "frob")):
        r = cli(srv, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
    # server refusals and unreadable files: exit 1
    r = cli(srv, "settings", "set", f"canary.{name}", "--value", json.dumps(dict(CANARY, canary_pct=101)),
            "--reason", "r")
    assert r.returncode == 1 and "field: value.canary_pct" in r.stderr, r.stderr
    r = cli(srv, "settings", "get", f"canary.{name}")
    assert r.returncode == 1 and "not_found" in r.stderr
    r = cli(srv, "settings", "set", f"canary.{name}", "--value-file", "/nonexistent/v.json", "--reason", "r")
    assert r.returncode == 1 and "cannot read" in r.stderr
    r = srv.cli("settings", "get", "--token", "wrong")
    assert r.returncode == 1 and "HTTP 401" in r.stderr


# --------------------------------------------------------------------------- commit faults

def test_put_under_commit_faults(make_server):
    """test_faults.py's method for PUT /api/settings/{key}: each failure point of its
    write job in turn — never a 2xx for a change that was not stored, no event without
    its change, and after a restart every answered change is there. Runs in builds with
    -Dfault_injection=true (tools/test.sh's sanitizer pass)."""
    import itertools

    from test_faults import ERRORS, OPS, arm, disarm, fault_build, last_event_id
    srv = make_server()
    if not fault_build(srv):
        pytest.skip("needs a build with -Dfault_injection=true (tools/test.sh's sanitizer pass)")

    def do(tag):
        return put(srv, f"canary.{tag}", dict(CANARY, version=tag), reason=tag)

    def present(tag):
        st, b = srv.get(f"/api/canary/{tag}")
        return st == 200 and b["version"] == tag

    assert do(unique("warm"))[0] == 200
    arm(srv, op="step", error="none")
    st, b = do(unique("measure"))
    counts = disarm(srv)["calls"]
    assert st == 200 and counts["savepoint"] >= 1 and counts["step"] >= 3, (st, b, counts)
    acked, refused = [], []
    errors = itertools.cycle(ERRORS)
    for op in OPS:
        for n in range(1, counts[op] + 1):
            error = next(errors)
            tag = unique("f")
            before = last_event_id(srv)
            arm(srv, op=op, error=error, nth=n)
            st, b = do(tag)
            injected = disarm(srv)["injected"]
            where = f"{op} #{n} {error}"
            if not injected:
                assert st == 200, f"{where}: nothing injected but {st} {b}"
                acked.append(tag)
                continue
            assert st != 200 and b["error"]["code"] != "internal", f"{where}: {st} {b}"
            refused.append(tag)
            wait_for(lambda: srv.get("/readyz")[0] == 200, timeout=5.0, msg=f"{where}: recovering")
            assert [e for e in srv.all_events() if e["id"] > before] == [], f"{where}: an event"
            assert not present(tag), f"{where}: the change is there"
    assert refused
    srv.restart()
    for tag in acked:
        assert present(tag), f"{tag} was answered 200 but is gone"
    for tag in refused:
        assert not present(tag), f"{tag} failed but is stored"
    assert srv.cli("audit", "verify").returncode == 0
