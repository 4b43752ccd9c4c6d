"""Durability (SPEC §3): every acknowledged write survives kill -9."""
import http.client
import json
import threading
import time

from harness import unique


def test_kill9_under_load_loses_nothing_acknowledged(server):
    s = server
    prefix = unique("dur")
    n_threads = 8
    stop = threading.Event()
    lock = threading.Lock()
    acked_signals = []      # (key, outcome, incident_id)
    acked_transitions = []  # (incident_id, verb)
    errors = []

    def call(conn, method, path, body):
        conn.request(method, path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json",
                              "Authorization": f"Bearer {s.token}"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")

    def worker(t):
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        i = 0
        try:
            while not stop.is_set():
                key = f"{prefix}-{t}-{i % 4}"
                st, b = call(conn, "POST", "/api/signals",
                             {"kind": "budget", "key": key, "summary": f"load {i}"})
                if st == 202:
                    with lock:
                        acked_signals.append((key, b["outcome"], b["incident_id"]))
                    if b["outcome"] == "created":
                        iid = b["incident_id"]
                        st2, _ = call(conn, "POST", f"/api/incidents/{iid}/acknowledge", {})
                        if st2 == 200:
                            with lock:
                                acked_transitions.append((iid, "acknowledge"))
                        if i % 2 == 0:
                            st3, _ = call(conn, "POST", f"/api/incidents/{iid}/resolve", {})
                            if st3 == 200:
                                with lock:
                                    acked_transitions.append((iid, "resolve"))
                else:
                    errors.append((st, b))
                i += 1
        except (OSError, http.client.HTTPException, ValueError):
            pass  # the server died under us: anything unacknowledged may be lost
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    # let load build up, then kill the server mid-flight
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5 or len(acked_signals) < 100:
        if time.monotonic() - t0 > 10:
            break
        time.sleep(0.02)
    s.kill9()
    stop.set()
    for th in threads:
        th.join(15)
    assert not errors, errors[:5]
    assert len(acked_signals) > 50, f"too little load to mean anything: {len(acked_signals)}"

    print(f"acknowledged before kill -9: {len(acked_signals)} signals, "
          f"{len(acked_transitions)} transitions")
    s.start()
    created = {iid for _, outcome, iid in acked_signals if outcome == "created"}
    dedups = {}
    for _, outcome, iid in acked_signals:
        if outcome == "deduplicated":
            dedups[iid] = dedups.get(iid, 0) + 1
    for iid in created | set(dedups):
        st, b = s.get(f"/api/incidents/{iid}")
        assert st == 200, f"acknowledged incident {iid} lost after kill -9: {st} {b}"
        inc = b["incident"]
        assert inc["occurrences"] >= 1 + dedups.get(iid, 0), \
            f"incident {iid}: occurrences {inc['occurrences']} < 1 + {dedups.get(iid, 0)} acknowledged dedups"
    for iid, verb in acked_transitions:
        inc = s.incident(iid)
        stamp = {"acknowledge": "acknowledged_at", "resolve": "resolved_at"}[verb]
        assert inc[stamp], f"acknowledged {verb} of incident {iid} lost after kill -9"
    # every signal's outcome has its event too, and the chain is intact
    evs = s.all_events()
    ids = [e["id"] for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for a, b in zip(evs, evs[1:]):
        assert b["prev_hash"] == a["hash"], f"chain broken at {b['id']} after crash"
    r = s.cli("audit", "verify")
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
    # the restarted server still accepts writes
    assert s.signal(key=unique("after-crash"))["outcome"] == "created"
