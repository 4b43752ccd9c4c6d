"""A small Server-Sent Events client for the tests (SPEC §6): one socket per stream,
frames parsed as they arrive. Many streams are read from one thread with a selector
(`Pool`), so a test can hold a thousand subscribers without a thread each."""
import json
import re
import selectors
import socket
import time

_FRAME_END = re.compile(rb"\r?\n\r?\n")
_ID = re.compile(rb"(?m)^id: (\d+)$")


class Frame:
    def __init__(self, fields, t):
        self.fields = fields          # list of (name, value) in order
        self.t = t                    # time.monotonic() when it was parsed
        self.id = None
        self.event = "message"
        data = []
        for k, v in fields:
            if k == "id":
                self.id = int(v)
            elif k == "event":
                self.event = v
            elif k == "data":
                data.append(v)
            elif k == "retry":
                self.retry = int(v)
        self.data_text = "\n".join(data) if data else None

    @property
    def data(self):
        return json.loads(self.data_text) if self.data_text is not None else None

    def __repr__(self):
        return f"<Frame {self.event} id={self.id}>"


class Stream:
    """GET path on 127.0.0.1:port with headers; status, headers, frames as they come."""

    def __init__(self, port, path="/api/sse/events", token=None, headers=None, rcvbuf=None,
                 timeout=10.0, light=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        h = {"Host": f"127.0.0.1:{port}", "Accept": "text/event-stream"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.body = b""          # a non-stream reply's body
        self.frames = []
        self.closed = False
        self.bytes = 0
        self.connected = False   # the `connected` frame arrived
        self.n_events = 0        # frames with an id
        self.last_id = 0         # the last of them
        self.light = light       # keep only the ids (self.ids), for streams by the thousand
        self.ids = []

    def fileno(self):
        return self.sock.fileno()

    def feed(self, data):
        """Parse received bytes; returns new frames."""
        if not data:
            self.closed = True
            return []
        self.bytes += len(data)
        self.buf += data
        out = []
        if self.status is None:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return out
            head, self.buf = self.buf[:i].decode("latin-1"), self.buf[i + 4:]
            lines = head.split("\r\n")
            self.status = int(lines[0].split()[1])
            for l in lines[1:]:
                k, _, v = l.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            if self.status != 200:
                self.body = self.buf
                self.buf = b""
                return out
        if self.status != 200:
            self.body += self.buf
            self.buf = b""
            return out
        if self.light:
            end = self.buf.rfind(b"\n\n")
            if end < 0:
                return out
            region, self.buf = self.buf[:end + 2], self.buf[end + 2:]
            if not self.connected and b"event: connected" in region:
                self.connected = True
            ids = [int(x) for x in _ID.findall(region)]
            if ids:
                self.ids.extend(ids)
                self.n_events += len(ids)
                self.last_id = ids[-1]
            return out
        now = time.monotonic()
        while True:
            m = _FRAME_END.search(self.buf)
            if not m:
                break
            block, self.buf = self.buf[:m.start()], self.buf[m.end():]
            fields = []
            for line in block.decode("utf-8").splitlines():
                if not line or line.startswith(":"):
                    continue
                k, _, v = line.partition(":")
                fields.append((k, v[1:] if v.startswith(" ") else v))
            if fields:
                f = Frame(fields, now)
                out.append(f)
                if f.id is not None:
                    self.n_events += 1
                    self.last_id = f.id
                elif f.event == "connected":
                    self.connected = True
        self.frames.extend(out)
        return out

    def read_some(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        return self.feed(data)

    def until(self, cond, timeout=10.0):
        """Read until cond(self) is true; AssertionError on timeout or close."""
        end = time.monotonic() + timeout
        while not cond(self):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"stream: condition not met in {timeout}s; frames "
                                     f"{[(f.event, f.id) for f in self.frames[-5:]]}")
            if self.closed:
                raise AssertionError("stream closed before the condition was met")
            try:
                self.read_some(timeout=min(left, 1.0))
            except socket.timeout:
                pass
        return self

    def events(self, kind=None):
        return [f for f in self.frames if f.id is not None and (kind is None or f.event == kind)]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Pool:
    """Many streams read from one thread."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.streams = []

    def add(self, s):
        s.sock.setblocking(False)
        self.sel.register(s.sock, selectors.EVENT_READ, s)
        self.streams.append(s)

    def pause(self, s):
        self.sel.unregister(s.sock)

    def poll(self, timeout=0.2):
        for key, _ in self.sel.select(timeout):
            s = key.data
            try:
                data = s.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            s.feed(data)
            if not data:
                self.sel.unregister(s.sock)

    def until(self, cond, timeout=30.0):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(f"streams: condition not met in {timeout}s")
            self.poll(0.1)

    def close(self):
        for s in self.streams:
            s.close()
        self.sel.close()
