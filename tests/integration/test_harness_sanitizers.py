"""The harness cannot miss a sanitizer report (runs in the sanitizer pass only).

A throwaway copy of the source tree gets three injected bugs:

* /healthz leaks 4 KiB per request: LeakSanitizer reports it when the server exits
  on the harness's SIGTERM, and the server then exits 66;
* /api/version reads one byte past a heap block: AddressSanitizer stops the server on
  that request;
* `intervene version` leaks: reported on the CLI's stderr, or into a log_path file when
  a test runs the binary itself with subprocess.

Only the intervene target of the copy is built (-Db_sanitize=address,undefined). A
nested pytest session then runs tests against that binary with this directory's
conftest and harness. Their bodies pass or swallow what the bugs do, so only the
harness can fail them: this test asserts that it does, with each report's text, that a
control test on the real binary passes, and that tools/summarize.py counts them.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = harness.REPO

LEAK = "{ char *volatile itv_leak = malloc(4096); if (itv_leak) itv_leak[0] = 1; }\n\t"
OOB = ("\tchar *volatile itv_small = malloc(8);\n"
       "\tvolatile char itv_past = itv_small ? itv_small[8] : 0;\n"
       "\t(void)itv_past;\n"
       "\tfree(itv_small);\n")


def inject(tree):
    """Patch the copy; every anchor must be found exactly once."""
    def patch(rel, old, new):
        path = os.path.join(tree, rel)
        with open(path) as f:
            text = f.read()
        assert text.count(old) == 1, f"{rel}: anchor {old!r} not found once (the source moved?)"
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    # anchored on function heads, which change less often than their bodies
    healthz = "int api_healthz_prepare(struct http_req *r)\n{\n"
    patch("src/api/ops.c", healthz, healthz + LEAK)
    version = "int api_version_prepare(struct http_req *r)\n{\n"
    patch("src/api/ops.c", version, version + OOB)
    cli = 'printf("intervene %s\\n", INTERVENE_VERSION);'
    patch("src/cli/local.c", cli, LEAK + cli)


def copy_tree(dst):
    """The tracked files of the working tree (as they are now), else the whole tree
    without build directories."""
    try:
        out = subprocess.run(["git", "-C", REPO, "ls-files", "-z"], capture_output=True,
                             check=True, timeout=60).stdout
        files = [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        files = None
    if not files:
        shutil.copytree(REPO, dst, ignore=shutil.ignore_patterns("build*", ".git", "__pycache__"))
        return
    for rel in files:
        src = os.path.join(REPO, rel)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dst, rel))


@pytest.fixture(scope="module")
def bad_binary(tmp_path_factory):
    if not os.environ.get("INTERVENE_SANITIZE"):
        pytest.skip("runs in the sanitizer pass only (INTERVENE_SANITIZE unset): it builds an "
                    "ASan binary of its own")
    base = tmp_path_factory.mktemp("injected")
    tree, build = str(base / "tree"), str(base / "build")
    copy_tree(tree)
    inject(tree)
    log = []
    for cmd in (["meson", "setup", build, tree, "-Dbuildtype=debug",
                 "-Db_sanitize=address,undefined", "-Db_lundef=false"],
                ["ninja", "-C", build, "intervene"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        log.append(r.stdout[-3000:] + r.stderr[-3000:])
        if r.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n" + "\n".join(log), pytrace=False)
    yield os.path.join(build, "intervene")
    shutil.rmtree(str(base), ignore_errors=True)


NESTED = textwrap.dedent('''
    import http.client
    import os
    import subprocess

    from harness import BIN


    def test_leak_at_sigterm(make_server):
        s = make_server()
        for _ in range(3):
            assert s.get("/healthz", token=None)[0] == 200


    def test_oob_read_on_request(make_server):
        s = make_server()
        try:
            s.get("/api/version")
        except (OSError, http.client.HTTPException):
            pass


    def test_cli_leak_on_stderr(make_server):
        s = make_server(start=False)
        s.cli("version")


    def test_cli_leak_of_a_subprocess():
        subprocess.run([BIN, "version"], capture_output=True, timeout=60)


    def test_control_on_the_real_binary(make_server):
        s = make_server(binary=os.environ["GOOD_BIN"])
        assert s.get("/healthz", token=None)[0] == 200
        assert s.get("/api/version")[0] == 200
        assert s.cli("version").returncode == 0
''')

EXPECT = {
    "test_leak_at_sigterm": ["exited with 66", "ERROR: LeakSanitizer: detected memory leaks",
                             "api_healthz_prepare"],
    "test_oob_read_on_request": ["ERROR: AddressSanitizer: heap-buffer-overflow",
                                 "READ of size 1", "api_version_prepare"],
    "test_cli_leak_on_stderr": ["intervene version (exit 66)", "ERROR: LeakSanitizer",
                                "cli_version"],
    "test_cli_leak_of_a_subprocess": ["a process the test ran", "ERROR: LeakSanitizer",
                                      "cli_version"],
}


def test_harness_reports_leak_and_oob(bad_binary, tmp_path):
    d = tmp_path / "nested"
    d.mkdir()
    (d / "test_injected.py").write_text(NESTED)
    junit = tmp_path / "results" / "injected.junit.xml"
    junit.parent.mkdir()
    # its own report files (in tmp_path), not ours
    env = harness.without_log_path(os.environ)
    (tmp_path / "san").mkdir()
    for v in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env[v] = harness.with_log_path(env.get(v, ""), str(tmp_path / "san" / "report"))
    env.update(INTERVENE_BIN=bad_binary, GOOD_BIN=os.path.abspath(harness.BIN),
               PYTHONPATH=HERE + os.pathsep + env.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "conftest", f"--junitxml={junit}", "-rA", str(d)],
                       capture_output=True, text=True, timeout=600, env=env, cwd=str(d))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-6000:]

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == set(EXPECT) | {"test_control_on_the_real_binary"}, out[-6000:]
    ctl = cases["test_control_on_the_real_binary"]
    assert not [c for c in ctl if c.tag in ("failure", "error")], out[-6000:]
    for name, needles in EXPECT.items():
        bad = [c for c in cases[name] if c.tag in ("failure", "error")]
        assert bad, f"{name}: the harness did not fail it\n{out[-6000:]}"
        text = "\n".join((c.get("message") or "") + "\n" + (c.text or "") for c in bad)
        for n in needles:
            assert n in text, f"{name}: {n!r} not in the failure:\n{text[-6000:]}"

    # and the summary counts them as failures, by name
    s = subprocess.run([sys.executable, os.path.join(REPO, "tools", "summarize.py"),
                        str(junit.parent)], capture_output=True, text=True, timeout=60)
    lines = s.stdout.splitlines()
    assert s.returncode == 1 and lines[-1] == "1 passed, 4 failed", s.stdout
    for name in EXPECT:
        assert any(l.startswith("failed: injected ") and name in l for l in lines), s.stdout
