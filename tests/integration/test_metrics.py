"""/metrics in Prometheus text format (SPEC §14)."""
import re

from harness import Server, assert_error, unique

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+]+|\+Inf|NaN)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """→ {(name, frozenset(labels)): value}, checking every line's syntax."""
    out, typed = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            typed[name] = kind
            continue
        m = LINE.match(line)
        assert m, f"bad exposition line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        key = (m.group(1), labels)
        assert key not in out, f"duplicate series {line!r}"
        out[key] = float(m.group(4))
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, f"series without TYPE: {line!r}"
    return out


def value(series, name, **labels):
    return series.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_signals_requests_incidents(server):
    st, h, text = server.request("GET", "/metrics")
    assert st == 200 and h["content-type"].startswith("text/plain")
    before = parse(text)
    key = unique("m")
    for _ in range(3):
        server.signal(key=key, kind="budget", severity="sev2")
    server.post("/api/silences", {"key_glob": "budget:quiet*", "reason": "maintenance",
                                  "duration": "1h"})
    assert server.signal(key="quiet-1", kind="budget")["outcome"] == "silenced"
    server.get("/api/incidents/999999")
    st, _, text = server.request("GET", "/metrics")
    after = parse(text)
    d = lambda name, **l: value(after, name, **l) - value(before, name, **l)
    assert d("intervene_signals_total", kind="budget", outcome="created") == 1
    assert d("intervene_signals_total", kind="budget", outcome="deduplicated") == 2
    assert d("intervene_signals_total", kind="budget", outcome="silenced") == 1
    assert d("intervene_http_requests_total", method="POST", route="/api/signals", code="202") == 4
    # the route label is the pattern, never the raw path
    assert d("intervene_http_requests_total", method="GET", route="/api/incidents/{id}",
             code="404") == 1
    assert not any("999999" in dict(k[1]).get("route", "") for k in after)
    assert value(after, "intervene_incidents", status="open", severity="sev2") >= 1
    assert value(after, "intervene_silences_active") >= 1
    # histogram buckets are cumulative and end with the count
    lbl = dict(method="POST", route="/api/signals")
    buckets = sorted(((float(dict(k[1])["le"]) if dict(k[1])["le"] != "+Inf" else float("inf")), v)
                     for k, v in after.items()
                     if k[0] == "intervene_http_request_duration_seconds_bucket"
                     and dict(k[1]).get("route") == "/api/signals")
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1][0] == float("inf")
    assert counts[-1] == value(after, "intervene_http_request_duration_seconds_count", **lbl)


def test_metrics_needs_a_viewer_unless_public(server):
    st, _, body = server.request("GET", "/metrics", token=None)
    assert_error(st, body, 401, "unauthorized")
    s = Server(config={"server": {"metrics_public": True}})
    try:
        st, _, text = s.request("GET", "/metrics", token=None)
        assert st == 200 and "intervene_signals_total" in text
    finally:
        s.cleanup()
