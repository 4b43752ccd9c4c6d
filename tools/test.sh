#!/usr/bin/env bash
# The whole test-suite: unit tests (cmocka) and black-box integration tests
# (pytest against the real binary), first on a normal build, then again on an
# AddressSanitizer + UndefinedBehaviorSanitizer build. Ends with one line
# "N passed, N failed". Options: --quick (skip the sanitizer pass).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    *) echo "usage: tools/test.sh [--quick]" >&2; exit 2 ;;
  esac
done

bash tools/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
PY=/usr/bin/python3
RESULTS=$(mktemp -d)
status=0

run_pass() { # name builddir meson-args...
  local name=$1 dir=$2; shift 2
  echo "=== $name: build ($dir)"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$RESULTS/$name-setup.log" 2>&1 || { cat "$RESULTS/$name-setup.log"; return 1; }
  fi
  ninja -C "$dir" >"$RESULTS/$name-build.log" 2>&1 || { tail -50 "$RESULTS/$name-build.log"; return 1; }
  echo "=== $name: unit tests"
  meson test -C "$dir" --suite unit --print-errorlogs || status=1
  cp "$dir/meson-logs/testlog.json" "$RESULTS/$name-unit.json" 2>/dev/null || true
  echo "=== $name: integration tests"
  INTERVENE_BIN="$ROOT/$dir/intervene" "$PY" -m pytest -q -p no:cacheprovider \
    --junitxml="$RESULTS/$name-integration.xml" tests/integration || status=1
}

run_pass normal build --buildtype=debugoptimized || status=1
if [ "$QUICK" = 0 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=66
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=67
  run_pass sanitize build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false || status=1
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# Static checks: formatting (.clang-format) and cppcheck over the sources.
echo "=== lint: clang-format and cppcheck"
lint_result() { echo "$1 $2" >>"$RESULTS/lint-fuzz.txt"; }
CFILES=$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/unit/*.h' 'tests/fuzz/*.c' 2>/dev/null \
  || find src tests/unit tests/fuzz -name '*.[ch]')
if clang-format --dry-run --Werror $CFILES >"$RESULTS/format.log" 2>&1; then
  lint_result PASS clang-format
else
  head -40 "$RESULTS/format.log"; lint_result FAIL clang-format
fi
if cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
     -D_POSIX_C_SOURCE=200809L -Isrc --suppress=missingIncludeSystem --suppress=unknownMacro \
     src >"$RESULTS/cppcheck.log" 2>&1; then
  lint_result PASS cppcheck
else
  head -40 "$RESULTS/cppcheck.log"; lint_result FAIL cppcheck
fi

# Fuzzing (clang + libFuzzer): the whole tree must also build warning-free with clang,
# and each target runs briefly from its seed corpus; the ADF outputs of the corpus it
# grew are validated against the real ADF schema.
if [ "$QUICK" = 0 ]; then
  echo "=== fuzz: clang build and short runs"
  fuzz_result() { echo "$1 $2" >>"$RESULTS/fuzz-fuzz.txt"; }
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false >"$RESULTS/fuzz-setup.log" 2>&1 \
      || { cat "$RESULTS/fuzz-setup.log"; fuzz_result FAIL clang-setup; }
  fi
  if ninja -C build-fuzz >"$RESULTS/fuzz-build.log" 2>&1; then
    fuzz_result PASS clang-build
    for t in mustache adf; do
      corpus=$(mktemp -d)
      cp tests/fuzz/corpus/$t/* "$corpus"/
      dict=""; [ -f tests/fuzz/$t.dict ] && dict="-dict=tests/fuzz/$t.dict"
      if timeout 120 build-fuzz/tests/fuzz/fuzz_$t -max_total_time="${FUZZ_SECONDS:-20}" \
           $dict "$corpus" >"$RESULTS/fuzz-$t.log" 2>&1; then
        fuzz_result PASS "fuzz_$t"
        grep -E "^#[0-9]+ +DONE" "$RESULTS/fuzz-$t.log" | tail -1
      else
        tail -40 "$RESULTS/fuzz-$t.log"; fuzz_result FAIL "fuzz_$t"
      fi
      if [ "$t" = adf ]; then
        if "$PY" tests/fuzz/validate_adf_outputs.py --converter build/tests/unit/test_adf \
             --max-bytes 2048 "$corpus"; then
          fuzz_result PASS adf-corpus-schema
        else
          [ $? -eq 77 ] && fuzz_result SKIP adf-corpus-schema || fuzz_result FAIL adf-corpus-schema
        fi
      fi
      rm -rf "$corpus"
    done
  else
    tail -40 "$RESULTS/fuzz-build.log"; fuzz_result FAIL clang-build
  fi
fi

# Benchmarks are not tests: a short smoke run prints figures and never fails the suite.
if [ "$QUICK" = 0 ]; then
  echo "=== bench: smoke run (figures only)"
  timeout 300 bash bench/run.sh --smoke || echo "bench: smoke run did not complete (ignored)"
fi

"$PY" tools/summarize.py "$RESULTS"
rc=$?
[ $status -ne 0 ] && rc=1
rm -rf "$RESULTS"
exit $rc
