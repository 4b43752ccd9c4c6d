"""tools/summarize.py cannot under-report: fixture result folders with an unfinished
pass, a failed build, skips of every kind and crashes, some written by hand in the
formats tools/test.sh stores, some produced by real pytest and meson runs."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
sys.path.insert(0, TOOLS)

import summarize  # noqa: E402


def run_summary(folder):
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "summarize.py"), str(folder)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.splitlines()


def meson_log(*tests):
    """meson testlog.json text: (name, result, stdout, returncode) per test."""
    return "".join(json.dumps({"name": n, "result": res, "stdout": out, "returncode": rc,
                               "duration": 0.1}) + "\n" for n, res, out, rc in tests)


JUNIT = textwrap.dedent("""\
    <?xml version="1.0" encoding="utf-8"?>
    <testsuites><testsuite name="pytest" errors="0" failures="1" skipped="2" tests="5">
    <testcase classname="test_a" name="test_pass" time="0.1"/>
    <testcase classname="test_a" name="test_skip" time="0.1"><skipped type="pytest.skip" message="no schema">x</skipped></testcase>
    <testcase classname="test_a" name="test_xfail" time="0.1"><skipped type="pytest.xfail" message="known bug"/></testcase>
    <testcase classname="test_a" name="test_fail" time="0.1"><failure message="assert 1 == 2">trace</failure></testcase>
    <testcase classname="test_a" name="test_pass2" time="0.1"/>
    </testsuite></testsuites>
    """)


def test_unfinished_pass_failed_build_and_skips(tmp_path):
    d = tmp_path
    # a pass that completed, with skips: TAP "ok # SKIP", meson SKIP, pytest skip/xfail
    (d / "normal-build.rec").write_text("PASS normal-build\n")
    (d / "normal-unit.unit.json").write_text(meson_log(
        ("buf", "OK", "1..3\nok 1 - a\nok 2 - b\nok 3 - c\n# ok - tests\n", 0),
        ("mustache", "OK", "1..3\nok 1 - spec # SKIP conformance files not found in x\n"
                           "ok 2 - test_html\nok 3 - test_none\n", 0),
        ("optional", "SKIP", "1..0 # SKIP nothing to do\n", 0),
    ))
    (d / "normal-unit.exit").write_text("0\n")
    (d / "normal-integration.junit.xml").write_text(JUNIT)
    (d / "normal-integration.exit").write_text("1\n")
    # a pass whose build failed: its other steps were not run
    (d / "sanitize-build.rec").write_text("FAIL sanitize-build: build failed (ninja -C build-asan, exit 1)\n")
    (d / "sanitize-unit.rec").write_text("FAIL sanitize-unit: not run (sanitize build failed)\n")
    # a pass that never finished (crashed, timed out, interrupted)
    (d / "fuzz-adf.pending").write_text("fuzz-adf: did not finish\n")
    (d / "lint-cppcheck.rec").write_text("PASS cppcheck (43 files)\n")

    t = summarize.summarize(d)
    assert t.passed == 3 + 2 + 2 + 1 + 1  # buf, mustache's two, two pytest, build, cppcheck
    assert sorted(t.skipped) == sorted([
        "normal-unit mustache: spec (conformance files not found in x)",
        "normal-unit optional (meson SKIP)",
        "normal-integration test_a::test_skip (skip: no schema)",
        "normal-integration test_a::test_xfail (xfail: known bug)",
    ])
    assert t.failed == [
        "fuzz-adf: did not finish",
        "normal-integration test_a::test_fail (failure: assert 1 == 2)",
        "sanitize-build: build failed (ninja -C build-asan, exit 1)",
        "sanitize-unit: not run (sanitize build failed)",
    ]
    rc, lines = run_summary(d)
    assert rc == 1
    assert lines[-2:] == ["4 skipped", "9 passed, 4 failed"]
    assert [l for l in lines if l.startswith("failed: ")] == [f"failed: {f}" for f in t.failed]


def test_nothing_finished_is_no_pass(tmp_path):
    for step in ("normal-build", "normal-unit", "normal-integration"):
        (tmp_path / f"{step}.pending").write_text(f"{step}: did not finish\n")
    rc, lines = run_summary(tmp_path)
    assert rc == 1
    assert lines == ["failed: normal-build: did not finish",
                     "failed: normal-integration: did not finish",
                     "failed: normal-unit: did not finish", "0 skipped", "0 passed, 3 failed"]


def test_empty_folder_and_all_skipped_fail(tmp_path):
    rc, lines = run_summary(tmp_path)
    assert rc == 1 and lines[-1] == "0 passed, 1 failed" and "no results" in lines[0]
    (tmp_path / "x.rec").write_text("SKIP everything: not here\n")
    rc, lines = run_summary(tmp_path)
    assert rc == 1 and lines[-2:] == ["1 skipped", "0 passed, 1 failed"], lines


@pytest.mark.parametrize("stdout,result,rc,want_fail", [
    # cmocka's own skip() prints "not ok # SKIP": meson counts a failure, so do we
    ("1..2\nnot ok 1 # SKIP a\nok 2 - b\n", "FAIL", 0, "normal-unit t: case 1: 'not ok # SKIP' (a)"),
    # a crash half-way: 2 of 5 cases, no "not ok"
    ("1..5\nok 1 - a\nok 2 - b\n", "ERROR", -11, "normal-unit t: ERROR (exit -11, after 2 of 5 cases)"),
    # a timeout with no output at all
    ("", "TIMEOUT", -15, "normal-unit t: TIMEOUT (exit -15)"),
    # a named failure counts once, by name
    ("1..2\nok 1 - a\nnot ok 2 - test_b\n", "FAIL", 1, "normal-unit t: test_b"),
    # TODO that passes
    ("1..1\nok 1 - a # TODO later\n", "UNEXPECTEDPASS", 0, "normal-unit t: a (passed unexpectedly)"),
])
def test_unit_failures_by_name(tmp_path, stdout, result, rc, want_fail):
    (tmp_path / "normal-unit.unit.json").write_text(meson_log(("t", result, stdout, rc)))
    t = summarize.summarize(tmp_path)
    assert t.failed == [want_fail]


def test_exit_status_without_a_recorded_failure(tmp_path):
    (tmp_path / "normal-integration.junit.xml").write_text(
        '<testsuites><testsuite><testcase classname="a" name="b"/></testsuite></testsuites>')
    (tmp_path / "normal-integration.exit").write_text("3\n")  # pytest internal error
    t = summarize.summarize(tmp_path)
    assert t.failed == ["normal-integration: exited with status 3 but its log records no failure"]
    (tmp_path / "normal-integration.junit.xml").unlink()
    (tmp_path / "normal-integration.exit").write_text("0\n")
    assert summarize.summarize(tmp_path).failed == ["normal-integration: no test ran"]


REAL_TESTS = textwrap.dedent("""\
    import pytest

    @pytest.fixture
    def bad_teardown():
        yield
        raise AssertionError("teardown found a problem")

    def test_pass():
        pass

    def test_skip():
        pytest.skip("not here")

    @pytest.mark.xfail(reason="known")
    def test_xfail():
        assert False

    def test_fail():
        assert 1 == 2

    def test_fail_then_teardown_error(bad_teardown):
        assert 0

    def test_pass_then_teardown_error(bad_teardown):
        pass
    """)


def test_real_pytest_junit(tmp_path):
    """pytest's own JUnit XML: skips and xfails are skips; a test failing in its call
    and again in teardown (two <testcase> elements) is one failure."""
    (tmp_path / "test_real.py").write_text(REAL_TESTS)
    res = tmp_path / "res"
    res.mkdir()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={res / 'it.junit.xml'}", str(tmp_path / "test_real.py")],
                       capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    (res / "it.exit").write_text(f"{r.returncode}\n")
    t = summarize.summarize(res)
    assert t.passed == 1, r.stdout
    assert len(t.skipped) == 2 and any("xfail: known" in s for s in t.skipped), t.skipped
    names = sorted(f.split(" ")[1] for f in t.failed)
    assert names == ["test_real::test_fail", "test_real::test_fail_then_teardown_error",
                     "test_real::test_pass_then_teardown_error"], t.failed


MESON_BUILD = textwrap.dedent("""\
    project('selftest', meson_version : '>=0.63')
    py = find_program('python3')
    test('tap_skip', py, args : [files('tap.py'), 'skip'], protocol : 'tap')
    test('tap_fail', py, args : [files('tap.py'), 'fail'], protocol : 'tap')
    test('tap_crash', py, args : [files('tap.py'), 'crash'], protocol : 'tap')
    test('all_skipped', py, args : [files('tap.py'), 'none'], protocol : 'tap')
    test('exit77', py, args : [files('tap.py'), '77'])
    """)

TAP_PY = textwrap.dedent("""\
    import os, sys
    mode = sys.argv[1]
    if mode == "skip":
        print("1..3\\nok 1 - a\\nok 2 - spec # SKIP files absent\\nok 3 - c")
    elif mode == "fail":
        print("1..2\\nok 1 - a\\nnot ok 2 - broken")
    elif mode == "crash":
        print("1..4\\nok 1 - a", flush=True)
        os.abort()
    elif mode == "none":
        print("1..0 # SKIP nothing to test")
    else:
        sys.exit(77)
    """)


@pytest.mark.skipif(not shutil.which("meson"), reason="meson is not installed")
def test_real_meson_testlog(tmp_path):
    """meson's own testlog.json: TAP skips, all-skipped TAP, exit status 77, a named
    failure and a crash half-way."""
    src, build = tmp_path / "src", tmp_path / "build"
    src.mkdir()
    (src / "meson.build").write_text(MESON_BUILD)
    (src / "tap.py").write_text(TAP_PY)
    subprocess.run(["meson", "setup", str(build), str(src)], check=True, capture_output=True,
                   timeout=120)
    r = subprocess.run(["meson", "test", "-C", str(build)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0
    res = tmp_path / "res"
    res.mkdir()
    shutil.copy(build / "meson-logs" / "testlog.json", res / "u.unit.json")
    (res / "u.exit").write_text(f"{r.returncode}\n")
    t = summarize.summarize(res)
    assert t.passed == 1 + 1 + 1 + 1  # tap_skip a, c; tap_fail a; tap_crash a
    assert sorted(t.skipped) == ["u all_skipped (meson SKIP)", "u exit77 (meson SKIP)",
                                 "u tap_skip: spec (files absent)"], t.skipped
    assert sorted(t.failed) == sorted(["u tap_fail: broken",
                                       f"u tap_crash: ERROR (exit {_crash_rc(res)}, after 1 of 4 cases)"]), t.failed


def _crash_rc(res):
    for line in (res / "u.unit.json").read_text().splitlines():
        rec = json.loads(line)
        if rec["name"] == "tap_crash":
            return rec["returncode"]


def test_node_junit_cases_are_told_apart_by_their_suite(tmp_path):
    """Node's test runner (the browser pass) names every case's class "test": the same
    case name in two files (each file's own "server stops cleanly") counts twice, and a
    failure in one of them is that suite's failure."""
    (tmp_path / "browser.junit.xml").write_text(textwrap.dedent("""\
        <?xml version="1.0" encoding="utf-8"?>
        <testsuites>
        <testsuite name="incident list" tests="2" failures="0">
        <testcase name="filters" time="1" classname="test"/>
        <testcase name="the server stops cleanly" time="0.1" classname="test"/>
        </testsuite>
        <testsuite name="incident detail" tests="2" failures="1">
        <testcase name="acknowledge" time="1" classname="test"/>
        <testcase name="the server stops cleanly" time="0.1" classname="test"><failure message="exit 66">x</failure></testcase>
        </testsuite>
        <testsuite name="playbooks"><testsuite name="nested">
        <testcase name="the server stops cleanly" time="0.1" classname="test"><skipped message="no chromium"/></testcase>
        </testsuite></testsuite>
        </testsuites>
        """))
    (tmp_path / "browser.exit").write_text("1\n")
    rc, lines = run_summary(tmp_path)
    assert rc == 1
    assert lines[-1] == "3 passed, 1 failed", lines
    assert lines[-2] == "1 skipped", lines
    assert any("incident detail::the server stops cleanly" in l and l.startswith("failed:") for l in lines), lines
