"""`intervene events --follow` (SPEC §6, §12): the client follows the server's event
stream (GET /api/sse/events), prints each event once in id order, and resumes with
Last-Event-ID after a dropped connection; a refusal ends it with exit 1, SIGINT or
SIGTERM with exit 0."""
import json
import os
import queue
import re
import signal
import subprocess
import threading

import pytest

from harness import free_port, unique, wait_for

RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


class Follower:
    """`intervene --config <srv config> events --follow ARGS` (the binary, config and
    environment Server.cli() uses), its stdout and stderr lines read by threads."""

    def __init__(self, srv, *args):
        e = srv.env()
        e.pop("INTERVENE_BOOTSTRAP_TOKEN", None)
        self.proc = subprocess.Popen(
            [srv.bin, "--config", srv.config_path, "events", "--follow", "--token", srv.token,
             *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, cwd=srv.dir)
        self.out, self.err = [], []
        self._q = queue.Queue()
        self._open = 2
        for seen, stream in ((self.out, self.proc.stdout), (self.err, self.proc.stderr)):
            threading.Thread(target=self._read, args=(stream, seen), daemon=True).start()

    def _read(self, stream, seen):
        for line in stream:
            self._q.put((seen, line))
        self._q.put((None, None))

    def _drain(self):
        while True:
            try:
                seen, line = self._q.get_nowait()
            except queue.Empty:
                return
            if seen is None:
                self._open -= 1
            else:
                seen.append(line)

    def wait_out(self, cond, timeout=15):
        """Wait until cond(stdout lines so far) holds; returns the lines."""
        wait_for(lambda: (self._drain(), cond(self.out))[1], timeout=timeout,
                 msg="followed output")
        return list(self.out)

    def wait_err(self, cond, timeout=15, msg="stderr"):
        wait_for(lambda: (self._drain(), cond(self.err))[1], timeout=timeout, msg=msg)
        return list(self.err)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Send sig, wait for the exit and the last output; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        wait_for(lambda: (self._drain(), self._open == 0)[1], timeout=5, msg="end of output")
        return rc


def subscribers(srv):
    st, _, text = srv.request("GET", "/metrics")
    assert st == 200, (st, text)
    m = re.search(r"^intervene_sse_subscribers (\d+)$", text, re.M)
    assert m, text
    return int(m.group(1))


def wait_subscribed(srv, n=1):
    wait_for(lambda: subscribers(srv) == n, timeout=10, msg=f"{n} stream subscriber(s)")


def last_id(srv):
    evs = srv.all_events()
    return evs[-1]["id"] if evs else 0


def json_events(lines):
    return [json.loads(l) for l in lines]


def as_followed(ev):
    """What --format json prints for an event of GET /api/events."""
    return {"id": ev["id"], "type": ev["type"], "data": ev["data"]}


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"


def make_some(srv):
    """An incident, a duplicate signal, an acknowledgement: three events."""
    key = unique("fol")
    iid = srv.new_incident(key=key)
    srv.signal(key=key)
    srv.transition(iid, "acknowledge")
    return iid


# ---------------------------------------------------------------------------- new events

@pytest.mark.parametrize("fmt", ["text", "json"])
def test_new_events_one_line_each_in_order(server, fmt):
    s = server
    start = last_id(s)
    f = Follower(s, "--format", fmt)
    try:
        wait_subscribed(s)
        iid = make_some(s)
        want = [e for e in s.all_events() if e["id"] > start]
        assert len(want) >= 3
        if fmt == "json":
            lines = f.wait_out(lambda o: len(o) >= len(want))
            assert lines == [canonical(as_followed(e)) for e in want]
        else:
            lines = f.wait_out(lambda o: len(o) >= len(want) + 1)
            assert re.match(r"^ID\s+RECEIVED\s+TYPE\s+INCIDENT\s+DATA$", lines[0]), lines[0]
            rows = lines[1:]
            assert len(rows) == len(want), rows
            for line, ev in zip(rows, want):
                m = re.match(rf"^(\d+)\s+({RFC3339})\s+(\S+)\s+(\S+)\s+(.*)$", line)
                assert m, line
                assert int(m.group(1)) == ev["id"] and m.group(3) == ev["type"], (line, ev)
                assert m.group(4) == str(iid), line
            assert "summary=something broke" in rows[0]
            assert "change_type=deduplicated" in rows[1]
            assert "change_type=acknowledged" in rows[2]
    finally:
        rc = f.stop(signal.SIGINT if fmt == "text" else signal.SIGTERM)
    assert rc == 0, f.err
    assert f.err == [], f.err
    assert len(f.out) == len(want) + (fmt == "text"), f.out  # nothing more, nothing twice


def test_after_id_replays_then_follows(server):
    s = server
    make_some(s)
    evs = s.all_events()
    after = evs[1]["id"]
    f = Follower(s, "--after-id", str(after), "--format", "json")
    try:
        f.wait_out(lambda o: len(o) >= len(evs) - 2)
        wait_subscribed(s)
        make_some(s)
        want = [as_followed(e) for e in s.all_events() if e["id"] > after]
        lines = f.wait_out(lambda o: len(o) >= len(want))
        assert json_events(lines) == want
    finally:
        rc = f.stop()
    assert rc == 0 and f.err == [], f.err


def test_reset_then_new_events(server):
    """An id the log does not hold (here: beyond the newest) makes the stream reset: a
    note on stderr, then the events from there on."""
    s = server
    make_some(s)
    start = last_id(s)
    f = Follower(s, "--after-id", str(start + 1000), "--format", "json")
    try:
        f.wait_err(lambda e: len(e) >= 1, msg="the reset note")
        assert f.err == [f"intervene: the stream reset: events after {start + 1000} are no longer "
                         "in the log; continuing with new events\n"]
        make_some(s)
        want = [as_followed(e) for e in s.all_events() if e["id"] > start]
        lines = f.wait_out(lambda o: len(o) >= len(want))
        assert json_events(lines) == want
    finally:
        rc = f.stop()
    assert rc == 0 and len(f.err) == 1, f.err


# ------------------------------------------------------------------------------ resuming

def test_resumes_after_a_restart_without_gap_or_duplicate(server):
    s = server
    start = last_id(s)
    f = Follower(s, "--format", "json")
    try:
        wait_subscribed(s)
        make_some(s)
        f.wait_out(lambda o: len(o) >= 3)
        s.stop()
        # one stderr line per attempt: the drop, then a failed attempt
        f.wait_err(lambda e: len(e) >= 2, msg="two reconnection notes")
        # frozen, it cannot reconnect while events are made: they are made while it is away
        os.kill(f.proc.pid, signal.SIGSTOP)
        try:
            s.start()
            make_some(s)
            assert subscribers(s) == 0
        finally:
            os.kill(f.proc.pid, signal.SIGCONT)
        wait_subscribed(s)
        make_some(s)
        want = [as_followed(e) for e in s.all_events() if e["id"] > start]
        assert len(want) >= 9
        lines = f.wait_out(lambda o: len(o) >= len(want), timeout=30)
        assert json_events(lines) == want
    finally:
        rc = f.stop()
    assert rc == 0, f.err
    assert len(f.out) == len(want), f.out
    assert len(f.err) >= 2
    for line in f.err:
        assert re.match(r"^intervene: .*; reconnecting in \d+\.\d s \(after event \d+\)$", line), f.err
    assert "the server ended the event stream" in f.err[0] or "broke" in f.err[0], f.err
    assert "cannot reach" in f.err[1], f.err
    assert "reconnecting in 0.5 s" in f.err[0] and "reconnecting in 1.0 s" in f.err[1], f.err


# ------------------------------------------------------------------------------- filters

def test_types_and_incident_filters(server):
    s = server
    start = last_id(s)
    by_type = Follower(s, "--types", "incident_created", "--types", "sla_breached",
                       "--format", "json")
    try:
        wait_subscribed(s, 1)
        first = make_some(s)
        by_inc = Follower(s, "--incident-id", str(first), "--format", "json")
        try:
            wait_subscribed(s, 2)
            make_some(s)
            s.transition(first, "mitigate")
            all_new = [e for e in s.all_events() if e["id"] > start]
            want_type = [as_followed(e) for e in all_new if e["type"] in ("incident_created", "sla_breached")]
            assert len(want_type) == 2
            lines = by_type.wait_out(lambda o: len(o) >= len(want_type))
            assert json_events(lines) == want_type
            # the incident follower started after `first`'s first three events
            want_inc = [as_followed(e) for e in all_new[3:] if e["data"].get("incident", {}).get("id") == first]
            assert [e["type"] for e in want_inc] == ["incident_updated"]
            lines = by_inc.wait_out(lambda o: len(o) >= len(want_inc))
            assert json_events(lines) == want_inc
        finally:
            assert by_inc.stop() == 0
    finally:
        assert by_type.stop() == 0
    assert len(by_type.out) == 2 and len(by_inc.out) == 1, (by_type.out, by_inc.out)


# ------------------------------------------------------------------------------ refusals

def test_refusals_are_final(shared_server):
    s = shared_server
    r = s.cli("events", "--follow", "--token", "not-a-token", timeout=20)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "(unauthorized, HTTP 401)" in r.stderr, r.stderr
    assert "reconnecting" not in r.stderr
    r = s.cli("events", "--follow", "--token", "not-a-token", "--format", "json", timeout=20)
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"]["code"] == "unauthorized"
    r = s.cli("events", "--follow", "--token", s.token, "--types", "nope", timeout=20)
    assert r.returncode == 1 and "HTTP 400)" in r.stderr and "field: types" in r.stderr, r.stderr


def test_unreachable_at_start_exit_1(shared_server):
    s = shared_server
    r = s.cli("events", "--follow", "--token", s.token, "--server", f"http://127.0.0.1:{free_port()}",
              timeout=20)
    assert r.returncode == 1 and "cannot reach" in r.stderr, (r.returncode, r.stderr)


# ------------------------------------------------------------------------------ stopping

def test_sigterm_while_reconnecting_exit_0(server):
    s = server
    f = Follower(s)
    try:
        wait_subscribed(s)
        s.kill9()
        f.wait_err(lambda e: any("reconnecting" in l for l in e), msg="a reconnection note")
    finally:
        rc = f.stop(signal.SIGTERM, timeout=5)
    assert rc == 0, f.err
