"""The event stream through a reverse proxy (issue 11 point 3): Debian's nginx in front of
the server, configured with the snippet of docs/events.md, delivers events without
buffering delay and keeps the stream open with heartbeats."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from harness import REPO, free_port, unique
from sse import Stream

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def snippet():
    text = open(os.path.join(REPO, "docs", "events.md"), encoding="utf-8").read()
    m = re.search(r"```\n(location /api/sse/ \{.*?\n\})\n```", text, re.S)
    assert m, "docs/events.md has no nginx snippet for /api/sse/"
    return m.group(1)


@pytest.fixture
def nginx(make_server):
    if not os.path.exists(NGINX):
        if os.environ.get("INTERVENE_CI") == "1":
            pytest.fail("nginx is not installed (tools/deps.sh installs nginx-light)")
        pytest.skip("nginx is not installed")
    srv = make_server({"server": {"sse_heartbeat": "1s"}})
    d = tempfile.mkdtemp(prefix="intervene-nginx-")
    port = free_port()
    loc = snippet().replace("127.0.0.1:8080", f"127.0.0.1:{srv.port}")
    conf = f"""
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    proxy_read_timeout 5s;
    server {{
        listen 127.0.0.1:{port};
        {loc}
        location / {{ proxy_pass http://127.0.0.1:{srv.port}; }}
    }}
}}
"""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    p = subprocess.Popen([NGINX, "-p", d, "-c", os.path.join(d, "nginx.conf"), "-g", "daemon off;"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if p.poll() is not None:
                raise AssertionError("nginx did not start: " + p.stderr.read().decode())
            time.sleep(0.05)
    try:
        yield srv, port
    finally:
        p.terminate()
        p.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


def test_events_pass_through_nginx_at_once(nginx):
    srv, port = nginx
    s = Stream(port, "/api/sse/events", srv.token)
    try:
        s.until(lambda st: st.connected, timeout=10)
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        delays = []
        for i in range(20):
            t0 = time.monotonic()
            iid = srv.new_incident(unique("nginx"))
            s.until(lambda st: any(f.event == "incident_created" and f.data["id"] == iid
                                   for f in st.events()), timeout=5)
            delays.append(time.monotonic() - t0)
        delays.sort()
        print(f"through nginx: event after its signal in {delays[len(delays) // 2] * 1000:.1f} ms "
              f"(median), {delays[-1] * 1000:.1f} ms (max)")
        assert delays[-1] < 0.5, "nginx held the events back (buffering)"
        # the stream outlives nginx's proxy_read_timeout (5 s here) thanks to heartbeats
        t0 = time.monotonic()
        s.until(lambda st: time.monotonic() - t0 > 7, timeout=10)
        assert not s.closed
        iid = srv.new_incident(unique("nginx-late"))
        s.until(lambda st: any(f.event == "incident_created" and f.data["id"] == iid
                               for f in st.events()), timeout=5)
    finally:
        s.close()
