"""The Alertmanager receiver, POST /api/integrations/alertmanager (SPEC §5.3, §4.1 kind
alert; issue 9, point 6; docs/alertmanager.md).

* Against Debian's real `prometheus-alertmanager`, started on loopback with a
  webhook_config pointing at the server and a bearer token: alerts posted to
  Alertmanager's own API open one incident per alert with the mapped severity and the
  key alert:<alertname>:<fingerprint>, repeats deduplicate, and a resolved alert
  resolves its incident.
* Directly, with hand-made payloads: the mapping, the batch reply, bad inputs (400
  naming the field and the alert's index, nothing stored), tokens (401, 403).

The binary is $INTERVENE_ALERTMANAGER_BIN, else prometheus-alertmanager on PATH
(tools/deps.sh installs the package). When it is missing the real-Alertmanager tests
skip locally and fail under INTERVENE_CI=1: CI must not pass without them.
"""
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import harness
from harness import free_port, to_yaml, unique, wait_for

TIMEOUT = 20  # per condition; the whole real-Alertmanager test takes a few seconds


def alertmanager_bin():
    env = os.environ.get("INTERVENE_ALERTMANAGER_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("prometheus-alertmanager") or shutil.which(
        "prometheus-alertmanager", path="/usr/bin:/usr/sbin")


def skip_or_fail(why):
    """Skip locally; under INTERVENE_CI=1 a missing piece is a failure."""
    if os.environ.get("INTERVENE_CI") == "1":
        pytest.fail(f"{why} (INTERVENE_CI=1: required)", pytrace=False)
    pytest.skip(why)


def iso(d):
    return d.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------- helpers

def payload(*alerts, **top):
    """A webhook message as Alertmanager 0.25 sends it."""
    msg = {
        "receiver": "intervene", "status": "firing", "alerts": list(alerts),
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093", "version": "4",
        "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0,
    }
    msg.update(top)
    return msg


def alert(name, fingerprint, status="firing", severity=None, annotations=None, **extra):
    labels = {"alertname": name, "instance": "db-1:9100"}
    if severity is not None:
        labels["severity"] = severity
    a = {"status": status, "labels": labels, "annotations": annotations or {},
         "startsAt": "2026-12-07T10:00:00.123456789Z",
         "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-07T10:05:00Z",
         "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
         "fingerprint": fingerprint}
    a.update(extra)
    return a


def fp():
    """A fresh 16-hex-digit fingerprint (Alertmanager's format)."""
    return os.urandom(8).hex()


def receive(srv, body, **kw):
    return srv.post("/api/integrations/alertmanager", body, **kw)


def incidents_with_key(srv, key):
    st, b = srv.get("/api/incidents?kind=alert&per_page=200&q=" + urllib.request.quote(key))
    assert st == 200, b
    return [i for i in b["incidents"] if i["key"] == key]


# --------------------------------------------------------------------------- direct

def test_payload_becomes_one_signal_per_alert(shared_server):
    s = shared_server
    f1, f2, f3 = fp(), fp(), fp()
    n1, n2 = unique("HighCPU"), unique("DiskFull")
    st, b = receive(s, payload(
        alert(n1, f1, severity="critical",
              annotations={"summary": "  CPU over 90% on db-1 ", "description": "long"}),
        alert(n2, f2, severity="Warning", annotations={"description": "Disk 95% full"}),
        alert(n2, f3, severity="info")))
    assert st == 202, b
    assert [r["outcome"] for r in b["results"]] == ["created"] * 3, b
    ids = [r["incident_id"] for r in b["results"]]
    assert len(set(ids)) == 3

    inc = s.incident(ids[0])
    assert inc["kind"] == "alert"
    assert inc["key"] == f"alert:{n1}:{f1}"
    assert inc["severity"] == "sev1"
    assert inc["summary"] == "CPU over 90% on db-1"
    assert inc["source"] == "alertmanager"
    d = inc["details"]
    assert d["labels"] == {"alertname": n1, "instance": "db-1:9100", "severity": "critical"}
    assert d["annotations"]["description"] == "long"
    assert d["startsAt"] == "2026-12-07T10:00:00.123456789Z"
    assert d["generatorURL"] == "http://prometheus.example:9090/graph?g0.expr=up"
    assert d["groupKey"] == "{}:{alertname=\"x\"}"
    assert d["fingerprint"] == f1 and d["alertname"] == n1
    assert d["externalURL"] == "http://alertmanager.example:9093"

    inc2 = s.incident(ids[1])
    assert (inc2["severity"], inc2["summary"]) == ("sev3", "Disk 95% full")
    inc3 = s.incident(ids[2])
    assert (inc3["severity"], inc3["summary"], inc3["key"]) == ("sev4", n2, f"alert:{n2}:{f3}")

    # the same alert again deduplicates; resolved resolves (actor: the source)
    st, b = receive(s, payload(alert(n1, f1, severity="critical")))
    assert st == 202 and b["results"] == [{"outcome": "deduplicated", "incident_id": ids[0]}], b
    assert s.incident(ids[0])["occurrences"] == 2
    st, b = receive(s, payload(alert(n1, f1, status="resolved", severity="critical"),
                               alert(unique("Never"), fp(), status="resolved"), status="resolved"))
    assert st == 202, b
    assert b["results"] == [{"outcome": "resolved", "incident_id": ids[0]},
                            {"outcome": "no_incident", "incident_id": None}], b
    inc = s.incident(ids[0])
    assert inc["status"] == "resolved" and inc["resolved_by"] == "alertmanager", inc

    # counted in /metrics like POST /api/signals
    st, _, text = s.request("GET", "/metrics")
    assert st == 200
    line = [l for l in text.splitlines()
            if l.startswith("intervene_signals_total{") and 'kind="alert"' in l
            and 'outcome="created"' in l]
    assert line and int(float(line[0].rsplit(" ", 1)[1])) >= 3, line


SEVERITIES = [("critical", "sev1"), ("page", "sev1"), ("error", "sev2"), ("high", "sev2"),
              ("warning", "sev3"), ("info", "sev4"), ("none", "sev4"), (None, "sev3"),
              ("major", "sev3")]


def test_severity_mapping(shared_server):
    alerts = [alert(unique("Sev"), fp(), severity=label) for label, _ in SEVERITIES]
    st, b = receive(shared_server, payload(*alerts))
    assert st == 202, b
    got = [shared_server.incident(r["incident_id"])["severity"] for r in b["results"]]
    assert got == [want for _, want in SEVERITIES]


def test_fields_alertmanager_may_add_or_leave_out(shared_server):
    s = shared_server
    # the smallest message, null maps (Go's nil maps) and fields a newer version adds
    a = {"status": "firing", "labels": {"alertname": unique("Min")}, "fingerprint": fp(),
         "annotations": None, "someNewField": [1, 2]}
    st, b = receive(s, {"version": "4", "alerts": [a], "commonLabels": None,
                        "anotherNewField": {"x": 1}})
    assert st == 202 and b["results"][0]["outcome"] == "created", b
    inc = s.incident(b["results"][0]["incident_id"])
    assert inc["summary"] == a["labels"]["alertname"] and inc["severity"] == "sev3"
    assert "someNewField" not in inc["details"] and "anotherNewField" not in inc["details"]


BAD = [
    # (payload change, field, index)
    (lambda p: p.pop("version"), "version", None),
    (lambda p: p.update(version="5"), "version", None),
    (lambda p: p.update(alerts=[]), "alerts", None),
    (lambda p: p.update(alerts="x"), "alerts", None),
    (lambda p: p.update(truncatedAlerts=-1), "truncatedAlerts", None),
    (lambda p: p.update(groupLabels={"a": 1}), "groupLabels", None),
    (lambda p: p["alerts"][1]["labels"].pop("alertname"), "alerts.labels.alertname", 1),
    (lambda p: p["alerts"][2].pop("fingerprint"), "alerts.fingerprint", 2),
    (lambda p: p["alerts"][1].update(fingerprint="not hex"), "alerts.fingerprint", 1),
    (lambda p: p["alerts"][0].update(status="pending"), "alerts.status", 0),
    (lambda p: p["alerts"][2]["annotations"].update(summary=5), "alerts.annotations", 2),
    (lambda p: p["alerts"][1].update(startsAt="yesterday"), "alerts.startsAt", 1),
    (lambda p: p["alerts"].append("x"), "alerts", 3),
]


@pytest.mark.parametrize("change,field,index", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_payloads_name_the_field_and_store_nothing(shared_server, change, field, index):
    s = shared_server
    names = [unique("Bad") for _ in range(3)]
    p = payload(*[alert(n, fp(), annotations={"summary": "x"}) for n in names])
    change(p)
    st, b = receive(s, p)
    assert st == 400, b
    err = b["error"]
    assert err["code"] == "validation_failed", b
    assert err["details"]["field"] == field, b
    assert err["details"].get("index") == index, b
    if index is not None:
        assert f"alerts[{index}]" in err["message"], b
    for n in names:  # validated whole before anything is stored
        st, lst = s.get("/api/incidents?kind=alert&q=" + n)
        assert st == 200 and lst["total"] == 0, lst


def test_tokens(shared_server, role_tokens):
    s = shared_server
    body = payload(alert(unique("Tok"), fp()))
    st, b = receive(s, body, token="not-a-token")
    assert st == 401 and b["error"]["code"] == "unauthorized", b
    st, b = receive(s, body, token=None)
    assert st == 401, b
    st, b = receive(s, body, token=role_tokens["viewer"][1])
    assert st == 403 and b["error"]["code"] == "forbidden", b
    st, b = receive(s, body, token=role_tokens["responder"][1])
    assert st == 202 and b["results"][0]["outcome"] == "created", b
    inc = s.incident(b["results"][0]["incident_id"])
    assert inc["source"] == "alertmanager"


def test_rate_limit_and_silence_apply(make_server):
    s = make_server({"policy": {"rate_limit": {"max": 1, "window": {"alert": "1h"}}}})
    name, f = unique("Flap"), fp()
    st, b = receive(s, payload(alert(name, f)))
    assert b["results"][0]["outcome"] == "created", b
    receive(s, payload(alert(name, f, status="resolved")))
    st, b = receive(s, payload(alert(name, f)))
    assert st == 202 and b["results"] == [{"outcome": "rate_limited", "incident_id": None}], b
    st, b = s.post("/api/silences", {"kind": "alert", "key_glob": "alert:Quiet*", "reason": "m",
                                     "duration": "1h"})
    assert st == 201, b
    st, b = receive(s, payload(alert("Quiet" + unique(""), fp())))
    assert b["results"] == [{"outcome": "silenced", "incident_id": None}], b


# --------------------------------------------------------------------------- real Alertmanager

class Alertmanager:
    """prometheus-alertmanager on loopback with its own storage, clustering off, one
    route to intervene's receiver with a bearer token."""

    def __init__(self, binary, receiver_url, token):
        self.dir = tempfile.mkdtemp(prefix="intervene-am-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        conf = {
            "route": {"receiver": "intervene", "group_by": ["alertname"],
                      "group_wait": "1s", "group_interval": "1s", "repeat_interval": "2s"},
            "receivers": [{"name": "intervene", "webhook_configs": [{
                "url": receiver_url, "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
            }]}],
        }
        self.config_path = os.path.join(self.dir, "alertmanager.yml")
        with open(self.config_path, "w") as f:
            f.write(to_yaml(conf))
        self.log_path = os.path.join(self.dir, "alertmanager.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.config_path}",
             f"--storage.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=debug"],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for(self.ready, timeout=TIMEOUT, interval=0.1, msg="Alertmanager ready")
        except AssertionError:
            self.stop()
            raise AssertionError(f"Alertmanager did not start:\n{self.log_text()}")

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-6000:]

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"Alertmanager exited ({self.proc.returncode}):\n{self.log_text()}")
        try:
            with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return json.loads(text) if text else None

    def post_alerts(self, alerts):
        self.api("POST", "/api/v2/alerts", alerts)

    def fingerprints(self):
        """alertname → fingerprint of the alerts Alertmanager holds."""
        return {a["labels"]["alertname"]: a["fingerprint"]
                for a in self.api("GET", "/api/v2/alerts?active=true&silenced=true&inhibited=true")}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def alertmanager_bin_path():
    b = alertmanager_bin()
    if not b:
        skip_or_fail("prometheus-alertmanager is not installed (tools/deps.sh installs the "
                     "Debian package; or set INTERVENE_ALERTMANAGER_BIN)")
    return b


def test_real_alertmanager(alertmanager_bin_path, make_server):
    t0 = time.monotonic()
    s = make_server()
    token = s.create_token(unique("alertmanager"), "responder")
    wait_for(lambda: s.get("/api/incidents", token=token)[0] == 200, timeout=5,
             msg="the responder token accepted")
    am = Alertmanager(alertmanager_bin_path,
                      f"http://127.0.0.1:{s.port}/api/integrations/alertmanager", token)
    try:
        _exercise(s, am)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- Alertmanager log ---\n{am.log_text()}") from None
    finally:
        am.stop()
    assert time.monotonic() - t0 < 50, "the real-Alertmanager test must stay well under a minute"


def _exercise(s, am):
    now = _dt.datetime.now(_dt.timezone.utc)
    sent = [  # alertname, severity label, annotations, mapped severity, summary
        ("HighCPU", "critical", {"summary": "CPU over 90% on db-1"}, "sev1",
         "CPU over 90% on db-1"),
        ("DiskFilling", "warning", {"description": "Disk 85% full"}, "sev3", "Disk 85% full"),
        ("Replication", "error", {}, "sev2", "Replication"),
        ("BackupLate", None, {}, "sev3", "BackupLate"),
    ]
    posted = []
    for name, sev, ann, _, _ in sent:
        labels = {"alertname": name, "instance": "db-1:9100", "job": "node"}
        if sev:
            labels["severity"] = sev
        posted.append({"labels": labels, "annotations": ann,
                       "generatorURL": "http://prometheus.example:9090/graph"})
    am.post_alerts(posted)
    fps = wait_for(lambda: (lambda f: f if len(f) == len(sent) else None)(am.fingerprints()),
                   timeout=TIMEOUT, msg="Alertmanager holds the alerts")
    assert len(set(fps.values())) == len(sent), fps  # distinct labels, distinct fingerprints

    def incidents():
        st, b = s.get("/api/incidents?kind=alert&per_page=200")
        assert st == 200, b
        return {i["key"]: i for i in b["incidents"]}

    keys = {name: f"alert:{name}:{fps[name]}" for name, *_ in sent}
    got = wait_for(lambda: (lambda i: i if set(keys.values()) <= set(i) else None)(incidents()),
                   timeout=TIMEOUT, msg="one incident per alert")
    assert len(got) == len(sent), sorted(got)
    for name, _, _, sev, summary in sent:
        inc = s.incident(got[keys[name]]["id"])
        assert inc["severity"] == sev, (name, inc)
        assert inc["summary"] == summary, (name, inc)
        assert inc["source"] == "alertmanager" and inc["status"] == "open", inc
        d = inc["details"]
        assert d["labels"]["alertname"] == name and d["fingerprint"] == fps[name], d
        assert d["generatorURL"] == "http://prometheus.example:9090/graph", d
        assert d["groupKey"] and d["startsAt"] and d["receiver"] == "intervene", d

    # Alertmanager repeats the firing alerts (repeat_interval) and the same alert posted
    # again: deduplicated onto the same incidents, never a second one.
    am.post_alerts(posted[:1])
    first = keys["HighCPU"]
    wait_for(lambda: incidents()[first]["occurrences"] >= 2, timeout=TIMEOUT,
             msg="the repeated alert deduplicated")
    st, b = s.get("/api/incidents?kind=alert&per_page=200")
    assert b["total"] == len(sent), [i["key"] for i in b["incidents"]]
    st, evs = s.get(f"/api/incidents/{got[first]['id']}/timeline?per_page=200")
    assert st == 200
    assert any(e["type"] == "incident_updated" and e["data"].get("change_type") == "deduplicated"
               for e in evs["events"]), evs

    # endsAt in the past: Alertmanager sends it as resolved, the incident resolves
    past = posted[1] | {"startsAt": iso(now - _dt.timedelta(minutes=5)),
                        "endsAt": iso(now - _dt.timedelta(seconds=1))}
    am.post_alerts([past])
    second = keys["DiskFilling"]
    inc = wait_for(lambda: (lambda i: i if i["status"] == "resolved" else None)(
        s.incident(got[second]["id"])), timeout=TIMEOUT, msg="the resolved alert resolved its incident")
    assert inc["resolved_by"] == "alertmanager", inc
    # the others still fire
    still = incidents()
    assert all(still[keys[n]]["status"] == "open" for n in ("HighCPU", "Replication", "BackupLate"))
    st, b = s.get("/api/incidents?kind=alert&per_page=200")
    assert b["total"] == len(sent)


@pytest.mark.parametrize("ci", [False, True], ids=["local", "ci"])
def test_missing_alertmanager_skips_locally_and_fails_in_ci(ci, tmp_path):
    """Without the binary the real-Alertmanager test is a visible skip locally and a
    failure under INTERVENE_CI=1 (run in a pytest session of its own)."""
    e = harness.without_log_path(dict(os.environ))
    e["INTERVENE_ALERTMANAGER_BIN"] = str(tmp_path / "no-such-alertmanager")
    e.pop("INTERVENE_CI", None)
    if ci:
        e["INTERVENE_CI"] = "1"
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                        os.path.join(here, "test_alertmanager.py"), "-k", "test_real_alertmanager"],
                       capture_output=True, text=True, timeout=120, env=e, cwd=here)
    out = r.stdout + r.stderr
    assert "prometheus-alertmanager is not installed" in out, out[-3000:]
    if ci:
        assert r.returncode != 0 and "(INTERVENE_CI=1: required)" in out, out[-3000:]
        assert " passed" not in out and "skipped" not in out, out[-3000:]
    else:
        assert r.returncode == 0 and "1 skipped" in out, out[-3000:]
