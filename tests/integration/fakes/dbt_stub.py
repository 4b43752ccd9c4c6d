"""Helpers for tests that use the stand-in dbt (the executable fakes/dbt; its docstring
says what it does and which behaviour.json keys it reads).

    from fakes import dbt_stub

    dbt = dbt_stub.install(tmp / "dbtstate")            # the command for actions.dbt.command
    project = dbt_stub.make_project(tmp / "analytics")  # a directory dbt accepts
    dbt_stub.set_behaviour(tmp / "dbtstate", mode="fail", exit_code=2)
    ...                                                 # drive intervene
    call = dbt_stub.wait_for_calls(tmp / "dbtstate", 1)[0]
    assert call["argv"][:2] == ["run", "--select"]
    assert call["env"] == {"PATH": "/usr/bin"}
    assert not [p for p in dbt_stub.pids(tmp / "dbtstate") if dbt_stub.alive(p)]

Functions
  install(dir) -> path        copy fakes/dbt into dir (created if missing) as dir/dbt,
                              mode 755; dir becomes its state dir.
  set_behaviour(dir, **kw)    write dir/behaviour.json = kw (atomically; replaces it);
                              with no keywords, remove it (every default).
  calls(dir) -> [dict]        the invocations recorded in dir/calls.jsonl, oldest first.
  wait_for_calls(dir, n, timeout=10.0) -> [dict]   wait until at least n were recorded;
                              AssertionError on timeout.
  pids(dir) -> [int]          every pid the stand-in created (itself, grandchildren).
  wait_for_pids(dir, n, timeout=10.0) -> [int]
  alive(pid) -> bool          the process exists and is not a zombie (/proc/<pid>/stat).
  wait_dead(pids, timeout=10.0) -> [int]  wait until none of pids is alive; returns those
                              still alive at the timeout (empty when all are gone).
  kill_all(dir)               SIGKILL every recorded pid still alive (test cleanup).
  make_project(dir, name="analytics", models=()) -> path   dir/dbt_project.yml (name,
                              profile, version, config-version 2) and dir/models/ (one
                              <m>.sql per name in models); returns dir, absolute.
  run_results(project_dir) -> dict | None   project_dir/target/run_results.json.
"""

import json
import os
import shutil
import signal
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "dbt")


def install(dir):
    dir = os.path.abspath(os.fspath(dir))
    os.makedirs(dir, exist_ok=True)
    path = os.path.join(dir, "dbt")
    shutil.copyfile(SCRIPT, path)
    os.chmod(path, 0o755)
    return path


def set_behaviour(dir, **kw):
    path = os.path.join(os.fspath(dir), "behaviour.json")
    if not kw:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(kw, f)
    os.replace(tmp, path)


def _lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    # only complete lines: an invocation may be writing the next one right now
    return data.split(b"\n")[:-1]


def calls(dir):
    return [json.loads(line) for line in _lines(os.path.join(os.fspath(dir), "calls.jsonl"))
            if line.strip()]


def pids(dir):
    return [int(line) for line in _lines(os.path.join(os.fspath(dir), "pids")) if line.strip()]


def _wait(get, n, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        got = get()
        if len(got) >= n:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"dbt stand-in: {len(got)} of {n} {what} after {timeout} s:"
                                 f" {got!r}")
        time.sleep(0.01)


def wait_for_calls(dir, n, timeout=10.0):
    return _wait(lambda: calls(dir), n, timeout, "calls")


def wait_for_pids(dir, n, timeout=10.0):
    return _wait(lambda: pids(dir), n, timeout, "pids")


def alive(pid):
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # pid (comm) state ...: comm may contain spaces and parentheses, the state follows the last ')'
    state = stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3]
    return state not in (b"Z", b"X", b"x", b"")


def wait_dead(pids_, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids_ if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)


def kill_all(dir):
    for p in pids(dir):
        if alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def make_project(dir, name="analytics", models=()):
    dir = os.path.abspath(os.fspath(dir))
    os.makedirs(os.path.join(dir, "models"), exist_ok=True)
    with open(os.path.join(dir, "dbt_project.yml"), "w") as f:
        f.write(f"name: '{name}'\nversion: '1.0.0'\nconfig-version: 2\nprofile: '{name}'\n\n"
                f"model-paths: [\"models\"]\ntarget-path: \"target\"\n"
                f"clean-targets: [\"target\", \"dbt_packages\"]\n\n"
                f"models:\n  {name}:\n    +materialized: table\n")
    for m in models:
        with open(os.path.join(dir, "models", f"{m}.sql"), "w") as f:
            f.write(f"select 1 as id -- {m}\n")
    return dir


def run_results(project_dir):
    try:
        with open(os.path.join(os.fspath(project_dir), "target", "run_results.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
