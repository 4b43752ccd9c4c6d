#!/usr/bin/python3
"""Convert every file of a corpus to ADF and validate each result against the schema.

The libFuzzer target (fuzz_adf) checks its outputs with adf_check, the converter's own
structural rules; this script closes the loop with the real ADF JSON schema
(../shared/conformance/adf/full.json, draft-04). Conversion goes through the unit test
binary: `test_adf --convert-jsonl FILE...` prints one JSON line per file.

    tests/fuzz/validate_adf_outputs.py [--converter BUILD/tests/unit/test_adf]
                                       [--schema FULL.json] [--max-bytes N] PATH...

PATH is a corpus directory (walked recursively) or a file. Inputs the converter refuses
(too large or nested too deeply: ERR_TOOLARGE) are counted, not failures. jsonschema's
own anyOf validates every alternative to the end and keeps all its errors, which on this
schema is exponential in nesting (a list nested 10 deep in a quote took over 2 GB, and
the converter accepts 64 levels), so the validator here tries each alternative only up
to its first error, and falls back to jsonschema's anyOf (for its error report) only
when none is valid: the same verdict, in milliseconds. --max-bytes can still leave large
corpus files out (counted as skipped). The schema's default place is
$INTERVENE_CONFORMANCE_DIR/adf/full.json when that variable is set. Exit status:
0 all outputs valid, 1 an output is invalid or a conversion failed (or the schema is
absent under INTERVENE_CI=1: CI must not pass without the check), 2 usage error or no
converter, 77 the schema is absent (skipped, as meson and automake count it).

Python standard library plus Debian's python3-jsonschema; run with /usr/bin/python3.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SKIP = 77
# jsonschema recurses about 6 Python frames per level of JSON. A list nested 64 deep (the
# converter's ADF_MAX_DEPTH) is 261 levels of JSON and needs some 1,600 frames, past
# Python's default of 1,000.
RECURSION_LIMIT = 4000


def conformance_dir():
    """../shared/conformance next to the repository, or $INTERVENE_CONFORMANCE_DIR."""
    return (os.environ.get("INTERVENE_CONFORMANCE_DIR")
            or os.path.join(os.path.dirname(REPO), "shared", "conformance"))


def in_ci():
    return os.environ.get("INTERVENE_CI") == "1"


DEFAULT_SCHEMA = os.path.join(conformance_dir(), "adf", "full.json")


def default_converter():
    """$ADF_CONVERTER, else test_adf next to $INTERVENE_BIN's build, else build/."""
    if os.environ.get("ADF_CONVERTER"):
        return os.environ["ADF_CONVERTER"]
    bin_ = os.environ.get("INTERVENE_BIN")
    if bin_:
        return os.path.join(os.path.dirname(os.path.abspath(bin_)), "tests", "unit", "test_adf")
    return os.path.join(REPO, "build", "tests", "unit", "test_adf")


def load_validator(schema_path):
    import jsonschema  # Debian: python3-jsonschema

    full_any_of = jsonschema.Draft4Validator.VALIDATORS["anyOf"]

    def any_of(validator, alternatives, instance, schema):
        for index, alternative in enumerate(alternatives):
            if next(validator.descend(instance, alternative, schema_path=index), None) is None:
                return
        yield from full_any_of(validator, alternatives, instance, schema)

    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft4Validator.check_schema(schema)
    validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {"anyOf": any_of})
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    return validator(schema)


def describe(validator, doc):
    """A one-line reason for an invalid document (the most relevant schema error)."""
    import jsonschema

    err = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if err is None:
        return "valid"
    path = "/" + "/".join(str(p) for p in err.absolute_path)
    return f"{path}: {err.message[:300]}"


def corpus_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if not name.startswith("."):
                        yield os.path.join(root, name)
        elif os.path.isfile(p):
            yield p


class Result:
    def __init__(self):
        self.files = 0
        self.valid = 0
        self.refused = 0
        self.skipped = 0
        self.failures = []  # (file, reason)

    @property
    def ok(self):
        return not self.failures

    def summary(self):
        return (f"{self.files} files: {self.valid} valid ADF, {self.refused} refused "
                f"(too large/deep), {self.skipped} skipped (over --max-bytes), "
                f"{len(self.failures)} failures")


def validate_corpus(paths, converter, validator, batch=200, timeout=600, max_bytes=0):
    """Convert and validate; returns a Result. Raises FileNotFoundError without converter."""
    if not os.access(converter, os.X_OK):
        raise FileNotFoundError(f"converter not found or not executable: {converter}")
    res = Result()
    files = []
    for f in corpus_files(paths):
        if max_bytes and os.path.getsize(f) > max_bytes:
            res.files += 1
            res.skipped += 1
        else:
            files.append(f)
    for i in range(0, len(files), batch):
        chunk = files[i:i + batch]
        proc = subprocess.run([converter, "--convert-jsonl", *chunk], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)
        lines = proc.stdout.decode("utf-8", "replace").splitlines()
        if len(lines) != len(chunk):
            res.files += len(chunk)
            res.failures.append((chunk[0], f"converter exited {proc.returncode} after "
                                 f"{len(lines)} of {len(chunk)} files: "
                                 f"{proc.stderr.decode('utf-8', 'replace')[-500:]}"))
            continue
        for line in lines:
            res.files += 1
            rec = json.loads(line)
            name = rec.get("file", "?")
            if "adf" in rec:
                doc = rec["adf"]
                if validator.is_valid(doc):
                    res.valid += 1
                else:
                    res.failures.append((name, describe(validator, doc)))
            elif rec.get("error") == "payload_too_large":  # err_code_name(ERR_TOOLARGE)
                res.refused += 1
            else:
                res.failures.append((name, f"{rec.get('error')}: {rec.get('message')}"))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--converter", default=default_converter(),
                    help="test_adf binary (default: %(default)s)")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="ADF schema (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=200, help="files per converter run")
    ap.add_argument("--max-bytes", type=int, default=0,
                    help="skip corpus files larger than this (0: none skipped)")
    ap.add_argument("paths", nargs="+", help="corpus directories or files")
    args = ap.parse_args(argv)

    if not os.path.exists(args.schema):
        where = (f"ADF schema not found at {args.schema} "
                 f"(../shared/conformance/adf/ is not checked out next to the repository)")
        if in_ci():
            print(f"FAIL: {where}; INTERVENE_CI=1 requires it")
            return 1
        print(f"SKIP: {where}")
        return SKIP
    try:
        validator = load_validator(args.schema)
        res = validate_corpus(args.paths, args.converter, validator, batch=args.batch,
                              max_bytes=args.max_bytes)
    except FileNotFoundError as e:
        print(f"error: {e} (build it: ninja -C build)", file=sys.stderr)
        return 2
    for name, reason in res.failures[:20]:
        print(f"FAIL {name}: {reason}")
    if len(res.failures) > 20:
        print(f"... and {len(res.failures) - 20} more")
    print(res.summary())
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
