"""Issue templates (SPEC §7): `intervene render` on the golden contexts of every built-in,
--strict, UPDATE_GOLDEN=1, overrides from tracker.templates_dir, front matter errors, the
labels and footer added by code, and Markdown neutralisation.

Golden files: tests/golden/templates/<case>.json (an incident, bare or as
{"incident": {...}}) and <case>.out (the text output of `intervene render`, rendered with
server.public_url = PUBLIC_URL). The body of each case is also kept as
tests/golden/adf/template_<case>.md, an input of the Markdown → ADF golden suite.
UPDATE_GOLDEN=1 rewrites both instead of comparing. TEMPLATES_GOLDEN_DIR and
ADF_GOLDEN_DIR point the suite at other directories (used to test the rewriting on a copy).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from harness import BIN as _BIN, REPO

BIN = os.path.abspath(_BIN)  # the tests run the binary from other directories

GOLDEN = os.environ.get("TEMPLATES_GOLDEN_DIR") or os.path.join(REPO, "tests", "golden", "templates")
ADF_GOLDEN = os.environ.get("ADF_GOLDEN_DIR") or os.path.join(REPO, "tests", "golden", "adf")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
PUBLIC_URL = "https://intervene.example.com"

BUILTINS = ["invariant_failure", "budget_exceeded", "planner_regression", "generic_incident"]
KIND_TEMPLATE = {"invariant": "invariant_failure", "budget": "budget_exceeded",
                 "planner": "planner_regression"}
ZWSP = "\u200b"


def golden_cases():
    if not os.path.isdir(GOLDEN):
        return []
    return sorted(f[:-5] for f in os.listdir(GOLDEN) if f.endswith(".json"))


def load_incident(case):
    with open(os.path.join(GOLDEN, case + ".json"), encoding="utf-8") as f:
        doc = json.load(f)
    return doc.get("incident", doc) if "id" not in doc else doc


def template_for(incident):
    return KIND_TEMPLATE.get(incident["kind"], "generic_incident")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    """A configuration with a fixed public_url and a templates directory (empty)."""
    if not os.path.exists(BIN):
        pytest.fail(f"intervene binary not found at {BIN}: build it or set INTERVENE_BIN",
                    pytrace=False)
    d = tmp_path_factory.mktemp("tmplconf")
    (d / "templates").mkdir()
    path = d / "intervene.yaml"
    path.write_text(f"server:\n  public_url: {PUBLIC_URL}/\n"
                    f"tracker:\n  templates_dir: templates\n")
    return str(path)


@pytest.fixture
def override(tmp_path):
    """Factory: override(name, text) writes <name>.md into a fresh templates_dir and
    returns the path of a configuration that uses it."""
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    cfg = tmp_path / "intervene.yaml"
    cfg.write_text(f"server:\n  public_url: {PUBLIC_URL}\ntracker:\n  templates_dir: {tdir}\n")

    def make(name, text):
        write(str(tdir / (name + ".md")), text)
        return str(cfg)
    return make


def render(conf, *args, stdin=None):
    env = dict(os.environ)
    env.pop("INTERVENE_CONFIG", None)
    return subprocess.run([BIN, "--config", conf, "render", *args], capture_output=True,
                          text=True, encoding="utf-8", timeout=20, env=env, input=stdin,
                          cwd=os.path.dirname(conf))


def render_ctx(conf, tmp_path, incident, *args):
    p = tmp_path / "ctx.json"
    p.write_text(json.dumps(incident))
    return render(conf, *args, "--context", str(p))


def parse_text(out):
    """(title, labels, body) of the text format."""
    head, sep, body = out.partition("\n\n")
    assert sep, out
    lines = head.split("\n")
    assert lines[0].startswith("title: "), out
    assert lines[1].startswith("labels: "), out
    return lines[0][7:], lines[1][8:].split(", "), body


def ctx_invariant(**details):
    inc = load_incident("invariant_pii")
    inc = json.loads(json.dumps(inc))
    inc["details"].update(details)
    return inc


# --------------------------------------------------------------------------- golden

@pytest.mark.parametrize("case", golden_cases())
def test_golden_output(conf, case):
    tmpl = template_for(load_incident(case))
    ctx = os.path.join(GOLDEN, case + ".json")
    r = render(conf, tmpl, "--context", ctx)
    assert r.returncode == 0, r.stderr
    rj = render(conf, tmpl, "--context", ctx, "--format", "json")
    assert rj.returncode == 0, rj.stderr
    body = json.loads(rj.stdout)["body"]
    out_path = os.path.join(GOLDEN, case + ".out")
    adf_path = os.path.join(ADF_GOLDEN, f"template_{case}.md")
    if UPDATE:
        write(out_path, r.stdout)
        write(adf_path, body)
        return
    assert os.path.exists(out_path), f"{out_path} missing: run with UPDATE_GOLDEN=1"
    expected = read(out_path)
    assert r.stdout == expected, (f"{case}: output differs from {out_path} "
                                  f"(UPDATE_GOLDEN=1 rewrites it)\n--- got ---\n{r.stdout}")
    assert os.path.exists(adf_path), f"{adf_path} missing: run with UPDATE_GOLDEN=1"
    assert read(adf_path) == body, f"{adf_path} is stale: run with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", golden_cases())
def test_golden_strict(conf, case):
    """Every built-in fills every tag from its golden context."""
    r = render(conf, template_for(load_incident(case)), "--strict", "--context",
               os.path.join(GOLDEN, case + ".json"))
    assert r.returncode == 0, f"{case}: {r.stderr}"
    assert r.stderr == ""


def test_golden_cases_cover_builtins_and_kinds():
    cases = golden_cases()
    incidents = {c: load_incident(c) for c in cases}
    assert {template_for(i) for i in incidents.values()} >= set(BUILTINS)
    assert any(i["kind"] == "invariant" and i["details"].get("evidence") for i in incidents.values())
    types = {i["details"].get("budget_type") for i in incidents.values() if i["kind"] == "budget"}
    assert {"latency_p95", "quality"} <= types
    assert any(i["kind"] == "planner" and len(i["details"]["metrics"]) == 3
               for i in incidents.values())
    assert any(i["kind"] == "alert" and i["details"].get("labels") for i in incidents.values())
    assert any(i["kind"] not in ("invariant", "budget", "planner", "manual", "alert")
               for i in incidents.values())


def test_update_golden_rewrites(tmp_path):
    """UPDATE_GOLDEN=1 rewrites stale and missing golden files (run on a copy)."""
    gold = tmp_path / "templates"
    adf = tmp_path / "adf"
    shutil.copytree(GOLDEN, gold)
    adf.mkdir()
    cases = golden_cases()
    stale, gone = cases[0], cases[1]
    (gold / f"{stale}.out").write_text("stale\n")
    (gold / f"{gone}.out").unlink()
    env = dict(os.environ, UPDATE_GOLDEN="1", TEMPLATES_GOLDEN_DIR=str(gold),
               ADF_GOLDEN_DIR=str(adf), INTERVENE_BIN=BIN)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        os.path.abspath(__file__), "-k", "test_golden_output"],
                       capture_output=True, text=True, timeout=300, env=env,
                       cwd=os.path.dirname(os.path.abspath(__file__)))
    assert r.returncode == 0, r.stdout + r.stderr
    for c in cases:
        assert read(str(gold / f"{c}.out")) == read(os.path.join(GOLDEN, f"{c}.out")), c
        assert (adf / f"template_{c}.md").exists(), c
    # and without UPDATE_GOLDEN the stale copy is reported
    (gold / f"{stale}.out").write_text("stale\n")
    env.pop("UPDATE_GOLDEN")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        os.path.abspath(__file__), "-k", f"test_golden_output and {stale}"],
                       capture_output=True, text=True, timeout=300, env=env,
                       cwd=os.path.dirname(os.path.abspath(__file__)))
    assert r.returncode != 0
    assert "UPDATE_GOLDEN=1" in r.stdout


def test_template_chosen_by_kind(conf):
    """Without TEMPLATE the incident's kind chooses, as for tracker issues."""
    for case in golden_cases():
        ctx = os.path.join(GOLDEN, case + ".json")
        a = render(conf, "--context", ctx)
        b = render(conf, template_for(load_incident(case)), "--context", ctx)
        assert a.returncode == 0, a.stderr
        assert a.stdout == b.stdout, case


def test_bare_and_wrapped_context_agree(conf, tmp_path):
    inc = load_incident("canary_regression")
    bare = tmp_path / "bare.json"
    wrapped = tmp_path / "wrapped.json"
    bare.write_text(json.dumps(inc))
    wrapped.write_text(json.dumps({"incident": inc}))
    a = render(conf, "planner_regression", "--context", str(bare))
    b = render(conf, "planner_regression", "--context", str(wrapped))
    c = render(conf, "planner_regression", "--context", "-", stdin=json.dumps({"incident": inc}))
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout == c.stdout


def test_json_format_matches_text(conf):
    ctx = os.path.join(GOLDEN, "budget_latency_p95.json")
    t = render(conf, "budget_exceeded", "--context", ctx)
    j = render(conf, "budget_exceeded", "--context", ctx, "--format=json")
    assert t.returncode == 0 and j.returncode == 0, t.stderr + j.stderr
    doc = json.loads(j.stdout)
    assert set(doc) == {"title", "labels", "body"}
    title, labels, body = parse_text(t.stdout)
    assert (doc["title"], doc["labels"], doc["body"]) == (title, labels, body)


# --------------------------------------------------------------------------- content

def test_labels_and_footer_on_every_builtin(conf):
    for case in golden_cases():
        inc = load_incident(case)
        r = render(conf, template_for(inc), "--context", os.path.join(GOLDEN, case + ".json"))
        assert r.returncode == 0, r.stderr
        title, labels, body = parse_text(r.stdout)
        assert labels[-2:] == ["intervene", f"intervene-{inc['id']}"], labels
        assert len(labels) == len({x.lower() for x in labels}), labels
        assert inc["severity"] in labels
        url = f"{PUBLIC_URL}/incidents/{inc['id']}"
        assert body.endswith(f"\n\n---\n_Opened by [intervene]({url}) for incident "
                             f"#{inc['id']} · key `{inc['key']}`_\n"), body[-300:]
        assert "\n" not in title and title.strip() == title and title


def test_derived_values_in_goldens(conf):
    """Spot checks of derived values (the full text is in the .out files)."""
    def body(case):
        r = render(conf, "--context", os.path.join(GOLDEN, case + ".json"), "--format", "json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    lat = body("budget_latency_p95")
    assert lat["title"] == ("[sev2] Budget violated: search-agent p95 latency 2140 ms "
                            "(maximum 1600 ms)")
    assert "above its maximum of **1600 ms** by **540 ms** (33.8%)" in lat["body"]
    assert "| p95 latency | 2140 ms | 1480 ms | +44.6% |" in lat["body"]
    q = body("budget_quality")
    assert "below its minimum of **85** by **6.6** (7.8%)" in q["body"]
    sr = body("budget_success_rate")
    assert "**91.2%**, below its minimum of **95%** by **3.8 percentage points** (4%)" in sr["body"]
    can = body("canary_regression")
    assert can["title"] == "[sev1] Canary regression: planner v2.4.0 (quality, latency_p95, cost)"
    rows = [line for line in can["body"].split("\n") if line.startswith("| ")
            and ("latency" in line or "quality" in line or "cost" in line)
            and line.count("|") == 6]
    assert rows == [
        "| Mean quality score | 88.9 | 81.2 | -7.7 | -8.7% (lower) |",
        "| p95 latency | 1940 ms | 2870 ms | +930 ms | +47.9% (higher) |",
        "| Mean cost | 0.042 | 0.061 | +0.019 | +45.2% (higher) |",
    ], rows
    inv = body("invariant_pii")
    assert '```json\n{\n  "detector": "pii-regex-v3",' in inv["body"]


def test_markdown_neutralisation(conf, tmp_path):
    inc = load_incident("unknown_kind")
    inc["summary"] = "@channel deploy <!-- x --> broke the orders feed"
    inc["details"] = {"note": "ping @oncall -->"}
    r = render_ctx(conf, tmp_path, inc, "generic_incident", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    body = doc["body"]
    assert "<!--" not in body and "-->" not in body
    assert "@channel" not in body and "@oncall" not in body
    assert f"@{ZWSP}channel deploy <{ZWSP}!-- x --{ZWSP}> broke" in body
    # the title goes to the tracker as plain text: not escaped, only made one line
    assert doc["title"] == "[sev3] @channel deploy <!-- x --> broke the orders feed"


def test_html_is_not_escaped_in_markdown(conf, tmp_path):
    inc = load_incident("unknown_kind")
    inc["summary"] = "p95 > 2 s & rising for \"orders\" <b>"
    r = render_ctx(conf, tmp_path, inc, "generic_incident", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert "p95 > 2 s & rising for \"orders\" <b>" in json.loads(r.stdout)["body"]


def test_title_and_labels_are_one_line(conf, tmp_path):
    inc = load_incident("invariant_pii")
    inc["details"]["invariant_name"] = "No PII\r\nin output"
    inc["details"]["agent"] = "inbox.\ntriage\r"
    r = render_ctx(conf, tmp_path, inc, "invariant_failure", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["title"] == "[sev1] Invariant failed: No PII in output (inbox. triage )"
    assert "agent:inbox. triage" in doc["labels"]
    for s in [doc["title"], *doc["labels"]]:
        assert "\r" not in s and "\n" not in s


def test_key_with_backticks_in_footer(conf, tmp_path):
    inc = load_incident("unknown_kind")
    inc["key"] = "odd`key``here"
    r = render_ctx(conf, tmp_path, inc, "generic_incident", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["body"].endswith("key ```odd`key``here```_\n")


def test_strict_names_missing_tags(conf, tmp_path):
    inc = ctx_invariant()
    for k in ("invariant_name", "task_id", "failure_message", "evidence"):
        del inc["details"][k]
    inc["details"]["agent"] = ""
    r = render_ctx(conf, tmp_path, inc, "invariant_failure", "--strict")
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith("title: [sev1] Invariant failed:  ()"), r.stdout  # still printed
    lines = r.stderr.splitlines()
    assert len(lines) == len(set(lines)), lines
    assert set(lines) == {"missing: details.invariant_name", "missing: details.agent",
                          "missing: details.task_id", "missing: details.failure_message"}
    assert "_The eval result carried no evidence for this failure._" in r.stdout
    # without --strict the same context renders with exit 0 and a quiet stderr
    r = render_ctx(conf, tmp_path, inc, "invariant_failure")
    assert r.returncode == 0 and r.stderr == ""


def test_strict_budget_without_numbers(conf, tmp_path):
    inc = load_incident("budget_latency_p95")
    del inc["details"]["actual"]
    r = render_ctx(conf, tmp_path, inc, "budget_exceeded", "--strict")
    assert r.returncode == 1
    names = set(r.stderr.splitlines())
    assert {"missing: derived.actual", "missing: derived.overage",
            "missing: derived.overage_pct"} <= names, names


# --------------------------------------------------------------------------- overrides

OVERRIDE = """---
title: "Custom: {{summary}}"
labels: ["custom", "{{severity}}", "intervene", "Custom", "", "intervene-{{id}}"]
---
Override body for {{details.agent}} at {{incident_url}}.
"""


def test_override_replaces_builtin(override, tmp_path):
    cfg = override("budget_exceeded", OVERRIDE)
    inc = load_incident("budget_latency_p95")
    r = render_ctx(cfg, tmp_path, inc, "budget_exceeded")
    assert r.returncode == 0, r.stderr
    title, labels, body = parse_text(r.stdout)
    assert title == "Custom: " + inc["summary"]
    assert labels == ["custom", "sev2", "intervene", "intervene-57"]
    assert body.startswith(f"Override body for search-agent at {PUBLIC_URL}/incidents/57.\n\n---\n")
    assert body.endswith("for incident #57 · key `budget:search-agent:latency_p95`_\n")
    # chosen by kind too
    r2 = render_ctx(cfg, tmp_path, inc)
    assert r2.stdout == r.stdout
    # other built-ins are untouched
    r3 = render_ctx(cfg, tmp_path, load_incident("canary_regression"))
    assert r3.returncode == 0 and "Canary regression" in r3.stdout


def test_override_new_template_with_assignees(override, tmp_path):
    cfg = override("pager_note", "---\ntitle: Note {{id}}\nlabels: []\n"
                                 "assignees: ['{{assigned_to}}', alice, Alice]\n---\nhi\n")
    inc = load_incident("unknown_kind")
    inc["assigned_to"] = "bob"
    r = render_ctx(cfg, tmp_path, inc, "pager_note", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc == {"title": "Note 88", "labels": ["intervene", "intervene-88"],
                   "assignees": ["bob", "alice"],
                   "body": doc["body"]}
    assert doc["body"].startswith("hi\n\n---\n_Opened by")


def test_unknown_and_invalid_template_names(conf, tmp_path):
    inc = load_incident("unknown_kind")
    r = render_ctx(conf, tmp_path, inc, "no_such_template")
    assert r.returncode == 1
    assert "no template named 'no_such_template'" in r.stderr
    for bad in ["../budget_exceeded", "Budget_exceeded", "a/b", "x.md", "a" * 65]:
        r = render_ctx(conf, tmp_path, inc, bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert "invalid template name" in r.stderr


FRONT_MATTER_ERRORS = [
    ("not_mapping", "---\n- title\n- labels\n---\nbody\n", ":2:1: the front matter must be a mapping"),
    ("scalar", "---\njust text\n---\nbody\n", ":2:1: the front matter must be a mapping"),
    ("bad_yaml", "---\ntitle: \"x\"\nlabels: [a, b\n---\nbody\n", ":4:1: invalid YAML in the front matter"),
    ("title_list", "---\ntitle: [a]\nlabels: []\n---\n", ":2:8: title must be a string, not a list"),
    ("title_null", "---\ntitle:\nlabels: []\n---\n", "title must be a string, not null"),
    ("labels_string", "---\ntitle: t\nlabels: a, b\n---\n", ":3:9: labels must be a list of strings, not a string"),
    ("labels_nested", "---\ntitle: t\nlabels: [a, [b]]\n---\n", ":3:13: labels[1] must be a string, not a list"),
    ("assignees_map", "---\ntitle: t\nlabels: []\nassignees: {a: 1}\n---\n", "assignees must be a list of strings, not a mapping"),
    ("unknown_key", "---\ntitle: t\nlabels: []\nname: x\n---\n", ":4:1: unknown front matter key 'name'"),
    ("duplicate", "---\ntitle: t\ntitle: u\nlabels: []\n---\n", ":3:1: duplicate front matter key 'title'"),
    ("no_title", "---\nlabels: []\n---\n", "the front matter has no title"),
    ("no_labels", "---\ntitle: t\n---\n", "the front matter has no labels"),
    ("empty", "---\n---\nbody\n", "the front matter is empty"),
    ("no_front_matter", "# Title\nbody\n", ":1:1: a template must start with a front matter"),
    ("unclosed", "---\ntitle: t\nlabels: []\nbody\n", "no closing '---' line"),
]


@pytest.mark.parametrize("name,text,message", FRONT_MATTER_ERRORS, ids=[c[0] for c in FRONT_MATTER_ERRORS])
def test_front_matter_errors(override, tmp_path, name, text, message):
    cfg = override("broken", text)
    r = render_ctx(cfg, tmp_path, load_incident("unknown_kind"), "broken")
    assert r.returncode == 1, r.stdout
    assert r.stdout == ""
    assert "broken.md" in r.stderr and message in r.stderr, r.stderr


def test_front_matter_parsed_before_rendering(override, tmp_path):
    """A value cannot inject YAML: the front matter is parsed first, then rendered."""
    cfg = override("inject", '---\ntitle: "{{summary}}"\nlabels: ["{{summary}}"]\n---\nx\n')
    inc = load_incident("unknown_kind")
    inc["summary"] = 'a"\nlabels: [evil]\nassignees: [mallory]\n#'
    r = render_ctx(cfg, tmp_path, inc, "inject", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "assignees" not in doc
    assert doc["title"] == 'a" labels: [evil] assignees: [mallory] #'
    assert doc["labels"] == ['a" labels: [evil] assignees: [mallory] #', "intervene", "intervene-88"]


def test_mustache_errors_name_line_and_column(override, tmp_path):
    cfg = override("badbody", "---\ntitle: t\nlabels: []\n---\nline one\n\n{{#details}}\nnever closed\n")
    r = render_ctx(cfg, tmp_path, load_incident("unknown_kind"), "badbody")
    assert r.returncode == 1
    assert "badbody.md:7:1: " in r.stderr, r.stderr
    cfg = override("badtitle", '---\ntitle: "ok {{#x}}"\nlabels: []\n---\nbody\n')
    r = render_ctx(cfg, tmp_path, load_incident("unknown_kind"), "badtitle")
    assert r.returncode == 1
    assert "badtitle.md:2:12: in title: " in r.stderr, r.stderr


# --------------------------------------------------------------------------- usage, context

@pytest.mark.parametrize("args", [
    [],                                        # no --context
    ["generic_incident"],                      # no --context
    ["--context"],                             # no file
    ["generic_incident", "--context", "x.json", "--format", "yaml"],
    ["generic_incident", "--context", "x.json", "--bogus"],
    ["a", "b", "--context", "x.json"],
], ids=["bare", "no_context", "context_no_file", "bad_format", "unknown_option", "two_names"])
def test_usage_errors(conf, args):
    r = render(conf, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip()


def test_help(conf):
    r = render(conf, "--help")
    assert r.returncode == 0
    assert "usage" in r.stdout.lower() and "--strict" in r.stdout


@pytest.mark.parametrize("content,message", [
    (None, "cannot read"),
    ("{\"id\": 1,", "malformed JSON at line"),
    ("[1, 2]", "must be a JSON object"),
    ("{\"kind\": \"budget\", \"key\": \"k\"}", "integer id"),
    ("{\"id\": 3, \"key\": \"k\"}", "string kind"),
    ("{\"id\": 3, \"kind\": \"x\", \"key\": \"k\", \"details\": []}", "details must be an object"),
], ids=["unreadable", "malformed", "array", "no_id", "no_kind", "details_array"])
def test_bad_context(conf, tmp_path, content, message):
    p = tmp_path / "ctx.json"
    if content is not None:
        p.write_text(content)
    r = render(conf, "generic_incident", "--context", str(p))
    assert r.returncode == 1, r.stdout
    assert message in r.stderr, r.stderr
    assert r.stdout == ""


def test_broken_config_fails(tmp_path):
    cfg = tmp_path / "intervene.yaml"
    cfg.write_text("server:\n  public_url: 12\n  nonsense: true\n")
    r = render(str(cfg), "generic_incident", "--context", os.path.join(GOLDEN, "unknown_kind.json"))
    assert r.returncode == 1
    assert "intervene.yaml:" in r.stderr
