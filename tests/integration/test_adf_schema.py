"""Every ADF the Markdown converter produces validates against the Atlassian schema.

The golden outputs (tests/golden/adf/*.adf.json, written by the unit test test_adf)
are validated against ../shared/conformance/adf/full.json with the draft-04 validator,
and so are the conversions of the fuzz seed corpus (tests/fuzz/corpus/adf) and of a
few adversarial snippets, through the built converter (test_adf --convert-jsonl).
Skipped with a message when the schema is not checked out next to the repository (or
in $INTERVENE_CONFORMANCE_DIR/adf/), and so when the converter or jsonschema is missing;
under INTERVENE_CI=1 each of these is a failure instead: CI must not pass without them.
Run with /usr/bin/python3 (Debian's python3-jsonschema 4.10).
"""

import glob
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "fuzz"))

import validate_adf_outputs as vao  # noqa: E402

SCHEMA = os.path.join(vao.conformance_dir(), "adf", "full.json")
GOLDEN = os.path.join(REPO, "tests", "golden", "adf")
CORPUS = os.path.join(REPO, "tests", "fuzz", "corpus", "adf")

GOLDEN_JSON = sorted(glob.glob(os.path.join(GOLDEN, "*.adf.json")))
GOLDEN_MD = sorted(glob.glob(os.path.join(GOLDEN, "*.md")))


def skip_or_fail(why):
    """Skip locally; under INTERVENE_CI=1 a missing piece is a failure."""
    if vao.in_ci():
        pytest.fail(f"{why} (INTERVENE_CI=1: required)", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def validator():
    if not os.path.exists(SCHEMA):
        skip_or_fail(f"ADF schema not found at {SCHEMA}: ../shared/conformance/adf/ is not "
                     f"checked out next to the repository")
    try:
        return vao.load_validator(SCHEMA)
    except ImportError:
        skip_or_fail("python3-jsonschema is not installed (apt-get install python3-jsonschema)")


@pytest.fixture(scope="module")
def converter():
    path = vao.default_converter()
    if not os.access(path, os.X_OK):
        skip_or_fail(f"converter {path} not built (ninja -C build, or set ADF_CONVERTER)")
    return path


def _name(path):
    return os.path.basename(path)


def test_golden_files_present():
    assert GOLDEN_MD, f"no golden inputs in {GOLDEN}"
    want = {p[:-len(".md")] for p in GOLDEN_MD}
    have = {p[:-len(".adf.json")] for p in GOLDEN_JSON}
    assert want - have == set(), "inputs without output (run the unit test with UPDATE_GOLDEN=1)"
    assert have - want == set(), "outputs without an input .md"


@pytest.mark.parametrize("path", GOLDEN_JSON, ids=_name)
def test_golden_output_validates(validator, path):
    with open(path, "rb") as f:
        raw = f.read()
    doc = json.loads(raw)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, vao.describe(validator, doc)
    # the format the unit test writes: pretty, sorted keys, trailing newline
    assert raw.endswith(b"}\n")
    assert doc["version"] == 1 and doc["type"] == "doc"


def test_schema_rejects_what_the_converter_avoids(validator):
    """The subtleties the converter works around are real: the schema refuses them."""
    def doc(*content):
        return {"version": 1, "type": "doc", "content": list(content)}

    def para(*inline):
        return {"type": "paragraph", "content": list(inline)}

    text = {"type": "text", "text": "x"}
    bad = {
        "empty text": doc(para({"type": "text", "text": ""})),
        "code with strong": doc(para({"type": "text", "text": "x",
                                      "marks": [{"type": "code"}, {"type": "strong"}]})),
        "heading in quote": doc({"type": "blockquote", "content": [
            {"type": "heading", "attrs": {"level": 1}, "content": [text]}]}),
        "rule in quote": doc({"type": "blockquote", "content": [{"type": "rule"}]}),
        "empty quote": doc({"type": "blockquote", "content": []}),
        "empty list": doc({"type": "bulletList", "content": []}),
        "empty list item": doc({"type": "bulletList", "content": [
            {"type": "listItem", "content": []}]}),
        "heading in list item": doc({"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [text]}]}]}),
        "empty table cell": doc({"type": "table", "content": [{"type": "tableRow", "content": [
            {"type": "tableCell", "content": []}]}]}),
        "task list without localId": doc({"type": "taskList", "content": [
            {"type": "taskItem", "attrs": {"localId": "a", "state": "TODO"}}]}),
        "marks on code block text": doc({"type": "codeBlock", "content": [
            {"type": "text", "text": "x", "marks": [{"type": "strong"}]}]}),
        "hard break in code block": doc({"type": "codeBlock", "content": [{"type": "hardBreak"}]}),
        "alignment left": doc({"type": "paragraph", "marks": [
            {"type": "alignment", "attrs": {"align": "left"}}], "content": [text]}),
        "alignment in a list item": doc({"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "marks": [{"type": "alignment", "attrs": {"align": "center"}}]}]}]}),
    }
    for why, d in bad.items():
        assert not validator.is_valid(d), f"schema unexpectedly accepts: {why}"


ADVERSARIAL = {
    "mixed": "# h\n\n> # h\n> ---\n> | a |\n> |---|\n> | b |\n\n- # h\n- > q\n- ***\n",
    "deep_lists": "".join("  " * i + "- x\n" for i in range(12)),
    "tasks": "- [ ] a\n  - b\n  - [x] c\n    ```\n    code\n    ```\n- [x]\n",
    "marks": "***`a`*** ~~**[`b` *c*](http://x)**~~ ![**d**](http://y) [![e](f)](g)",
    "html": "<div>\n\n</div>\n\n<!--\n\n-->\n\n<pre>\n\n</pre>\n",
    "tables": "| a | b |\n|:-:|--:|\n|\n| ` `| **|** |\n",
    "empty": "",
    "blank": " \n\t\n",
    "bytes": "a\x00b\ufffd\u200d",
    "quote_nest": "> > > - [ ] t\n> > > ---\n",
    "item_table": "1. | a |\n   |---|\n   | b |\n",
}


def test_adversarial_snippets_validate(validator, converter, tmp_path):
    for name, md in ADVERSARIAL.items():
        (tmp_path / f"{name}.md").write_bytes(md.encode("utf-8"))
    res = vao.validate_corpus([str(tmp_path)], converter, validator)
    assert res.files == len(ADVERSARIAL)
    assert res.ok, res.failures
    assert res.valid == len(ADVERSARIAL), res.summary()


def test_fuzz_corpus_outputs_validate(validator, converter):
    if not os.path.isdir(CORPUS) or not os.listdir(CORPUS):
        skip_or_fail(f"no fuzz corpus in {CORPUS}")
    res = vao.validate_corpus([CORPUS], converter, validator)
    assert res.files > 0
    assert res.ok, "\n".join(f"{f}: {r}" for f, r in res.failures[:20])
