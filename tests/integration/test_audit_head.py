"""`intervene audit verify` against the stored head of the event log (SPEC §3): events
deleted from the end are named, and a changed link is told apart from changed contents."""
import sqlite3

from harness import unique


def populate(s, n=4):
    for i in range(n):
        s.signal(key=unique("head"), summary=f"head test {i}")
    return s.all_events()


def test_deleted_tail_is_named(server):
    s = server
    evs = populate(s)
    last = evs[-1]["id"]
    s.stop()
    r = s.cli("audit", "verify")
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
    assert "stored head" in r.stdout
    con = sqlite3.connect(s.db_path)
    con.execute("DELETE FROM events WHERE id > ?", (last - 2,))
    con.commit()
    con.close()
    r = s.cli("audit", "verify")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert f"events {last - 1}..{last} are missing from the end of the log" in out, out


def test_link_and_contents_are_different_failures(server):
    s = server
    evs = populate(s)
    mid = evs[len(evs) // 2]["id"]
    s.stop()
    con = sqlite3.connect(s.db_path)
    (data,) = con.execute("SELECT data FROM events WHERE id = ?", (mid,)).fetchone()
    con.execute("UPDATE events SET data = ? WHERE id = ?", (data.replace("head", "HEAD"), mid))
    con.commit()
    r = s.cli("audit", "verify")
    assert r.returncode == 1 and f"event {mid}: contents changed" in r.stdout, r.stdout
    con.execute("UPDATE events SET data = ? WHERE id = ?", (data, mid))
    # change the first hex digit, whatever it was ('f' itself becomes 'e')
    con.execute("UPDATE events SET prev_hash = (CASE substr(prev_hash, 1, 1) WHEN 'f' THEN 'e' "
                "ELSE 'f' END) || substr(prev_hash, 2) WHERE id = ?", (mid,))
    con.commit()
    con.close()
    r = s.cli("audit", "verify")
    assert r.returncode == 1 and f"event {mid}: broken link" in r.stdout, r.stdout
