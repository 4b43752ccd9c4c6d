#!/usr/bin/env python3
"""Add up the results tools/test.sh left in a folder and print the closing lines.

Each step of tools/test.sh (a build, a unit-test run, an integration run, a lint check,
a fuzz target) has an id, e.g. "normal-unit". The files it may leave:

  <id>.pending     "<name>: did not finish" — written before the step starts, removed
                   only when it completes. A pending file is a failure, by that name.
  <id>.rec         lines "PASS name", "FAIL name[: reason]", "SKIP name[: reason]".
  <id>.unit.json   meson's testlog.json (TAP tests: each "ok"/"not ok" line counts).
  <id>.junit.xml   pytest's JUnit XML.
  <id>.exit        the exit status of the step's command (a non-zero status whose log
                   records no failure is a failure of its own).

Skips are skips: "ok … # SKIP", meson's SKIP status, pytest skips and xfails count as
skipped, never as passed. "not ok … # SKIP" is a failure (meson counts it so).

Output: one "failed: …" line per failure and one "skipped: …" line per skip, then
"N skipped" on its own line, then the last line "N passed, N failed". N failed is
at least 1 whenever anything failed or did not finish (or nothing at all passed).
Exit 1 when anything failed, else 0.

    tools/summarize.py RESULTS_DIR
"""
import json
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

# meson's own TAP grammar (mesonbuild/mtest.py, TAPParser), so both count alike.
_DIRECTIVE = r"(?:\s*\#\s*([Ss][Kk][Ii][Pp]\S*|[Tt][Oo][Dd][Oo])\b\s*(.*))?"
RE_TEST = re.compile(r"((?:not )?ok)\s*(?:([0-9]+)\s*)?([^#]*)" + _DIRECTIVE)
RE_PLAN = re.compile(r"1\.\.([0-9]+)" + _DIRECTIVE)
MAX_SKIP_LINES = 40


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = []  # names
        self.skipped = []  # names

    def ok(self, n=1):
        self.passed += n

    def fail(self, what):
        self.failed.append(what)

    def skip(self, what):
        self.skipped.append(what)


def _short(text, n=160):
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def parse_tap(stdout):
    """→ (plan or None, [(result, name)]) with result in ok|fail|skip|xfail|xpass."""
    plan, cases = None, []
    for line in (stdout or "").splitlines():
        m = RE_PLAN.fullmatch(line)
        if m:
            plan = int(m.group(1))
            continue
        m = RE_TEST.fullmatch(line)
        if not m:
            continue
        ok = m.group(1) == "ok"
        name = (m.group(3) or "").strip()
        if name.startswith("- "):
            name = name[2:]
        name = name or f"case {m.group(2) or len(cases) + 1}"
        directive = (m.group(4) or "").upper()
        why = (m.group(5) or "").strip()
        if directive.startswith("SKIP"):
            if ok:
                cases.append(("skip", f"{name} ({why})" if why else name))
            else:  # meson: "not ok # SKIP" is a failure
                cases.append(("fail", f"{name}: 'not ok # SKIP' ({why})"))
        elif directive == "TODO":
            cases.append(("xfail", name) if not ok else ("xpass", name))
        else:
            cases.append(("ok", name) if ok else ("fail", name))
    return plan, cases


def add_unit(t, step, path):
    """meson testlog.json: one JSON object per line and test."""
    n = 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            t.fail(f"{step}: unreadable line in {path.name}")
            continue
        n += 1
        test, result = rec.get("name", "?"), rec.get("result", "?")
        plan, cases = parse_tap(rec.get("stdout"))
        named_fail = 0
        for res, name in cases:
            if res == "ok":
                t.ok()
            elif res in ("skip", "xfail"):
                t.skip(f"{step} {test}: {name}")
            else:
                named_fail += 1
                t.fail(f"{step} {test}: {name}" + (" (passed unexpectedly)" if res == "xpass" else ""))
        if result == "SKIP":
            if not cases:
                t.skip(f"{step} {test} (meson SKIP)")
        elif result in ("OK", "EXPECTEDFAIL"):
            if not cases:  # an exit-code test, or a TAP test that printed no case
                (t.ok() if result == "OK" else t.skip(f"{step} {test} (expected failure)"))
            elif plan is not None and plan != len(cases):
                t.fail(f"{step} {test}: planned {plan} cases, reported {len(cases)}")
        elif not named_fail:
            # crashed, timed out, bad TAP, an exit status that contradicts the cases...
            done = f", after {len(cases)} of {plan if plan is not None else '?'} cases" if cases else ""
            t.fail(f"{step} {test}: {result} (exit {rec.get('returncode')}{done})")
    return n


def add_junit(t, step, path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        t.fail(f"{step}: unreadable {path.name} ({e})")
        return 0
    # pytest writes a second <testcase> of the same name when a test fails and then
    # errors in teardown: one test, one result.
    # Node's test runner names every case's class "test": the suite (a describe
    # block, one per file) tells its cases apart.
    tests = {}
    suites = [s for s in root.iter("testsuite")] or [root]
    for suite in suites:
        for case in suite.findall("testcase"):
            cls = case.get("classname", "")
            if cls == "test" and suite.get("name"):
                cls = suite.get("name")
            name = f"{cls}::{case.get('name', '?')}".lstrip(":")
            tests.setdefault(name, []).extend(case)
    for name, children in tests.items():
        bad = [c for c in children if c.tag in ("failure", "error")]
        skip = next((c for c in children if c.tag == "skipped"), None)
        if bad:
            kinds = "+".join(sorted({c.tag for c in bad}))
            t.fail(f"{step} {name} ({kinds}: {_short(bad[0].get('message'))})")
        elif skip is not None:  # pytest writes skips and xfails as <skipped>
            kind = "xfail" if (skip.get("type") or "").endswith("xfail") else "skip"
            t.skip(f"{step} {name} ({kind}: {_short(skip.get('message'), 120)})")
        else:
            t.ok()
    return len(tests)


def add_rec(t, step, path):
    n = 0
    for line in path.read_text(errors="replace").splitlines():
        word, _, rest = line.partition(" ")
        if word == "PASS":
            t.ok()
        elif word == "SKIP":
            t.skip(rest)
        elif word == "FAIL":
            t.fail(rest or step)
        elif line.strip():
            t.fail(f"{step}: unreadable line in {path.name}: {_short(line)}")
            continue
        else:
            continue
        n += 1
    return n


def summarize(folder):
    t = Tally()
    folder = pathlib.Path(folder)
    steps = {}
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        for suffix in (".pending", ".rec", ".unit.json", ".junit.xml", ".exit"):
            if p.name.endswith(suffix):
                steps.setdefault(p.name[: -len(suffix)], {})[suffix] = p
    for step, files in steps.items():
        before = len(t.failed)
        counted = 0
        if ".unit.json" in files:
            counted += add_unit(t, step, files[".unit.json"])
        if ".junit.xml" in files:
            counted += add_junit(t, step, files[".junit.xml"])
        if ".rec" in files:
            counted += add_rec(t, step, files[".rec"])
        if ".pending" in files:
            text = files[".pending"].read_text(errors="replace").strip()
            t.fail(text or f"{step}: did not finish")
        elif ".exit" in files:
            rc = files[".exit"].read_text().strip()
            if rc != "0" and len(t.failed) == before:
                t.fail(f"{step}: exited with status {rc} but its log records no failure")
            elif rc == "0" and counted == 0:
                t.fail(f"{step}: no test ran")
    if not steps:
        t.fail(f"no results in {folder}")
    elif t.passed == 0 and not t.failed:
        t.fail("nothing passed")
    return t


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    t = summarize(argv[1])
    for s in t.skipped[:MAX_SKIP_LINES]:
        print(f"skipped: {s}")
    if len(t.skipped) > MAX_SKIP_LINES:
        print(f"skipped: ... and {len(t.skipped) - MAX_SKIP_LINES} more")
    for f in t.failed:
        print(f"failed: {f}")
    print(f"{len(t.skipped)} skipped")
    print(f"{t.passed} passed, {len(t.failed)} failed")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
