"""Black-box harness for the intervene server (Python standard library only).

`Server` owns a temporary directory holding `intervene.yaml` and the SQLite database,
starts `intervene --config <file> serve` on a free 127.0.0.1 port and talks to it over
real sockets with http.client.

A server is judged when it stops, never killed silently: `stop()` and `cleanup()` send
SIGTERM (SIGKILL only after a timeout, which is itself a failure), a non-zero exit
status fails (except the runs a test ended on purpose with `kill9()`), and a sanitizer
report on the server's stderr (every start of it, kill -9 runs included) fails with the
report printed. `cli()` fails the same way on a sanitizer report. The store comes from
INTERVENE_TEST_STORE (see `store_url`).
"""

import datetime as _dt
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("INTERVENE_BIN", os.path.join(REPO, "build", "intervene"))

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ZERO_HASH = "0" * 64

# Sentinel meaning "use the server's admin token".
ADMIN = object()


# --------------------------------------------------------------------------- YAML

_PLAIN_RE = re.compile(r"^[A-Za-z0-9_./:@+-][A-Za-z0-9_./:@+\- ]*$")
_YAML_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def _yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if (_PLAIN_RE.match(s) and s.lower() not in _YAML_SPECIAL and not s.endswith(" ")
            and ": " not in s and " #" not in s and not re.match(r"^[-+]?[0-9.]+$", s)):
        return s
    return json.dumps(s)  # a YAML double-quoted scalar


def to_yaml(obj, indent=0):
    """Emit a small subset of YAML: nested maps, scalars, lists."""
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, dict):
                if v:
                    lines.append(f"{pad}{k}:\n" + to_yaml(v, indent + 1))
                else:
                    lines.append(f"{pad}{k}: {{}}\n")
            elif isinstance(v, list):
                if not v:
                    lines.append(f"{pad}{k}: []\n")
                elif all(not isinstance(x, (dict, list)) for x in v):
                    lines.append(f"{pad}{k}: [" + ", ".join(_yaml_scalar(x) for x in v) + "]\n")
                else:
                    lines.append(f"{pad}{k}:\n" + to_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v)}\n")
        return "".join(lines)
    if isinstance(obj, list):
        for x in obj:
            if isinstance(x, dict):
                body = to_yaml(x, indent + 1)
                # put the first key on the dash line
                first, _, rest = body.partition("\n")
                lines.append(f"{pad}- {first.strip()}\n{rest}")
            else:
                lines.append(f"{pad}- {_yaml_scalar(x)}\n")
        return "".join(lines)
    return pad + _yaml_scalar(obj) + "\n"


def deep_merge(base, extra):
    out = dict(base)
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------- helpers

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_ts(s):
    assert isinstance(s, str) and TS_RE.match(s), f"not an RFC 3339 ms UTC timestamp: {s!r}"
    return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)


def fmt_ts(d):
    d = d.astimezone(_dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def wait_for(cond, timeout=5.0, interval=0.02, msg="condition"):
    """Poll cond() until it returns a truthy value; return it, or raise."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {msg} (last: {last!r})")
        time.sleep(interval)


def event_hash(prev_hash, ev_id, ev_type, incident_id, actor, created_at, data_text):
    parts = [prev_hash, str(ev_id), ev_type, "" if incident_id is None else str(incident_id),
             actor, created_at, data_text]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def unique(prefix="k"):
    return f"{prefix}-{secrets.token_hex(6)}"


class ServerError(Exception):
    pass


class ServerProblem(AssertionError):
    """A server or CLI run ended badly: an exit status, a timeout, a sanitizer report."""


# --------------------------------------------------------------------------- store

def store_url(db_path):
    """The storage URL of a test server, from INTERVENE_TEST_STORE: unset or `sqlite`
    → a fresh SQLite file (db_path, in the server's own directory); a postgres:// URL
    → not available yet."""
    want = os.environ.get("INTERVENE_TEST_STORE", "").strip()
    if want in ("", "sqlite"):
        return f"sqlite://{db_path}"
    if want.startswith(("postgres://", "postgresql://")):
        raise ServerError("INTERVENE_TEST_STORE is a PostgreSQL URL: PostgreSQL backend not "
                          "built yet (unset it or use sqlite)")
    raise ServerError(f"INTERVENE_TEST_STORE={want!r} is not understood: leave it unset, or "
                      f"use sqlite or a postgres://... URL")


# --------------------------------------------------------------------------- sanitizers

# Lines that open a report of ASan, LSan, UBSan or TSan. The server's own log lines
# (logfmt, starting "level=") may quote text and are never taken for one.
_SAN_START = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                        r"SUMMARY: UndefinedBehaviorSanitizer|ThreadSanitizer")
SANITIZER_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS")


def sanitizer_reports(text, max_lines=200, max_chars=12000):
    """The sanitizer reports in text (a process's stderr), each from its first line
    (with the "====" rule above it) to its "SUMMARY:" line."""
    lines = (text or "").splitlines()
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith("level=") or not _SAN_START.search(lines[i]):
            i += 1
            continue
        start = i
        while start > 0 and i - start < 2 and lines[start - 1].startswith("====="):
            start -= 1
        end = i
        while end < len(lines) - 1 and end - i < max_lines and not lines[end].startswith("SUMMARY:"):
            end += 1
        report = "\n".join(lines[start:end + 1])
        out.append(report if len(report) <= max_chars else report[:max_chars] + "\n[...]")
        i = end + 1
    return out


def _split_opts(value):
    return [o for o in (value or "").split(":") if o]


def without_log_path(env):
    """env with log_path removed from the sanitizer options: the runtime then writes
    to stderr, which the harness reads."""
    e = dict(env)
    for v in SANITIZER_VARS:
        if v in e:
            e[v] = ":".join(o for o in _split_opts(e[v]) if not o.startswith("log_path="))
    return e


def log_path_of(value):
    for o in _split_opts(value):
        if o.startswith("log_path="):
            return o[len("log_path="):]
    return None


def with_log_path(value, path):
    return ":".join([o for o in _split_opts(value) if not o.startswith("log_path=")]
                    + [f"log_path={path}"])


def sanitizer_log_files(prefix, pid):
    """The files a runtime with log_path=prefix wrote for pid (<prefix>.<pid>[.*])."""
    if not prefix:
        return []
    d, base = os.path.split(prefix)
    try:
        names = os.listdir(d or ".")
    except OSError:
        return []
    want = f"{base}.{pid}"
    return sorted(os.path.join(d, n) for n in names if n == want or n.startswith(want + "."))


def describe_reports(what, reports):
    return (f"{what}: {len(reports)} sanitizer report(s)\n"
            + "\n----\n".join(reports))


# Every Server not yet cleaned up, oldest first (conftest cleans up the ones a test
# left behind).
SERVERS = []


# --------------------------------------------------------------------------- Server

class Server:
    """One intervene process with its own directory, config, database and port."""

    def __init__(self, config=None, bootstrap_token=True, env=None, start=True, raw_config=None,
                 binary=None):
        self.bin = binary or BIN
        if not os.path.exists(self.bin):
            raise ServerError(f"intervene binary not found at {self.bin} (build it or set INTERVENE_BIN)")
        self.dir = tempfile.mkdtemp(prefix="intervene-it-")
        self.port = free_port()
        self.db_path = os.path.join(self.dir, "intervene.db")
        self.config_path = os.path.join(self.dir, "intervene.yaml")
        try:
            url = store_url(self.db_path)
        except ServerError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        base = {
            "server": {"listen": f"127.0.0.1:{self.port}"},
            "storage": {"url": url},
            "watcher": {"enabled": False},
        }
        self.config = deep_merge(base, config or {})
        if raw_config is not None:
            self.config_text = raw_config
        else:
            self.config_text = to_yaml(self.config)
        with open(self.config_path, "w") as f:
            f.write(self.config_text)
        self.token = secrets.token_urlsafe(32) if bootstrap_token is True else bootstrap_token
        self.extra_env = dict(env or {})
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self._starts = 0
        # One entry per start: pid, where its stderr begins and ends, its exit status,
        # whether a test killed it on purpose, and whether it has been judged yet.
        self.runs = []
        self.cleaned = False
        SERVERS.append(self)
        if start:
            self.start()

    # ---- process control

    def env(self):
        e = dict(os.environ)
        e.pop("INTERVENE_CONFIG", None)
        e.pop("INTERVENE_TOKEN", None)
        e.pop("INTERVENE_BOOTSTRAP_TOKEN", None)
        if self.token:
            e["INTERVENE_BOOTSTRAP_TOKEN"] = self.token
        e.update(self.extra_env)
        return e

    def start(self, timeout=10.0):
        assert not self.alive(), "start() of a running server"
        self._ended()  # a previous run that ended on its own
        self._starts += 1
        mode = "w" if self._starts == 1 else "a"
        self._err_f = open(self.stderr_path, mode)
        self._out_f = open(self.stdout_path, mode)
        self._stderr_offset = self._err_f.tell()
        self.proc = subprocess.Popen(
            [self.bin, "--config", self.config_path, "serve"],
            stdout=self._out_f, stderr=self._err_f, stdin=subprocess.DEVNULL,
            env=without_log_path(self.env()), cwd=self.dir)
        run = {"start": self._starts, "pid": self.proc.pid, "offset": self._stderr_offset,
               "end": None, "rc": None, "killed": False, "judged": False}
        self.runs.append(run)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._ended()
                run["judged"] = True
                raise ServerError(
                    f"intervene serve exited with {self.proc.returncode} during startup:\n"
                    + self.stderr_text(since_start=True))
            try:
                st, _, _ = self.request("GET", "/healthz", token=None, timeout=1.0)
                if st == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() >= deadline:
                self.proc.kill()
                self.proc.wait()
                self._ended()
                run["judged"] = True
                raise ServerError("intervene serve did not answer /healthz within %ss:\n%s"
                                  % (timeout, self.stderr_text(since_start=True)))
            time.sleep(0.02)
        if not self.token:
            # Parse the printed bootstrap line (first start only prints it).
            m = re.search(r"^admin token: (\S+)$", self.stderr_text(), re.M)
            if m:
                self.token = m.group(1)
        return self

    def stderr_text(self, since_start=False):
        try:
            self._err_f.flush()
        except Exception:
            pass
        with open(self.stderr_path, errors="replace") as f:
            if since_start:
                f.seek(self._stderr_offset)
            return f.read()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _ended(self):
        """Note the exit of the current run (its status, where its stderr ends)."""
        run = self.runs[-1] if self.runs else None
        if run is None or run["rc"] is not None or self.proc is None or self.proc.poll() is None:
            return run
        run["rc"] = self.proc.returncode
        run["end"] = os.path.getsize(self.stderr_path)
        self._close_files()
        return run

    def _run_stderr(self, run):
        with open(self.stderr_path, "rb") as f:
            f.seek(run["offset"])
            data = f.read((run["end"] - run["offset"]) if run["end"] is not None else -1)
        return data.decode("utf-8", "replace")

    def _judge(self, run, check_rc=True):
        """The problems of an ended run: its sanitizer reports (always), its exit status
        unless a test killed it on purpose."""
        run["judged"] = True
        what = f"intervene serve (start {run['start']}, pid {run['pid']}, exit {run['rc']})"
        text = self._run_stderr(run)
        for path in sanitizer_log_files(log_path_of(os.environ.get("ASAN_OPTIONS")), run["pid"]):
            with open(path, errors="replace") as f:
                text += "\n" + f.read()
        reports = sanitizer_reports(text)
        problems = []
        if check_rc and not run["killed"] and run["rc"] != 0:
            how = ("killed by signal %d" % -run["rc"]) if run["rc"] < 0 else f"exited with {run['rc']}"
            if reports:
                problems.append(f"{what} {how}")
            else:
                problems.append(f"{what} {how}; its stderr ends:\n" + text[-3000:])
        if reports:
            problems.append(describe_reports(what, reports))
        return problems

    def stop(self, timeout=10.0, check=True):
        """SIGTERM; wait; return the exit status. Fails (ServerProblem) when the server
        does not exit within timeout (it is then killed), when its stderr carries a
        sanitizer report, and, when check, when the status is not 0."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self._ended()
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            run = self._ended()
            problems = [f"intervene serve did not exit within {timeout}s of SIGTERM (killed "
                        f"with SIGKILL); its stderr ends:\n" + self._run_stderr(run)[-3000:]]
            problems += self._judge(run, check_rc=False)
            raise ServerProblem("\n\n".join(problems))
        run = self._ended()
        problems = self._judge(run, check_rc=check)
        if problems:
            raise ServerProblem("\n\n".join(problems))
        return run["rc"]

    def kill9(self):
        """SIGKILL on purpose: the exit status is not judged, the stderr still is."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.runs[-1]["killed"] = True
        self._ended()
        self._close_files()

    def restart(self):
        self.stop()
        return self.start()

    def _close_files(self):
        for f in (getattr(self, "_err_f", None), getattr(self, "_out_f", None)):
            try:
                f and f.close()
            except Exception:
                pass

    def cleanup(self, timeout=10.0):
        """Stop the server (SIGTERM) if it runs, judge every run not judged yet, remove
        the directory. Raises ServerProblem listing every problem found."""
        if self.cleaned:
            return
        self.cleaned = True
        problems = []
        try:
            if self.alive():
                try:
                    self.stop(timeout=timeout)
                except ServerProblem as e:
                    problems.append(str(e))
            else:
                self._ended()
            for run in self.runs:
                if not run["judged"]:
                    problems += self._judge(run)
        finally:
            self._close_files()
            if self in SERVERS:
                SERVERS.remove(self)
            if not os.environ.get("INTERVENE_KEEP_TMP"):
                shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise ServerProblem("\n\n".join(problems))

    # ---- CLI

    def cli(self, *args, timeout=20, env=None, input=None):
        """Run `intervene --config <ours> ARGS`; fails on a sanitizer report."""
        e = self.env()
        e.pop("INTERVENE_BOOTSTRAP_TOKEN", None)
        if env:
            e.update(env)
        r = subprocess.run([self.bin, "--config", self.config_path, *args], capture_output=True,
                           text=True, timeout=timeout, env=without_log_path(e), cwd=self.dir,
                           input=input)
        reports = sanitizer_reports(r.stderr)
        if reports:
            raise ServerProblem(describe_reports(
                f"intervene {' '.join(args)} (exit {r.returncode})", reports))
        return r

    def create_token(self, name, role, expires=None):
        args = ["token", "create", "--name", name, "--role", role]
        if expires:
            args += ["--expires", expires]
        r = self.cli(*args)
        assert r.returncode == 0, f"token create failed ({r.returncode}): {r.stdout}{r.stderr}"
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        assert len(lines) == 1, f"token create must print exactly the token: {r.stdout!r}"
        return lines[0].strip()

    # ---- HTTP

    def request(self, method, path, body=None, token=ADMIN, headers=None, raw=None,
                timeout=15.0, content_type="application/json"):
        """→ (status, headers with lower-cased names, parsed JSON or text)."""
        h = {}
        if token is ADMIN:
            token = self.token
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None and content_type:
            h["Content-Type"] = content_type
        if headers:
            h.update(headers)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            payload = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        text = payload.decode("utf-8", errors="replace")
        parsed = text
        if "json" in hdrs.get("content-type", "") or text[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
        return status, hdrs, parsed

    # convenience wrappers returning (status, json)
    def get(self, path, **kw):
        st, _, b = self.request("GET", path, **kw)
        return st, b

    def post(self, path, body=None, **kw):
        st, _, b = self.request("POST", path, body=body, **kw)
        return st, b

    def patch(self, path, body=None, **kw):
        st, _, b = self.request("PATCH", path, body=body, **kw)
        return st, b

    def delete(self, path, **kw):
        st, _, b = self.request("DELETE", path, **kw)
        return st, b

    # domain helpers
    def signal(self, key=None, kind="manual", summary="something broke", **fields):
        body = {"kind": kind, "summary": summary, **fields}
        if key is not None:
            body["key"] = key
        st, b = self.post("/api/signals", body)
        assert st == 202, f"signal → {st} {b}"
        return b

    def incident(self, iid, **kw):
        st, b = self.get(f"/api/incidents/{iid}", **kw)
        assert st == 200, f"GET incident {iid} → {st} {b}"
        return b["incident"]

    def new_incident(self, key=None, severity="sev3", **fields):
        key = key or unique("manual")
        r = self.signal(key=key, severity=severity, **fields)
        assert r["outcome"] == "created", r
        return r["incident_id"]

    def transition(self, iid, verb, body=None, expect=200, **kw):
        st, b = self.post(f"/api/incidents/{iid}/{verb}", body if body is not None else {}, **kw)
        assert st == expect, f"{verb} {iid} → {st} {b}"
        return b

    def all_events(self, **params):
        """Every event via /api/events, following after_id."""
        out = []
        after = 0
        while True:
            q = "&".join(f"{k}={v}" for k, v in params.items())
            st, b = self.get(f"/api/events?after_id={after}&limit=1000" + ("&" + q if q else ""))
            assert st == 200, (st, b)
            evs = b["events"]
            out.extend(evs)
            if len(evs) < 1000:
                return out
            after = evs[-1]["id"]


def assert_error(status, body, want_status, code, field=None):
    assert status == want_status, f"want {want_status} {code}, got {status}: {body}"
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not an error body: {body!r}"
    err = body["error"]
    for k in ("code", "message", "details"):
        assert k in err, f"error lacks {k}: {body}"
    assert err["code"] == code, f"want code {code}: {body}"
    assert isinstance(err["message"], str) and err["message"], body
    if field is not None:
        assert isinstance(err["details"], dict), body
        assert err["details"].get("field") == field, f"want details.field={field!r}: {body}"
    return err
