"""docs/api.md (issue 3 point 6): every route documented, every curl example works.

Conventions of docs/api.md that this test relies on:
* each route has a heading `### METHOD /path` (path templates as in openapi.json) followed
  by a line `Role: `<role>`` (`public` for routes without a token);
* the "Every route" table lists `| METHOD | `/path` | role |` once per route;
* ```sh blocks hold curl examples that use $BASE and $TOKEN (and $APPROVER_TOKEN, a second
  person's token with the approver role, named bob) and `curl -f`; they are run in page
  order against one fresh server in which incident 1 exists (later blocks may depend on
  earlier ones, e.g. the silence created before it is ended), each must exit 0 and each
  curl must get a 2xx; curl appears in no other kind of block;
* a route whose 200 is an endless text/event-stream (GET /api/sse/events) is called with
  `curl -N --max-time N` (and no other route with --max-time): its timeout (exit 28) is
  how the example ends, once the 2xx and the `connected` message arrived;
* a ```json block right after a line `Request body:` must satisfy the route's request
  schema in openapi.json, one right after `Response NNN:` the response schema for NNN.
"""
import json
import os
import re
import shlex
import subprocess
import tempfile
import warnings

import jsonschema  # Debian python3-jsonschema (tools/deps.sh)
import pytest

from fakes.trackers import FakeGitHub
from harness import REPO, Server, wait_for

DOCS = os.path.join(REPO, "docs", "api.md")
OPENAPI = os.path.join(REPO, "src", "api", "openapi.json")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HEADING_RE = re.compile(r"^### (%s) (/\S*)\s*$" % "|".join(METHODS))
ROLE_RE = re.compile(r"^Role: `(public|viewer|responder|approver|admin)`")
TABLE_RE = re.compile(r"^\|\s*(%s)\s*\|\s*`(/[^`]*)`\s*\|\s*(\w+)\s*\|\s*$" % "|".join(METHODS))
LABEL_RE = re.compile(r"^(Request body|Response (\d{3})):\s*$")
STATUS_MARK = "__HTTP_STATUS__"


# --------------------------------------------------------------------------- parsing

def parse_docs(path=DOCS):
    """→ (sections, blocks, table). sections: {(METHOD, path): {"line", "role"}};
    blocks: [{"lang", "text", "line", "section", "label"}] in page order."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    sections, blocks, table = {}, [], []
    current = None
    fence = None
    last_text = ""
    for n, line in enumerate(lines, 1):
        if fence is not None:
            if line.strip() == "```":
                fence["text"] = "\n".join(fence["body"]) + "\n"
                del fence["body"]
                blocks.append(fence)
                fence = None
                last_text = ""
            else:
                fence["body"].append(line)
            continue
        m = re.match(r"^```(\S*)\s*$", line)
        if m:
            label = LABEL_RE.match(last_text)
            fence = {"lang": m.group(1), "body": [], "line": n, "section": current,
                     "label": label.group(1) if label else None}
            continue
        h = HEADING_RE.match(line)
        if h:
            current = (h.group(1), h.group(2))
            assert current not in sections, f"docs/api.md:{n}: {current} documented twice"
            sections[current] = {"line": n, "role": None}
        elif re.match(r"^#{1,3} ", line):
            current = None
        r = ROLE_RE.match(line)
        if r and current and sections[current]["role"] is None:
            sections[current]["role"] = r.group(1)
        t = TABLE_RE.match(line)
        if t:
            table.append((t.group(1), t.group(2), t.group(3)))
        if line.strip():
            last_text = line.strip()
    assert fence is None, f"docs/api.md: unterminated code block from line {fence['line']}"
    return sections, blocks, table


def load_openapi():
    with open(OPENAPI, encoding="utf-8") as f:
        return json.load(f)


def openapi_ops(doc):
    return {(m.upper(), p): op for p, item in doc["paths"].items()
            for m, op in item.items() if m.upper() in METHODS}


def split_commands(block):
    """Shell commands of a block: newlines end a command unless quoted or escaped."""
    cmds, cur, quote, i = [], [], None, 0
    while i < len(block):
        ch = block[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"' and i + 1 < len(block):
                cur.append(ch)
                i += 1
                ch = block[i]
        elif ch in "'\"":
            quote = ch
        elif ch == "\\" and i + 1 < len(block) and block[i + 1] == "\n":
            i += 2
            cur.append(" ")
            continue
        elif ch == "\n":
            if "".join(cur).strip():
                cmds.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        elif ch == "#" and (not cur or cur[-1] in " \t"):
            while i < len(block) and block[i] != "\n":
                i += 1
            continue
        cur.append(ch)
        i += 1
    if "".join(cur).strip():
        cmds.append("".join(cur).strip())
    return cmds


def curl_target(cmd):
    """(METHOD, path) a curl command calls, or None when cmd is not a curl command."""
    words = shlex.split(cmd)
    if not words or words[0] != "curl":
        return None
    method, url = None, None
    data = False
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("-X", "--request"):
            method = words[i + 1].upper()
            i += 2
            continue
        if w in ("-d", "--data", "--data-raw", "--data-binary", "--json"):
            data = True
            i += 2
            continue
        if w in ("-H", "--header", "-o", "--output", "-b", "--cookie", "-c", "--cookie-jar",
                 "-w", "--write-out", "-u", "--user", "-D", "--dump-header", "-m", "--max-time"):
            i += 2
            continue
        if w in ("-I", "--head"):
            method = method or "HEAD"
        if w.startswith("$BASE"):
            url = w
        i += 1
    assert url, f"curl example without a $BASE URL: {cmd}"
    method = method or ("POST" if data else "GET")
    return method, url[len("$BASE"):].split("?")[0]


def streams(op):
    """Whether the operation's 200 is an endless text/event-stream."""
    return "text/event-stream" in resolve((op or {}).get("responses", {}).get("200", {})).get("content", {})


def target_op(target):
    """The documented operation a curl target (METHOD, path) calls, or None."""
    method, path = target
    for (m, p), op in OPS.items():
        if (m == method or (m, method) == ("GET", "HEAD")) and template_regex(p, op).match(path):
            return op
    return None


def template_regex(template, op):
    parts = []
    for seg in template.strip("/").split("/"):
        m = re.fullmatch(r"\{([^}]+)\}", seg)
        if not m:
            parts.append(re.escape(seg))
            continue
        schema = {}
        for p in op.get("parameters", []):
            p = resolve(p)
            if p.get("in") == "path" and p.get("name") == m.group(1):
                schema = resolve(p["schema"])
        if schema.get("type") == "integer":
            parts.append("[1-9][0-9]*")
        elif "enum" in schema:
            parts.append("(?:%s)" % "|".join(map(re.escape, schema["enum"])))
        else:
            parts.append("[^/]+")
    return re.compile("^/" + "/".join(parts) + "$")


API = load_openapi()
OPS = openapi_ops(API)
SECTIONS, BLOCKS, TABLE = parse_docs()
SH_BLOCKS = [b for b in BLOCKS if b["lang"] == "sh"]


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = API
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def schema_errors(schema, instance):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        v = jsonschema.Draft202012Validator(schema, resolver=jsonschema.RefResolver.from_schema(API))
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in v.iter_errors(instance)]


# --------------------------------------------------------------------------- structure

def test_every_route_in_docs_is_in_openapi_and_back():
    docs = set(SECTIONS)
    doc_only = sorted(f"{m} {p}" for m, p in docs - set(OPS))
    api_only = sorted(f"{m} {p}" for m, p in set(OPS) - docs)
    assert not doc_only and not api_only, \
        f"in docs/api.md but not in openapi.json: {doc_only}; in openapi.json but not in docs/api.md: {api_only}"


def test_roles_match_openapi():
    problems = []
    for key, sec in SECTIONS.items():
        op = OPS.get(key)
        if op is None:
            continue
        want = "public" if op.get("security") == [] else op.get("x-min-role")
        if sec["role"] != want:
            problems.append(f"docs/api.md:{sec['line']} {key[0]} {key[1]}: Role {sec['role']!r}, openapi {want!r}")
    assert not problems, "\n".join(problems)


def test_route_table_lists_every_route():
    rows = {(m, p): role for m, p, role in TABLE}
    assert len(rows) == len(TABLE), "a route is listed twice in the table"
    assert set(rows) == set(SECTIONS), \
        f"table vs headings: {sorted(set(rows) ^ set(SECTIONS))}"
    for key, role in rows.items():
        assert role == SECTIONS[key]["role"], f"{key}: table says {role}, section {SECTIONS[key]['role']}"


def test_every_route_has_a_curl_example():
    covered = set()
    for b in SH_BLOCKS:
        if b["section"] is None:
            continue
        op = OPS.get(b["section"])
        rx = template_regex(b["section"][1], op or {})
        for cmd in split_commands(b["text"]):
            t = curl_target(cmd)
            if t and t[0] in (b["section"][0], "HEAD" if b["section"][0] == "GET" else None) and rx.match(t[1]):
                covered.add(b["section"])
    missing = sorted(f"{m} {p}" for m, p in set(SECTIONS) - covered)
    assert not missing, f"routes without a curl example calling them: {missing}"


def test_curl_examples_follow_the_conventions():
    problems = []
    for b in BLOCKS:
        cmds = split_commands(b["text"])
        curls = [c for c in cmds if re.match(r"^curl\b", c)]
        if b["lang"] != "sh":
            if any(re.search(r"(^|\s)curl\s", c) for c in cmds):
                problems.append(f"docs/api.md:{b['line']}: curl in a ```{b['lang']} block (use ```sh)")
            continue
        if not curls:
            problems.append(f"docs/api.md:{b['line']}: a ```sh block without curl")
        for c in cmds:
            if not c.startswith("curl "):
                problems.append(f"docs/api.md:{b['line']}: only curl commands belong in examples: {c[:60]}")
                continue
            words = shlex.split(c)
            if not any(re.fullmatch(r"-[A-Za-z]*f[A-Za-z]*", w) or w == "--fail" for w in words[1:]):
                problems.append(f"docs/api.md:{b['line']}: curl without -f: {c[:80]}")
            if "$BASE" not in c:
                problems.append(f"docs/api.md:{b['line']}: curl without $BASE: {c[:80]}")
            target = curl_target(c)
            op = target_op(target)
            if op is None:
                problems.append(f"docs/api.md:{b['line']}: {target[0]} {target[1]} is no documented route")
                continue
            timed = "--max-time" in words or "-m" in words
            if streams(op) and target[0] == "GET":
                if not timed or not any(re.fullmatch(r"-[A-Za-z]*N[A-Za-z]*", w) or w == "--no-buffer"
                                        for w in words[1:]):
                    problems.append(f"docs/api.md:{b['line']}: an endless stream needs curl -N --max-time: {c[:80]}")
            elif timed:
                problems.append(f"docs/api.md:{b['line']}: --max-time only ends stream examples: {c[:80]}")
    assert not problems, "\n".join(problems)


def test_json_examples_match_the_schemas():
    problems = []
    checked = 0
    for b in BLOCKS:
        if b["lang"] != "json" or not b["label"]:
            continue
        where = f"docs/api.md:{b['line']}"
        try:
            value = json.loads(b["text"])
        except ValueError as e:
            problems.append(f"{where}: not JSON: {e}")
            continue
        op = OPS.get(b["section"])
        if op is None:
            problems.append(f"{where}: {b['label']} outside a route section")
            continue
        if b["label"] == "Request body":
            rb = resolve(op.get("requestBody", {}))
            if not rb:
                problems.append(f"{where}: the route takes no body")
                continue
            schema = rb["content"]["application/json"]["schema"]
        else:
            status = b["label"].split()[1]
            resp = op["responses"].get(status)
            if resp is None:
                problems.append(f"{where}: status {status} is not documented for {b['section']}")
                continue
            schema = resolve(resp)["content"]["application/json"]["schema"]
        errs = schema_errors(schema, value)
        if errs:
            problems.append(f"{where} ({b['label']}): " + "; ".join(errs[:5]))
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 10, f"only {checked} labelled JSON examples found"


def test_every_json_block_is_json():
    for b in BLOCKS:
        if b["lang"] == "json":
            try:
                json.loads(b["text"])
            except ValueError as e:
                raise AssertionError(f"docs/api.md:{b['line']}: not JSON: {e}")


# --------------------------------------------------------------------------- running the examples

@pytest.fixture(scope="module")
def docs_server():
    """A server whose tracker is a stand-in GitHub: incident 1 has its issue (outbox row
    1), incident 2's create was refused with 401 (outbox row 2, dead: the retry example
    sends it again). Yields (server, cwd, the token of bob, an approver)."""
    with FakeGitHub() as gh:
        s = Server({"tracker": {"provider": "github", "github": gh.config_block()}})
        try:
            r = s.signal(kind="budget", key="search-agent:latency_p95",
                         summary="search-agent p95 latency 2140 ms over budget 1600 ms",
                         priority="high",
                         details={"agent": "search-agent", "budget_type": "latency_p95",
                                  "threshold": 1600, "actual": 2140})
            assert r == {"outcome": "created", "incident_id": 1}, r
            wait_for(lambda: s.incident(1).get("issue_ref"), timeout=10, msg="incident 1's issue")
            gh.fail_next(1, 401, method="POST", path=r"/issues$")
            r = s.signal(kind="manual", key="docs:dead-create", summary="its issue was refused")
            assert r == {"outcome": "created", "incident_id": 2}, r
            wait_for(lambda: s.get("/api/incidents/2/issue")[1]["delivery"]["state"] == "dead",
                     timeout=10, msg="incident 2's create dead")
            cwd = tempfile.mkdtemp(prefix="intervene-docs-", dir=s.dir)
            approver = s.create_token("bob", "approver")
            wait_for(lambda: s.get("/api/incidents", token=approver)[0] == 200, timeout=2.0,
                     msg="bob's token accepted")
            yield s, cwd, approver
        finally:
            s.cleanup()


# curl reports each reply's status on stderr; a curl with --max-time (only stream examples
# have one: test_curl_examples_follow_the_conventions) ends by its timeout, exit 28.
WRAPPER = ("set -eo pipefail\n"
           "curl() {\n"
           "  local rc=0\n"
           "  command curl --write-out '%{stderr}" + STATUS_MARK + " %{http_code}\\n' \"$@\" || rc=$?\n"
           "  if [ \"$rc\" = 28 ] && [[ \" $* \" == *\" --max-time \"* || \" $* \" == *\" -m \"* ]]; then rc=0; fi\n"
           "  return $rc\n"
           "}\n")


@pytest.mark.parametrize("block", SH_BLOCKS,
                         ids=[f"L{b['line']}-{(b['section'] or ('', 'intro'))[1]}" for b in SH_BLOCKS])
def test_curl_example_runs(docs_server, block):
    s, cwd, approver = docs_server
    env = dict(os.environ, BASE=f"http://127.0.0.1:{s.port}", TOKEN=s.token, APPROVER_TOKEN=approver)
    env.pop("INTERVENE_TOKEN", None)
    r = subprocess.run(["bash", "-c", WRAPPER + block["text"]], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    statuses = [int(x) for x in re.findall(STATUS_MARK + r" (\d{3})", r.stderr)]
    where = f"docs/api.md:{block['line']}"
    detail = f"\n--- script\n{block['text']}--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr[-2000:]}"
    assert r.returncode == 0, f"{where}: exit {r.returncode}{detail}"
    n_curls = sum(1 for c in split_commands(block["text"]) if c.startswith("curl "))
    assert len(statuses) == n_curls, f"{where}: {n_curls} curl commands, {len(statuses)} replies{detail}"
    assert all(200 <= st < 300 for st in statuses), f"{where}: statuses {statuses}{detail}"
    n_streams = sum(1 for c in split_commands(block["text"])
                    if c.startswith("curl ") and streams(target_op(curl_target(c))))
    assert r.stdout.count("\nevent: connected\ndata: ") == n_streams, \
        f"{where}: {n_streams} event streams, but not each sent its connected message{detail}"
