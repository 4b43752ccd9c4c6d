#!/usr/bin/env python3
"""Add up meson test logs (testlog.json), pytest JUnit XML files and fuzz results
(lines "PASS name" / "FAIL name" / "SKIP name" in *-fuzz.txt) in a folder
and print the closing line "N passed, N failed" (", N skipped" when any).
A TAP unit test counts each of its cases. Exit 1 when anything failed."""
import json
import pathlib
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    folder = pathlib.Path(sys.argv[1])
    passed = failed = skipped = 0
    for log in sorted(folder.glob("*-unit.json")):
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            t = json.loads(line)
            out = t.get("stdout") or ""
            oks = sum(1 for l in out.splitlines() if l.startswith("ok "))
            nots = sum(1 for l in out.splitlines() if l.startswith("not ok "))
            if t.get("result") == "OK":
                passed += max(oks, 1)
            elif t.get("result") == "SKIP":
                skipped += 1
            else:
                passed += oks
                failed += max(nots, 1)
                print(f"failed: unit test {t.get('name')} ({log.name}: {t.get('result')})")
    for xml in sorted(folder.glob("*-integration.xml")):
        root = ET.parse(xml).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        for s in suites:
            tests = int(s.get("tests", 0))
            f = int(s.get("failures", 0)) + int(s.get("errors", 0))
            sk = int(s.get("skipped", 0))
            passed += tests - f - sk
            failed += f
            skipped += sk
            for case in s.iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    print(f"failed: {case.get('classname')}::{case.get('name')} ({xml.name})")
    for txt in sorted(folder.glob("*-fuzz.txt")):
        for l in txt.read_text().splitlines():
            word = l.split(" ", 1)[0]
            if word == "PASS":
                passed += 1
            elif word == "SKIP":
                skipped += 1
            elif word == "FAIL":
                failed += 1
                print(f"failed: {l[5:]}")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
