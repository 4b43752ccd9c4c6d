"""tools/testlib.sh records every step by name: a failed build, a step killed half-way,
a timeout and an interrupted run all reach the summary as failures; cppcheck fails when
it skips or cannot fully check a file. Each test runs the real shell functions on a
tiny project in a temporary folder and reads the result through tools/summarize.py."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

import summarize  # noqa: E402


def bash(script, results, cwd=REPO, timeout=300):
    text = (f"set -uo pipefail\nRESULTS={results}\nPY={sys.executable}\n"
            f". {os.path.join(TOOLS, 'testlib.sh')}\n" + textwrap.dedent(script))
    return subprocess.run(["bash", "-c", text], cwd=str(cwd), capture_output=True, text=True,
                          timeout=timeout)


def summary(results):
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "summarize.py"), str(results)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.splitlines()


def c_project(root, body, unit_tests=True):
    """A meson project whose 'intervene' is a C program, and a unit suite of one TAP
    test with a skip."""
    root.mkdir()
    (root / "meson.build").write_text(textwrap.dedent("""\
        project('tiny', 'c', meson_version : '>=0.63')
        executable('intervene', 'main.c')
        py = find_program('python3')
        test('tap', py, args : [files('tap.py')], protocol : 'tap', suite : 'unit')
        """))
    (root / "main.c").write_text(body)
    (root / "tap.py").write_text('print("1..2\\nok 1 - a\\nok 2 - spec # SKIP absent")\n')


IT_TESTS = textwrap.dedent("""\
    import os
    import pytest

    def test_binary_given():
        assert os.access(os.environ["INTERVENE_BIN"], os.X_OK)

    def test_skipped():
        pytest.skip("a visible skip")
    """)

needs_cc = pytest.mark.skipif(not (shutil.which("meson") and shutil.which("cc")),
                              reason="meson and a C compiler are needed")


@needs_cc
def test_pass_with_skips_and_a_failed_build(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    c_project(tmp_path / "good", "int main(void) { return 0; }\n")
    c_project(tmp_path / "bad", "int main(void) { return 0 }\n")  # a syntax error
    it = tmp_path / "it"
    it.mkdir()
    (it / "test_it.py").write_text(IT_TESTS)
    # run_pass works in the project's root, as tools/test.sh does in the repository's
    r = bash(f"IT_DIR={it} run_pass good build\n", res, cwd=tmp_path / "good")
    r2 = bash(f"IT_DIR={it} run_pass bad build\n", res, cwd=tmp_path / "bad")
    assert "bad-build: build failed" in (res / "bad-build.rec").read_text(), r2.stdout
    rc, lines = summary(res)
    assert rc == 1, "\n".join(lines) + r.stdout + r.stderr
    assert lines[-2:] == ["2 skipped", "3 passed, 3 failed"], "\n".join(lines) + r.stdout[-3000:]
    failed = [l for l in lines if l.startswith("failed: ")]
    assert failed[0].startswith("failed: bad-build: build failed"), failed
    assert failed[1:] == ["failed: bad-integration: not run (bad build failed)",
                          "failed: bad-unit: not run (bad build failed)"]
    assert "skipped: good-unit tap: spec (absent)" in lines
    assert any(l.startswith("skipped: good-integration ") and "test_it::test_skipped (skip: a visible skip)" in l
               for l in lines), lines


def test_step_killed_half_way_is_a_failure(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    p = subprocess.Popen(["bash", "-c", f"RESULTS={res}\n. {TOOLS}/testlib.sh\n"
                          "step_plan build unit\nstep_pass build 'the build'\n"
                          "echo started\nsleep 60\nstep_pass unit 'the tests'\n"],
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert p.stdout.readline().strip() == "started"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    rc, lines = summary(res)
    assert rc == 1
    assert lines == ["failed: unit: did not finish", "0 skipped", "1 passed, 1 failed"]


def test_timeout_leaves_the_step_unfinished(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(60)\n")
    t0 = time.monotonic()
    bash(f"step_plan slow\npytest_step slow 3 {tmp_path / 'test_slow.py'}\n", res)
    assert time.monotonic() - t0 < 40
    rc, lines = summary(res)
    assert rc == 1
    assert lines[-3:] == ["failed: slow: did not finish (exit 124; the limit is 3s)",
                          "0 skipped", "0 passed, 1 failed"]


def test_failing_command_without_results(tmp_path):
    """pytest that cannot even collect (a usage error) leaves a named failure."""
    res = tmp_path / "res"
    res.mkdir()
    bash(f"step_plan it\npytest_step it 60 --no-such-option {tmp_path}\n", res)
    rc, lines = summary(res)
    assert rc == 1 and lines[-1] == "0 passed, 1 failed", lines
    assert lines[0] == "failed: it: exited with status 4 but its log records no failure", lines


JANSSON_LOOP = """\
#include <jansson.h>
int count(json_t *a);
int count(json_t *a)
{
	size_t i;
	json_t *v;
	int n = 0;
	json_array_foreach(a, i, v) n += json_is_string(v);
	return n;
}
"""
# the pattern that made cppcheck skip src/cli/textout.c (json_array_foreach then a call)
UNKNOWN_MACRO = """\
void add(int *n, int v);
int count(int *a, int len);
int count(int *a, int len)
{
	int n = 0, i;
	EACH_ITEM(a, len, i) add(&n, a[i]);
	return n;
}
"""
FINDING = """\
int last(void);
int last(void)
{
	int a[2] = {1, 2};
	return a[2];
}
"""


@pytest.mark.skipif(not shutil.which("cppcheck"), reason="cppcheck is not installed")
@pytest.mark.parametrize("code,want", [
    (JANSSON_LOOP, None),
    (UNKNOWN_MACRO, "cppcheck could not fully check {f}: "),
    (FINDING, "cppcheck: {f}:5:"),
])
def test_cppcheck_step(tmp_path, code, want):
    f = tmp_path / "x.c"
    f.write_text(code)
    res = tmp_path / "res"
    res.mkdir()
    bash(f"step_plan lint\ncppcheck_step lint {f}\n", res)
    t = summarize.summarize(res)
    if want is None:
        assert t.failed == [] and t.passed == 1, (res / "lint.log").read_text()
    else:
        assert any(x.startswith(want.format(f=f)) for x in t.failed), t.failed
