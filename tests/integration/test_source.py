"""Source-tree checks that need no binary."""
import os
import re

from harness import REPO

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"](?:[^>"]*/)?sqlite3\.h[>"]', re.M)
SKIP_DIRS = {".git", "build", "node_modules"}


def _c_files():
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.join(root, f)


def test_sqlite3_h_only_included_under_src_store():
    store_dir = os.path.join(REPO, "src", "store") + os.sep
    offenders, store_users = [], []
    for path in _c_files():
        with open(path, errors="replace") as fh:
            text = fh.read()
        if INCLUDE_RE.search(text):
            if path.startswith(store_dir):
                store_users.append(path)
            else:
                offenders.append(os.path.relpath(path, REPO))
    assert not offenders, f"files outside src/store/ include sqlite3.h: {offenders}"
    assert store_users, "expected the SQLite backend under src/store/ to include sqlite3.h"
