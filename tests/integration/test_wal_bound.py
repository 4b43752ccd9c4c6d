"""The write-ahead log stays bounded under steady writes with concurrent list readers
(docs/architecture.md, "The WAL bound"). Takes about 30 s (INTERVENE_WAL_TEST_SECONDS
shortens it for a quick local look; the suite runs the full length)."""
import http.client
import json
import os
import threading
import time

from harness import unique

SECONDS = float(os.environ.get("INTERVENE_WAL_TEST_SECONDS", "30"))
# The documented bound: the writer restarts the WAL once it passes 2,048 frames (about
# 8 MiB of 4 KiB pages), one group commit may add its frames on top, and
# journal_size_limit cuts the file back to 16 MiB whenever the log restarts.
BOUND = 16 * 1024 * 1024
DETAILS = {"text": "x" * 1500}


def _conn(s):
    return http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)


def _call(conn, s, method, path, body=None):
    headers = {"Authorization": f"Bearer {s.token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    return r.status, payload


def test_wal_stays_bounded_with_concurrent_readers(server):
    s = server
    wal = s.db_path + "-wal"
    stop = threading.Event()
    errors, counts = [], {"writes": 0, "reads": 0}
    lock = threading.Lock()

    def writer(t):
        conn = _conn(s)
        i = 0
        try:
            while not stop.is_set():
                batch = [{"kind": "budget", "key": f"{unique('wal')}-{t}-{i}-{j}",
                          "summary": f"wal bound {i}", "details": DETAILS} for j in range(25)]
                st, body = _call(conn, s, "POST", "/api/signals", batch)
                if st != 202:
                    errors.append((st, body[:200]))
                    return
                i += 1
                with lock:
                    counts["writes"] += len(batch)
        finally:
            conn.close()

    def reader():
        conn = _conn(s)
        try:
            while not stop.is_set():
                st, body = _call(conn, s, "GET", "/api/incidents?per_page=200&sort=severity")
                if st != 200:
                    errors.append((st, body[:200]))
                    return
                with lock:
                    counts["reads"] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(2)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    biggest, samples = 0, 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < SECONDS and not errors:
            try:
                biggest = max(biggest, os.path.getsize(wal))
            except FileNotFoundError:
                pass
            samples += 1
            time.sleep(0.05)
    finally:
        stop.set()
        for th in threads:
            th.join(60)
    assert not errors, errors[:3]
    print(f"{counts['writes']} signals, {counts['reads']} list pages in {SECONDS:.0f} s; "
          f"largest -wal file {biggest / 1048576:.1f} MiB over {samples} samples")
    # enough load to have passed the fold-back threshold many times over
    assert counts["writes"] >= 2000 and counts["reads"] >= 100, counts
    assert biggest < BOUND, f"the WAL reached {biggest / 1048576:.1f} MiB (bound {BOUND / 1048576:.0f} MiB)"
