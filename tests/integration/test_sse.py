"""The live stream, GET /api/sse/events (SPEC §6; issue 11): order, replay, filters,
auth, limits, slow clients, timeouts and a clean stop — against the real binary."""
import json
import os
import signal
import socket
import statistics
import time

import pytest

from fakes.trackers import FakeGitHub
from harness import Server, assert_error, unique, wait_for
from sse import Pool, Stream


def newest_id(srv):
    evs = srv.all_events()
    return evs[-1]["id"] if evs else 0


def sub(srv, query="", token=True, **kw):
    path = "/api/sse/events" + (f"?{query}" if query else "")
    s = Stream(srv.port, path, token=srv.token if token is True else token, **kw)
    s.until(lambda st: st.status is not None and (st.status != 200 or
                                                 any(f.event == "connected" for f in st.frames)))
    return s


def connected(s):
    return next(f for f in s.frames if f.event == "connected").data


def test_head_retry_and_connected(server):
    server.new_incident(unique("sse"))
    want = newest_id(server)
    s = sub(server)
    try:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        assert s.headers["cache-control"] == "no-cache"
        assert s.headers["x-accel-buffering"] == "no"
        assert s.frames[0].fields == [("retry", "3000")]
        c = connected(s)
        assert c["last_event_id"] == want and c["subscriber_id"] >= 1
        iid = server.new_incident(unique("sse"))
        s.until(lambda st: any(f.event == "incident_created" for f in st.frames))
        ev = s.events("incident_created")[0]
        assert ev.id == want + 1 and ev.data["id"] == iid
        # the data is the stored event's exact text
        [stored] = [e for e in server.all_events() if e["id"] == ev.id]
        assert json.loads(ev.data_text) == stored["data"]
        st, _, text = server.request("GET", "/metrics")
        assert "intervene_sse_subscribers 1" in text
    finally:
        s.close()


def test_every_writer_arrives_in_id_order_identical_to_the_events_api(make_server):
    """Events written by the API, the watcher, the outbox and the executor all arrive on
    one stream, strictly increasing, exactly as GET /api/events?after_id= lists them."""
    with FakeGitHub() as gh:
        s = make_server({"tracker": {"provider": "github", "github": gh.config_block()},
                         "actions": {"canary_step_interval": "100ms"}})
        st = sub(s)
        try:
            start = connected(st)["last_event_id"]
            iid = s.new_incident(unique("sse-api"))                      # API
            s.transition(iid, "acknowledge")
            gh.wait_for_calls(1, method="POST")                            # outbox
            wait_for(lambda: any(e["type"] == "issue_delivered" for e in s.all_events()),
                     timeout=10, msg="issue_delivered")
            inv = unique("inv")
            s.post("/api/eval/results", [{"task_id": "t", "agent": "a", "timestamp":
                                          "2026-03-01T00:00:00Z", "success": False,
                                          "invariants": [{"id": inv, "name": "n", "passed": False,
                                                          "message": "m"}]}])
            st_, b = s.post("/api/watcher/run", {})                         # watcher
            assert st_ == 200, b
            s.request("PUT", "/api/settings/canary.sse", body={"value": {
                "version": "v2", "baseline_version": "v1", "canary_pct": 30,
                "kill_switch": False}, "reason": "t"})
            a = s.post(f"/api/playbooks/incidents/{iid}/actions/dry-run",
                       {"action_type": "adjust_canary_split",
                        "params": {"canary": "sse", "version": "v2", "target_percent": 10}})[1]
            s.post(f"/api/playbooks/incidents/{iid}/actions/execute?wait=10",
                   {"action_id": a["action"]["id"]})                        # executor
            last = newest_id(s)
            st.until(lambda x: x.events() and x.events()[-1].id >= last, timeout=15)
            got = [(f.id, f.event, json.loads(f.data_text)) for f in st.events()]
            want = [(e["id"], e["type"], e["data"]) for e in s.all_events() if e["id"] > start]
            assert got == want
            ids = [g[0] for g in got]
            assert ids == sorted(set(ids))
            actors = {e["actor"] for e in s.all_events() if e["id"] > start}
            assert {"system:watcher", "system:outbox", "system:executor"} <= actors, actors
        finally:
            st.close()


def test_replay_after_last_event_id_has_no_gap_and_no_duplicate(server):
    first = [server.new_incident(unique("r")) for _ in range(3)]
    mark = newest_id(server)
    later = [server.new_incident(unique("r")) for _ in range(3)]
    for how in ("header", "query"):
        want = [e for e in server.all_events() if e["id"] > mark]
        kw = {"headers": {"Last-Event-ID": str(mark)}} if how == "header" else {}
        q = f"last_event_id={mark}" if how == "query" else ""
        s = sub(server, q, **kw)
        try:
            s.until(lambda st: len(st.events()) >= len(want))
            assert [f.id for f in s.events()] == [e["id"] for e in want]
            # then live, without a duplicate
            iid = server.new_incident(unique("r"))
            s.until(lambda st: any(f.event == "incident_created" and f.data["id"] == iid
                                   for f in st.events()))
            ids = [f.id for f in s.events()]
            assert ids == sorted(set(ids)) and ids[0] == mark + 1
        finally:
            s.close()
    assert first and later


def test_filters_hold_in_replay_and_live(server):
    mark = newest_id(server)
    a = server.new_incident(unique("fa"))
    b = server.new_incident(unique("fb"))
    server.transition(a, "acknowledge")
    server.transition(b, "acknowledge")
    s = sub(server, f"types=incident_updated&incident_id={a}&last_event_id={mark}")
    try:
        s.until(lambda st: len(st.events()) >= 1)
        server.transition(a, "resolve")
        server.transition(b, "resolve")
        s.until(lambda st: len(st.events()) >= 2)
        time.sleep(0.3)
        evs = s.events()
        assert [f.event for f in evs] == ["incident_updated", "incident_updated"]
        assert {f.data["incident"]["id"] for f in evs} == {a}
        assert [f.data["change_type"] for f in evs] == ["acknowledged", "resolved"]
    finally:
        s.close()


def test_bad_parameters_are_a_400(server):
    for q, field in (("types=incident_created,nope", "types"), ("incident_id=x", "incident_id"),
                     ("last_event_id=-1", "last_event_id"), ("since=1", "since")):
        st, b = server.get(f"/api/sse/events?{q}")
        assert_error(st, b, 400, "validation_failed", field=field)
    st, _, b = server.request("GET", "/api/sse/events", headers={"Last-Event-ID": "abc"})
    assert_error(st, b, 400, "validation_failed", field="Last-Event-ID")


def test_ids_outside_the_log_get_a_reset(make_server):
    srv = make_server({"storage": {"event_retention": "1s"}})
    # an id before the retained log (events of a closed incident pruned by retention)
    old = srv.new_incident(unique("old"))
    for verb in ("acknowledge", "resolve", "close"):
        srv.transition(old, verb)
    gone = [e["id"] for e in srv.all_events(incident_id=old)]
    time.sleep(1.2)
    srv.new_incident(unique("keep"))
    wait_for(lambda: min(e["id"] for e in srv.all_events()) > max(gone), timeout=10,
             msg="retention to prune the old incident's events")
    s = sub(srv, f"last_event_id={gone[0]}")
    try:
        s.until(lambda st: any(f.event == "reset" for f in st.frames))
        assert next(f for f in s.frames if f.event == "reset").id is None
        assert not s.events(), "nothing is replayed after a reset"
    finally:
        s.close()
    # an id newer than the newest
    newest = newest_id(srv)
    s = sub(srv, f"last_event_id={newest + 100}")
    try:
        s.until(lambda st: any(f.event == "reset" for f in st.frames))
        reset = next(f for f in s.frames if f.event == "reset")
        assert reset.id is None and reset.data["newest_id"] == newest
        iid = srv.new_incident(unique("after-reset"))
        s.until(lambda st: any(f.event == "incident_created" for f in st.events()))
        assert s.events()[0].data["id"] == iid
    finally:
        s.close()


def test_auth_by_header_cookie_or_query_token_never_logged(server):
    assert sub(server, token=None).status == 401
    assert sub(server, token="wrong-token").status == 401
    s = sub(server, f"token={server.token}", token=None)
    assert s.status == 200
    s.close()
    st, h, _ = server.request("POST", "/api/session", {"token": server.token}, token=None)
    assert st in (200, 201)
    sid = h["set-cookie"].split(";")[0]
    s = sub(server, token=None, headers={"Cookie": sid})
    assert s.status == 200
    s.close()
    viewer = server.create_token("sse-viewer", "viewer")
    wait_for(lambda: server.get("/api/session", token=viewer)[0] == 200, timeout=5)
    s = sub(server, f"token={viewer}", token=None)
    assert s.status == 200
    s.close()
    assert server.token not in server.stderr_text()
    assert viewer not in server.stderr_text()


def test_beyond_sse_max_clients_is_a_503(make_server):
    srv = make_server({"server": {"sse_max_clients": 2}})
    a, b = sub(srv), sub(srv)
    try:
        c = sub(srv)
        assert c.status == 503 and b"unavailable" in c.body
        a.close()
        wait_for(lambda: "intervene_sse_subscribers 1" in srv.request("GET", "/metrics")[2],
                 timeout=5, msg="the closed subscriber to go")
        d = sub(srv)
        assert d.status == 200
        d.close()
    finally:
        a.close()
        b.close()


def test_a_stream_outlives_read_timeout_with_heartbeats(make_server):
    srv = make_server({"server": {"read_timeout": "2s", "sse_heartbeat": "1s"}})
    s = sub(srv)
    try:
        t0 = time.monotonic()
        s.until(lambda st: time.monotonic() - t0 >= 10 and
                len([f for f in st.frames if f.event == "heartbeat"]) >= 8, timeout=15)
        assert not s.closed
        hb = [f for f in s.frames if f.event == "heartbeat"]
        assert all(f.id is None and f.data["timestamp"].endswith("Z") for f in hb)
        iid = srv.new_incident(unique("late"))
        s.until(lambda st: any(f.event == "incident_created" for f in st.events()))
    finally:
        s.close()


def test_sigterm_ends_every_stream_cleanly(make_server):
    srv = make_server()
    streams = [sub(srv) for _ in range(5)]
    srv.new_incident(unique("bye"))
    for s in streams:
        s.until(lambda st: st.events())
    srv.stop()  # SIGTERM; the harness checks the exit status is 0
    for s in streams:
        s.until(lambda st: st.closed, timeout=5) if not s.closed else None
        assert s.closed
        s.close()


def test_a_thousand_subscribers_get_every_event_of_a_burst_in_order(make_server):
    """1,000 subscribers, a burst of 5,000 signals (50 batches of 100): every subscriber
    receives all of them, in order, as GET /api/events lists them. The signals are
    silenced, so each is one small signal_suppressed event: the stream carries them the
    same way as any other, and one Python thread can read 5 million frames."""
    srv = make_server({"server": {"max_connections": 3000},
                       "policy": {"rate_limit": {"max": 1000000}}})
    prefix = unique("burst")
    st, b = srv.post("/api/silences", {"key_glob": prefix + "*", "reason": "burst",
                                       "duration": "1h"})
    assert st == 201, b
    pool = Pool()
    try:
        for i in range(1000):
            s = Stream(srv.port, "/api/sse/events?types=signal_suppressed", srv.token,
                       light=True)
            pool.add(s)
        pool.until(lambda: all(s.connected for s in pool.streams), timeout=60)
        start = newest_id(srv)
        for batch in range(50):
            body = [{"kind": "manual", "key": f"{prefix}-{batch * 100 + i}", "summary": "burst"}
                    for i in range(100)]
            st, b = srv.post("/api/signals", body)
            assert st == 202, b
        want = [e["id"] for e in srv.all_events(types="signal_suppressed") if e["id"] > start]
        assert len(want) == 5000
        pool.until(lambda: all(s.last_id >= want[-1] or s.closed for s in pool.streams),
                   timeout=120)
        for s in pool.streams:
            assert s.ids == want
    finally:
        pool.close()


def test_a_stalled_client_is_cut_off_and_delays_nobody(make_server):
    """One subscriber stops reading; 999 others keep receiving each event within 100 ms of
    its signal's 202, and the stalled one is disconnected once over its cap."""
    srv = make_server({"server": {"max_connections": 3000},
                       "policy": {"rate_limit": {"max": 1000000}}})
    quiet = unique("quiet")
    srv.post("/api/silences", {"key_glob": quiet + "*", "reason": "t", "duration": "1h"})
    pool = Pool()
    stalled = Stream(srv.port, "/api/sse/events", srv.token, rcvbuf=4096)
    try:
        for i in range(999):
            pool.add(Stream(srv.port, "/api/sse/events?types=signal_suppressed", srv.token,
                            light=True))
        pool.until(lambda: all(s.connected for s in pool.streams), timeout=60)
        # the stalled subscriber receives every type: big incident_created events fill it
        big = "x" * 8000
        lat = []
        for i in range(1500):
            st, _ = srv.post("/api/signals", {"kind": "manual", "key": unique("big"),
                                              "summary": "big", "details": {"pad": big}})
            assert st == 202
            if i % 15 == 0:
                key = f"{quiet}-{i}"
                st, b = srv.post("/api/signals", {"kind": "manual", "key": key, "summary": "q"})
                assert st == 202, b
                t202 = time.monotonic()
                evid = srv.all_events(types="signal_suppressed")[-1]["id"]
                pool.until(lambda: all(s.last_id >= evid for s in pool.streams), timeout=10)
                lat.append(time.monotonic() - t202)
        lat.sort()
        p99 = lat[int(len(lat) * 0.99) - 1] if len(lat) >= 100 else lat[-1]
        print(f"stalled-client test: {len(lat)} events, last of 999 subscribers received each "
              f"{statistics.median(lat) * 1000:.1f} ms (median), {p99 * 1000:.1f} ms (p99), "
              f"{lat[-1] * 1000:.1f} ms (max) after its 202")
        # The bar is for the real build; the sanitizer build runs several times slower.
        bound = 0.500 if os.environ.get("INTERVENE_SANITIZE") else 0.100
        assert lat[-1] < bound
        wait_for(lambda: "sse subscriber too slow" in srv.stderr_text(), timeout=10,
                 msg="the stalled subscriber to be cut off")
        # what it finds when it reads at last: what was sent, then the end
        stalled.sock.settimeout(5)
        while not stalled.closed:
            stalled.read_some(timeout=5)
        assert stalled.closed
    finally:
        stalled.close()
        pool.close()


def test_events_of_another_process_arrive_within_a_second(server):
    s = sub(server)
    try:
        name = unique("cli-tok")
        t0 = time.monotonic()
        server.create_token(name, "viewer")  # a local command: another process writes
        s.until(lambda st: any(f.event == "token_created" and f.data["name"] == name
                               for f in st.events()), timeout=5)
        assert time.monotonic() - t0 < 2.5
        assert s.headers.get("x-request-id")
    finally:
        s.close()


def test_head_gives_the_stream_head_without_a_stream(server):
    st, h, body = server.request("HEAD", "/api/sse/events")
    assert st == 200 and h["content-type"].startswith("text/event-stream") and not body


def test_stalled_subscribers_cost_bounded_memory(make_server):
    """300 subscribers that never read, while 6,000 incidents are created (~1.3 kB events):
    each is cut off at its cap, and the server's memory stays small (what a socket does
    not take is queued by copy, up to 128 KiB; referencing each frame cost a libevent chunk
    of 1 KiB or more, and with a 1 MiB cap 300 such queues took hundreds of MB)."""
    srv = make_server({"server": {"max_connections": 2000},
                       "policy": {"rate_limit": {"max": 1000000}}})

    def rss_kb():
        with open(f"/proc/{srv.proc.pid}/status") as f:
            return int(next(l for l in f if l.startswith("RssAnon:")).split()[1])

    stalled = [Stream(srv.port, "/api/sse/events", srv.token, rcvbuf=4096) for _ in range(300)]
    try:
        wait_for(lambda: "intervene_sse_subscribers 300" in srv.request("GET", "/metrics")[2],
                 timeout=20, msg="300 subscribers")
        before = rss_kb()
        peak = before
        for i in range(60):
            st, _ = srv.post("/api/signals", [{"kind": "manual", "key": unique("many"),
                                               "summary": "many"} for _ in range(100)])
            assert st == 202
            peak = max(peak, rss_kb())
        wait_for(lambda: srv.stderr_text().count("sse subscriber too slow") == 300, timeout=30,
                 msg="every stalled subscriber cut off")
        peak = max(peak, rss_kb())
        print(f"300 stalled subscribers: server RssAnon {before / 1024:.1f} MB before, "
              f"{peak / 1024:.1f} MB at the peak")
        if not os.environ.get("INTERVENE_SANITIZE"):  # ASan keeps freed memory in quarantine
            assert peak - before < 80 * 1024
    finally:
        for s in stalled:
            s.close()
