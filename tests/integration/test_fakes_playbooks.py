"""Self-tests of the playbook stand-ins: fakes/dbt (with fakes/dbt_stub.py) and
fakes/elasticsearch.py. They need no intervene binary:

    cd tests/integration && /usr/bin/python3 -m pytest -q test_fakes_playbooks.py
"""

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import dbt_stub  # noqa: E402
from fakes.elasticsearch import FakeElasticsearch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# =================================================================== dbt

class Dbt:
    def __init__(self, tmp):
        self.state = str(tmp / "dbtstate")
        self.cmd = dbt_stub.install(self.state)
        self.project = dbt_stub.make_project(tmp / "analytics", models=("orders", "customers"))
        self.cwd = str(tmp)

    def run(self, *args, env=None, timeout=20):
        return subprocess.run([self.cmd, *args], env={"A": "1"} if env is None else env,
                              cwd=self.cwd, capture_output=True, text=True, timeout=timeout)

    def popen(self, *args, **kw):
        return subprocess.Popen([self.cmd, *args], env={"A": "1"}, cwd=self.cwd,
                                start_new_session=True, **kw)


@pytest.fixture
def dbt(tmp_path):
    d = Dbt(tmp_path)
    yield d
    dbt_stub.kill_all(d.state)


def test_dbt_run_good_command(dbt):
    argv = ["run", "--select", "+orders", "tag:nightly", "--full-refresh", "--threads", "4",
            "--target", "prod", "--project-dir", dbt.project, "--profiles-dir", dbt.project]
    r = dbt.run(*argv)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout
    assert "Running with dbt=1.7." in out
    assert "Found 2 models" in out
    assert "Concurrency: 4 threads (target='prod')" in out
    assert "1 of 2 START sql table model analytics.orders" in out
    assert "2 of 2 START sql table model analytics.nightly" in out
    assert "Completed successfully" in out
    assert "Done. PASS=2 WARN=0 ERROR=0 SKIP=0 TOTAL=2" in out
    calls = dbt_stub.calls(dbt.state)
    assert len(calls) == 1
    c = calls[0]
    assert c["argv"] == argv
    assert c["cwd"] == dbt.cwd
    assert c["env"] == {"A": "1"}  # exactly what was given, nothing Python added
    assert c["envp"] == ["A=1"]
    assert c["ppid"] == os.getpid() and c["pgid"] == os.getpgid(0)
    assert isinstance(c["t"], float) and abs(c["t"] - time.time()) < 60
    assert c["fds"]["0"] and c["sigblk"] == "0000000000000000"
    assert dbt_stub.pids(dbt.state) == [c["pid"]]
    assert not dbt_stub.alive(c["pid"])


def test_dbt_other_subcommands(dbt):
    r = dbt.run("deps", "--project-dir", dbt.project, "--profiles-dir", dbt.project,
                "--target", "prod")
    assert r.returncode == 0, r.stderr
    assert "No packages were found" in r.stdout
    r = dbt.run("compile", "--project-dir", dbt.project, "--target", "prod", "--threads", "2")
    assert r.returncode == 0, r.stderr
    assert "Found 2 models" in r.stdout and "Concurrency: 2 threads (target='prod')" in r.stdout
    r = dbt.run("run", "-s", "orders", "-tprod", "--threads=3", f"--project-dir={dbt.project}")
    assert r.returncode == 0, r.stderr
    assert [c["argv"][0] for c in dbt_stub.calls(dbt.state)] == ["deps", "compile", "run"]
    # no --select: every models/*.sql
    r = dbt.run("run", "--project-dir", dbt.project)
    assert r.returncode == 0
    ids = [x["unique_id"] for x in dbt_stub.run_results(dbt.project)["results"]]
    assert ids == ["model.analytics.customers", "model.analytics.orders"]


@pytest.mark.parametrize("args, error", [
    (["run", "--select", "orders", "-x"], "No such option: -x"),
    (["run", "--select", "orders", "--oops", "b"], "No such option: --oops"),
    (["run", "--select", "-orders"], "Option '--select' requires an argument."),
    (["run", "--select", "orders", "-"], "Got unexpected extra argument (-)"),
    (["run", "--x"], "No such option: --x"),
    (["run", "--selct", "a"], "No such option: --selct Did you mean --select?"),
    (["deps", "--threads", "4"], "No such option: --threads"),
    (["deps", "--select", "a"], "No such option: --select"),
    (["run", "--threads", "many"], "Invalid value for '--threads': 'many' is not a valid integer."),
    (["run", "--target"], "Option '--target' requires an argument."),
    (["run", "orders"], "Got unexpected extra argument (orders)"),
    (["run", "--project-dir", "/nonexistent/x"],
     "Invalid value for '--project-dir': Path '/nonexistent/x' does not exist."),
    (["seed"], "No such command 'seed'."),
    (["--x", "run"], "No such option: --x"),
])
def test_dbt_usage_errors(dbt, args, error):
    r = dbt.run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("Usage: dbt")
    assert r.stderr.rstrip("\n").endswith("Error: " + error)
    assert dbt_stub.calls(dbt.state)[0]["argv"] == args  # recorded before parsing
    assert dbt_stub.run_results(dbt.project) is None


def test_dbt_not_a_project(dbt, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = dbt.run("run", "--select", "a", "--project-dir", str(empty))
    assert r.returncode == 2
    assert "Not a dbt project" in r.stdout and "Missing dbt_project.yml file" in r.stdout


def test_dbt_run_results_shape(dbt):
    dbt_stub.set_behaviour(dbt.state, model_status={"customers": "error", "x": "skipped"})
    r = dbt.run("run", "--select", "2+models/marts/orders.sql+", "@customers", "path:x",
                "orders", "--threads", "2", "--project-dir", dbt.project)
    assert r.returncode == 1  # a model errored
    assert "Completed with 1 error and 0 warnings:" in r.stdout
    assert "Database Error in model customers" in r.stdout
    assert "Done. PASS=1 WARN=0 ERROR=1 SKIP=1 TOTAL=3" in r.stdout
    rr = dbt_stub.run_results(dbt.project)
    md = rr["metadata"]
    assert md["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/run-results/v5.json"
    assert md["dbt_version"].startswith("1.7.")
    assert md["generated_at"].endswith("Z") and len(md["invocation_id"]) == 36
    assert isinstance(rr["elapsed_time"], float)
    assert rr["args"]["which"] == "run" and rr["args"]["threads"] == 2
    assert rr["args"]["select"] == ["2+models/marts/orders.sql+", "@customers", "path:x", "orders"]
    got = [(x["unique_id"], x["status"]) for x in rr["results"]]
    assert got == [("model.analytics.orders", "success"), ("model.analytics.customers", "error"),
                   ("model.analytics.x", "skipped")]  # one per distinct model
    for x in rr["results"]:
        assert set(x) >= {"status", "timing", "thread_id", "execution_time", "adapter_response",
                          "message", "failures", "unique_id"}
        assert isinstance(x["timing"], list) and isinstance(x["adapter_response"], dict)
    assert rr["results"][0]["adapter_response"]["rows_affected"] == 10
    assert rr["results"][1]["message"].startswith("Database Error in model customers")


def test_dbt_fail_mode(dbt):
    dbt_stub.set_behaviour(dbt.state, mode="fail")
    r = dbt.run("run", "--select", "orders", "customers", "--project-dir", dbt.project)
    assert r.returncode == 1
    assert "Completed with 2 errors" in r.stdout
    assert {x["status"] for x in dbt_stub.run_results(dbt.project)["results"]} == {"error"}
    dbt_stub.set_behaviour(dbt.state, mode="fail", exit_code=2,
                           model_status={"orders": "success"})
    r = dbt.run("run", "--select", "orders", "customers", "--project-dir", dbt.project)
    assert r.returncode == 2
    assert [x["status"] for x in dbt_stub.run_results(dbt.project)["results"]] == \
        ["success", "error"]
    # per_command: deps fails, run keeps the top-level mode
    dbt_stub.set_behaviour(dbt.state, mode="ok", per_command={"deps": {"mode": "fail",
                                                                       "exit_code": 3}})
    assert dbt.run("deps", "--project-dir", dbt.project).returncode == 3
    assert dbt.run("run", "-s", "orders", "--project-dir", dbt.project).returncode == 0
    dbt_stub.set_behaviour(dbt.state, per_command={"compile": {"mode": "fail"}})
    r = dbt.run("compile", "--project-dir", dbt.project)
    assert r.returncode == 1 and "Compilation Error" in r.stdout


def test_dbt_bad_behaviour_file(dbt):
    with open(os.path.join(dbt.state, "behaviour.json"), "w") as f:
        f.write("{nope")
    r = dbt.run("run", "-s", "a", "--project-dir", dbt.project)
    assert r.returncode == 99 and "behaviour.json" in r.stderr


def test_dbt_sleep(dbt):
    dbt_stub.set_behaviour(dbt.state, sleep=0.3)
    t0 = time.monotonic()
    r = dbt.run("run", "-s", "orders", "--project-dir", dbt.project)
    assert r.returncode == 0 and time.monotonic() - t0 >= 0.3


def test_dbt_hang_killed_by_test(dbt):
    dbt_stub.set_behaviour(dbt.state, mode="hang")
    p = dbt.popen("run", "-s", "orders", "--project-dir", dbt.project,
                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert b"Running with dbt=" in p.stdout.readline()  # it started, then hangs
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(0.2)
        p.terminate()
        assert p.wait(5) == -signal.SIGTERM
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
    assert dbt_stub.run_results(dbt.project) is None
    assert not dbt_stub.alive(dbt_stub.pids(dbt.state)[0])


def test_dbt_orphan_survives_sigterm(dbt, tmp_path):
    dbt_stub.set_behaviour(dbt.state, mode="orphan")
    with open(tmp_path / "out", "wb") as out:
        p = dbt.popen("run", "-s", "orders", "--project-dir", dbt.project, stdout=out,
                      stderr=subprocess.STDOUT)
    try:
        pids = dbt_stub.wait_for_pids(dbt.state, 2, timeout=10)
        assert pids[0] == p.pid and pids[1] != p.pid
        grandchild = pids[1]
        assert os.getpgid(grandchild) == p.pid  # same process group
        assert dbt_stub.calls(dbt.state)[0]["pgid"] == p.pid
        os.killpg(p.pid, signal.SIGTERM)  # both ignore it
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(0.3)
        assert dbt_stub.alive(p.pid) and dbt_stub.alive(grandchild)
        os.killpg(p.pid, signal.SIGKILL)
        assert p.wait(5) == -signal.SIGKILL
        assert dbt_stub.wait_dead(pids, timeout=5) == []
    finally:
        dbt_stub.kill_all(dbt.state)
        p.kill()
        p.wait()


def test_dbt_ignore_sigterm(dbt):
    dbt_stub.set_behaviour(dbt.state, mode="hang", ignore_sigterm=True)
    p = dbt.popen("run", "-s", "orders", "--project-dir", dbt.project,
                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        p.stdout.readline()
        p.terminate()
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(0.2)
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


@pytest.mark.parametrize("size", [None, 123_457])
def test_dbt_flood(dbt, size):
    base = dbt.run("run", "-s", "orders", "--project-dir", dbt.project)
    kw = {"mode": "flood"}
    if size is not None:
        kw["flood_bytes"] = size
    dbt_stub.set_behaviour(dbt.state, **kw)
    r = subprocess.run([dbt.cmd, "run", "-s", "orders", "--project-dir", dbt.project],
                       env={}, cwd=dbt.cwd, capture_output=True, timeout=20)
    assert r.returncode == 0
    want = 5_000_000 if size is None else size
    # the same log as without the flood (timestamps and elapsed times may differ by a few
    # characters) plus exactly the flood
    assert abs(len(r.stdout) - want - len(base.stdout.encode())) <= 8
    assert b"Completed successfully" in r.stdout[-400:]
    assert dbt_stub.run_results(dbt.project)["results"][0]["status"] == "success"


def test_dbt_stub_helpers(tmp_path):
    assert dbt_stub.alive(os.getpid())
    assert not dbt_stub.alive(2 ** 22 + 1)
    p = subprocess.Popen(["/bin/true"])
    try:
        deadline = time.monotonic() + 5
        while dbt_stub.alive(p.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.path.exists(f"/proc/{p.pid}")  # a zombie, not reaped yet
        assert not dbt_stub.alive(p.pid)
    finally:
        p.wait()
    d = tmp_path / "s"
    path = dbt_stub.install(d)
    assert path == str(d / "dbt") and os.stat(path).st_mode & 0o777 == 0o755
    with open(path) as f:
        assert f.readline() == "#!/usr/bin/python3\n"
    assert dbt_stub.calls(d) == [] and dbt_stub.pids(d) == []
    dbt_stub.set_behaviour(d, mode="fail")
    with open(d / "behaviour.json") as f:
        assert json.load(f) == {"mode": "fail"}
    dbt_stub.set_behaviour(d)
    assert not (d / "behaviour.json").exists()
    proj = dbt_stub.make_project(tmp_path / "p", name="warehouse")
    with open(os.path.join(proj, "dbt_project.yml")) as f:
        text = f.read()
    assert "name: 'warehouse'" in text and "profile: 'warehouse'" in text
    assert os.path.isdir(os.path.join(proj, "models"))
    with pytest.raises(AssertionError):
        dbt_stub.wait_for_calls(d, 1, timeout=0.05)


def test_dbt_symlinked_keeps_state_next_to_script(dbt, tmp_path):
    link = tmp_path / "bin-dbt"
    os.symlink(dbt.cmd, link)
    r = subprocess.run([str(link), "deps", "--project-dir", dbt.project], env={},
                       capture_output=True, timeout=20)
    assert r.returncode == 0
    assert dbt_stub.calls(dbt.state)[0]["env"] == {}


# =================================================================== Elasticsearch

API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="


def req(es, method, path, body=None, headers=None, auth="key", timeout=5, raw=None):
    """(status, headers, parsed body or text) of one request."""
    h = dict(headers or {})
    if auth == "key":
        h.setdefault("Authorization", f"ApiKey {API_KEY}")
    elif auth:
        h.setdefault("Authorization", auth)
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection("127.0.0.1", es.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        try:
            out = json.loads(text) if text else None
        except ValueError:
            out = text.decode()
        return r.status, r.headers, out
    finally:
        conn.close()


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


@pytest.fixture
def es():
    with FakeElasticsearch(api_key=API_KEY) as fake:
        yield fake


def test_es_auth_api_key(es):
    st, h, b = req(es, "GET", "/", auth=None)
    assert st == 401
    assert h.get_all("WWW-Authenticate") == ['Basic realm="security" charset="UTF-8"', "ApiKey"]
    assert b["status"] == 401 and b["error"]["type"] == "security_exception"
    assert b["error"]["root_cause"][0]["reason"] == \
        "missing authentication credentials for REST request [/]"
    st, _, b = req(es, "POST", "/products/_close?pretty", auth="ApiKey wrong")
    assert st == 401 and "unable to authenticate" in b["error"]["reason"]
    st, _, b = req(es, "POST", "/products/_close", auth=basic("elastic", "x"))
    assert st == 401 and b["error"]["reason"].startswith("unable to authenticate user [elastic]")
    assert es.index_state("products") == "open"  # nothing happened
    st, h, b = req(es, "GET", "/", auth=f"apikey {API_KEY}")  # the scheme ignores case
    assert st == 200 and h["X-elastic-product"] == "Elasticsearch"
    assert b["version"]["number"] == "8.11.1" and b["tagline"] == "You Know, for Search"
    assert b["name"] and b["cluster_name"]
    assert [c.status for c in es.wait_answered(4)] == [401, 401, 401, 200]


def test_es_auth_basic():
    with FakeElasticsearch(username="elastic", password="s3cret") as es:
        assert req(es, "GET", "/", auth=None)[0] == 401
        st, _, b = req(es, "GET", "/", auth=basic("elastic", "nope"))
        assert st == 401 and b["error"]["reason"] == \
            "unable to authenticate user [elastic] for REST request [/]"
        assert req(es, "GET", "/", auth=f"ApiKey {API_KEY}")[0] == 401
        assert req(es, "GET", "/", auth=basic("elastic", "s3cret"))[0] == 200
        assert es.config_block() == {"url": es.url, "api_key": "", "username": "elastic",
                                     "password": "s3cret"}


def test_es_no_security():
    with FakeElasticsearch() as es:
        assert req(es, "GET", "/", auth=None)[0] == 200
        assert req(es, "POST", "/articles/_close", auth="ApiKey whatever")[0] == 200


def test_es_endpoints(es):
    st, _, b = req(es, "POST", "/products/_reload_search_analyzers")
    assert st == 200 and b == {"_shards": {"total": 2, "successful": 2, "failed": 0},
                               "reload_details": [{"index": "products",
                                                   "reloaded_analyzers": ["synonym_analyzer"],
                                                   "reloaded_node_ids": ["n1"]}]}
    st, _, b = req(es, "POST", "/products/_close")
    assert st == 200 and b == {"acknowledged": True, "shards_acknowledged": True,
                               "indices": {"products": {"closed": True}}}
    assert es.index_state("products") == "closed"
    st, _, b = req(es, "POST", "/products/_reload_search_analyzers")
    assert st == 400 and b["error"]["type"] == "index_closed_exception"
    assert b["error"]["index"] == "products"
    st, _, b = req(es, "POST", "/products/_open")
    assert st == 200 and b == {"acknowledged": True, "shards_acknowledged": True}
    assert es.indices == {"products": "open", "articles": "open"}

    st, _, b = req(es, "POST", "/products/_update_by_query?conflicts=proceed"
                               "&wait_for_completion=false", body={"query": {"match_all": {}}})
    assert st == 200 and b == {"task": "oTUltX4IQMOUUVeiohTt8A:12345"}
    st, _, b = req(es, "POST", "/articles/_update_by_query?conflicts=proceed"
                               "&wait_for_completion=false")
    assert b == {"task": "oTUltX4IQMOUUVeiohTt8A:12346"}
    assert es.tasks == ["oTUltX4IQMOUUVeiohTt8A:12345", "oTUltX4IQMOUUVeiohTt8A:12346"]
    st, _, b = req(es, "GET", "/_tasks/oTUltX4IQMOUUVeiohTt8A:12345")
    assert st == 200 and b["completed"] is True and "updated" in b["response"]
    assert req(es, "GET", "/_tasks/oTUltX4IQMOUUVeiohTt8A:1")[0] == 404
    st, _, b = req(es, "POST", "/products/_update_by_query?conflicts=proceed")
    assert st == 200 and b["timed_out"] is False and b["failures"] == []
    st, _, b = req(es, "POST", "/products/_update_by_query?conflicts=maybe")
    assert st == 400 and "conflicts may only be" in b["error"]["reason"]
    st, _, b = req(es, "POST", "/products/_update_by_query", body={"querry": {}})
    assert st == 400 and b["error"]["type"] == "parsing_exception"

    shards = lambda n: {"_shards": {"total": n, "successful": n, "failed": 0}}  # noqa: E731
    assert req(es, "POST", "/_cache/clear")[2] == shards(4)
    assert req(es, "POST", "/_all/_cache/clear?query=true")[2] == shards(4)
    assert req(es, "POST", "/products/_cache/clear?query=true&request=true&fielddata=false"
               )[2] == shards(2)
    assert req(es, "POST", "/products/_cache/clear?request")[0] == 200  # empty = true
    es.set_index_state("articles", "closed")
    assert req(es, "POST", "/_cache/clear")[2] == shards(2)  # closed indices left out
    assert req(es, "POST", "/articles/_cache/clear")[0] == 400
    assert req(es, "HEAD", "/")[0] == 200

    c = es.calls_to("POST", r"^/products/_close$")[0]
    assert c.status == 200 and c.outcome == "answered" and c.index == "products"
    assert c.headers["authorization"] == f"ApiKey {API_KEY}"
    c = es.calls_to(path="_update_by_query")[0]
    assert c.query == {"conflicts": "proceed", "wait_for_completion": "false"}
    assert c.body == {"query": {"match_all": {}}}
    assert json.dumps(c.as_dict())


@pytest.mark.parametrize("segment, name, why", [
    ("Products", "Products", "must be lowercase"),
    ("a%2Fb", "a/b", "must not contain the following characters"),
    ("a%3Fb", "a?b", "must not contain the following characters"),
    ("a%23b", "a#b", "must not contain '#'"),
    ("a%00b", "a\0b", "must not contain control characters"),
    ("a%20b", "a b", "must not contain the following characters"),
    ("a*", "a*", "must not contain the following characters"),
    ("a,b", "a,b", "must not contain the following characters"),
    ("a%3Ab", "a:b", "must not contain ':'"),
    ("_all", "_all", "must not start with '_', '-', or '+'"),
    ("-x", "-x", "must not start with '_', '-', or '+'"),
    ("..", "..", "must not be '.' or '..'"),
    ("a" * 256, "a" * 256, "index name is too long, (256 > 255)"),
    ("%C3%A9" * 128, "\u00e9" * 128, "index name is too long, (256 > 255)"),
])
def test_es_invalid_index_names(es, segment, name, why):
    st, _, b = req(es, "POST", f"/{segment}/_close")
    assert st == 400, b
    assert b["error"]["type"] == "invalid_index_name_exception"
    assert b["error"]["reason"].startswith(f"Invalid index name [{name}], {why}")
    assert b["error"]["index"] == name and b["status"] == 400
    assert es.calls[-1].path == f"/{segment}/_close"  # raw, still encoded
    assert es.calls[-1].index == name


def test_es_index_lookup(es):
    st, _, b = req(es, "POST", "/nosuch/_reload_search_analyzers")
    assert st == 404 and b["error"]["type"] == "index_not_found_exception"
    assert b["error"]["reason"] == "no such index [nosuch]"
    assert req(es, "POST", "/" + "a" * 255 + "/_close")[0] == 404  # valid, unknown
    st, _, b = req(es, "POST", "/nosuch/_close?ignore_unavailable=true")
    assert st == 200 and b["indices"] == {}
    es.set_index_state("logs+x")
    assert req(es, "POST", "/logs+x/_close")[0] == 200  # "+" is not a space in 8.x
    assert req(es, "POST", "/logs%2Bx/_open")[0] == 200
    assert req(es, "POST", "/bad%zz/_close")[0] == 400


def test_es_params_body_routes(es):
    st, _, b = req(es, "POST", "/products/_cache/clear?foo=1")
    assert st == 400 and b["error"]["type"] == "illegal_argument_exception"
    assert b["error"]["reason"] == \
        "request [/products/_cache/clear] contains unrecognized parameter: [foo]"
    st, _, b = req(es, "POST", "/_cache/clear?querry=true")
    assert b["error"]["reason"].endswith("[querry] -> did you mean [query]?")
    st, _, b = req(es, "POST", "/_cache/clear?query=yes")
    assert st == 400 and b["error"]["reason"] == \
        "Failed to parse value [yes] as only [true] or [false] are allowed."
    st, _, b = req(es, "POST", "/products/_update_by_query?wait_for_completion=0")
    assert st == 400
    st, _, b = req(es, "POST", "/products/_close", raw=b"{}",
                   headers={"Content-Type": "text/plain"})
    assert st == 406 and b == {"error": "Content-Type header [text/plain] is not supported",
                               "status": 406}
    st, _, b = req(es, "POST", "/products/_close", body={})
    assert st == 400 and b["error"]["reason"] == \
        "request [POST /products/_close] does not support having a body"
    st, _, b = req(es, "POST", "/products/_update_by_query", raw=b"{",
                   headers={"Content-Type": "application/json; charset=UTF-8"})
    assert st == 400 and b["error"]["type"] == "x_content_parse_exception"
    st, h, b = req(es, "GET", "/products/_close")
    assert st == 405 and h["Allow"] == "POST"
    assert b["error"] == "Incorrect HTTP method for uri [/products/_close] and method [GET], " \
                         "allowed: [POST]"
    st, _, b = req(es, "POST", "/products/_flush/x?a=1")
    assert st == 400 and b == {"error": "no handler found for uri [/products/_flush/x?a=1] "
                                        "and method [POST]"}
    assert es.index_state("products") == "open"
    with pytest.raises(AssertionError):
        es.wait_for_calls(99, timeout=0.05)


def test_es_fail_next(es):
    es.fail_next(1, 503, method="POST", path=r"/_close$")
    st, _, b = req(es, "POST", "/products/_close")
    assert st == 503 and b["error"]["type"] == "cluster_block_exception"
    assert es.index_state("products") == "open"  # nothing happened
    assert es.calls[-1].outcome == "failed"
    assert req(es, "GET", "/")[0] == 200  # another path: untouched
    assert req(es, "POST", "/products/_close")[0] == 200  # only n=1
    es.fail_next(2, 429, body="slow down", headers={"Retry-After": "1"})
    st, h, b = req(es, "GET", "/")
    assert (st, b, h["Retry-After"]) == (429, "slow down", "1")
    assert req(es, "GET", "/")[0] == 429
    assert req(es, "GET", "/")[0] == 200


def test_es_hang_next_and_prompt_stop():
    es = FakeElasticsearch(api_key=API_KEY).start()
    try:
        es.hang_next(1, path="_reload")
        t0 = time.monotonic()
        with pytest.raises((TimeoutError, OSError)):
            req(es, "POST", "/products/_reload_search_analyzers", timeout=0.3)
        assert time.monotonic() - t0 >= 0.3
        assert es.calls[-1].outcome == "hung" and es.calls[-1].status is None
        assert req(es, "POST", "/products/_reload_search_analyzers")[0] == 200
        es.hang_next(1)
        conn = http.client.HTTPConnection("127.0.0.1", es.port, timeout=5)
        conn.request("GET", "/", headers={"Authorization": f"ApiKey {API_KEY}"})
        es.wait_for_calls(3)
    finally:
        t0 = time.monotonic()
        es.stop()
        assert time.monotonic() - t0 < 2
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.getresponse()  # closed at stop(), never answered
    conn.close()


def test_es_hang_all(es):
    es.hang()
    assert es.hanging
    with pytest.raises((TimeoutError, OSError)):
        req(es, "GET", "/", timeout=0.2)
    es.stop_hanging()
    assert req(es, "GET", "/")[0] == 200


def test_es_delay_next(es):
    es.delay_next(1, 0.3, path="_close")
    t0 = time.monotonic()
    st, _, _ = req(es, "POST", "/products/_close")
    assert st == 200 and time.monotonic() - t0 >= 0.3
    assert es.calls[-1].outcome == "delayed" and es.index_state("products") == "closed"
    t0 = time.monotonic()
    assert req(es, "POST", "/products/_open")[0] == 200
    assert time.monotonic() - t0 < 0.3


def test_es_reset_next(es):
    es.reset_next(1)
    with pytest.raises((http.client.HTTPException, OSError)):
        req(es, "POST", "/products/_close")
    assert es.calls[-1].outcome == "reset" and es.index_state("products") == "open"
    assert req(es, "POST", "/products/_close")[0] == 200


def test_es_keepalive_closed_at_stop():
    es = FakeElasticsearch().start()
    conn = http.client.HTTPConnection("127.0.0.1", es.port, timeout=2)
    conn.request("GET", "/")
    assert conn.getresponse().read()
    es.stop()
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/")
        conn.getresponse()
    conn.close()


def test_es_script_mode():
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "fakes", "elasticsearch.py"),
                          "--api-key", "k", "--index", "logs", "--exit-on-stdin-eof"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("port ")
        port = int(line.split()[1])

        class At:
            pass
        at = At()
        at.port = port
        assert req(at, "POST", "/_fake/fail_next", body={"n": 1, "status": 500})[0] == 200
        assert req(at, "POST", "/logs/_close", auth="ApiKey k")[0] == 500
        assert req(at, "POST", "/logs/_close", auth="ApiKey k")[0] == 200
        st, _, state = req(at, "GET", "/_fake/state")
        assert state["indices"] == {"logs": "closed"}
        assert [c["status"] for c in state["calls"]] == [500, 200]
        p.stdin.close()  # end of stdin: it exits
        assert p.wait(5) == 0
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
