"""Absent conformance files (../shared/conformance: the Mustache spec, the ADF schema)
are a visible skip locally and a failure under INTERVENE_CI=1, for each of their users:
tests/unit/test_mustache.c, tests/integration/test_adf_schema.py and
tests/fuzz/validate_adf_outputs.py. The lookup is pointed at an empty directory with
INTERVENE_CONFORMANCE_DIR; the TAP lines are classified as tools/summarize.py (and
meson) count them."""

import os
import subprocess
import sys

import pytest

import harness

REPO = harness.REPO
sys.path.insert(0, os.path.join(REPO, "tools"))

import summarize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.dirname(os.path.abspath(harness.BIN))


def env_for(empty, ci):
    e = dict(os.environ, INTERVENE_CONFORMANCE_DIR=str(empty))
    e.pop("INTERVENE_CI", None)
    if ci:
        e["INTERVENE_CI"] = "1"
    return e


@pytest.fixture
def empty(tmp_path):
    d = tmp_path / "conformance"
    (d / "mustache").mkdir(parents=True)  # present but empty counts as absent
    return d


@pytest.mark.parametrize("ci", [False, True], ids=["local", "ci"])
def test_mustache_spec(empty, ci):
    exe = os.path.join(BUILD, "tests", "unit", "test_mustache")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} not built", pytrace=False)
    e = env_for(empty, ci)
    e.update(CMOCKA_MESSAGE_OUTPUT="TAP", SOURCE_ROOT=REPO)
    r = subprocess.run([exe], capture_output=True, text=True, timeout=120, env=e,
                       cwd=os.path.join(REPO, "tests"))
    plan, cases = summarize.parse_tap(r.stdout)
    assert plan == len(cases), r.stdout
    spec = [c for c in cases if c[1].startswith("spec")]
    assert len(spec) == 1, r.stdout
    others = {res for res, name in cases if not name.startswith("spec")}
    assert others == {"ok"}, r.stdout
    if ci:
        assert spec[0][0] == "fail", r.stdout
        assert r.returncode != 0
        assert str(empty / "mustache") in r.stdout + r.stderr
    else:
        assert spec[0][0] == "skip", r.stdout
        assert str(empty / "mustache") in spec[0][1]
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("ci,want", [(False, 77), (True, 1)], ids=["local", "ci"])
def test_validate_adf_outputs(empty, ci, want):
    r = subprocess.run([sys.executable, os.path.join(REPO, "tests", "fuzz", "validate_adf_outputs.py"),
                        os.path.join(REPO, "tests", "fuzz", "corpus", "adf")],
                       capture_output=True, text=True, timeout=120, env=env_for(empty, ci))
    assert r.returncode == want, r.stdout + r.stderr
    assert str(empty / "adf" / "full.json") in r.stdout


@pytest.mark.parametrize("ci", [False, True], ids=["local", "ci"])
def test_adf_schema_tests(empty, ci, tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    e = harness.without_log_path(env_for(empty, ci))  # a session of its own
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={res / 'adf.junit.xml'}",
                        os.path.join(HERE, "test_adf_schema.py")],
                       capture_output=True, text=True, timeout=300, env=e, cwd=HERE)
    t = summarize.summarize(res)
    needs_schema = len(t.failed) if ci else len(t.skipped)
    assert needs_schema >= 20, r.stdout[-3000:]
    if ci:
        assert r.returncode == 1 and not t.skipped, r.stdout[-3000:]
        assert all("ADF schema not found" in f for f in t.failed), t.failed
        assert "(INTERVENE_CI=1: required)" in r.stdout, r.stdout[-3000:]
    else:
        assert r.returncode == 0 and not t.failed, r.stdout[-3000:]
        assert all("ADF schema not found" in s for s in t.skipped), t.skipped
