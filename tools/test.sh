#!/usr/bin/env bash
# The whole test-suite, in passes:
#   selftest  the harness's own tests (tools/selftest: summary, recording, lookups)
#   normal    build, unit tests (cmocka), integration tests (pytest, real binary)
#   browser   the dashboard in Chromium (tests/browser, Node's test runner)
#   sanitize  the same on an AddressSanitizer + UBSan build (leaks checked at exit)
#   lint      clang-format, cppcheck
#   fuzz      clang build, short libFuzzer runs, ADF schema check of the grown corpus
#   bench     a smoke run of the benchmarks: figures only, not a test
# Every step is announced as "did not finish" before it starts (tools/testlib.sh), so
# a build that fails, a step that crashes or times out, or a run that is interrupted
# is a failure by name. Ends with the skipped count on its own line, then
# "N passed, N failed" (tools/summarize.py).
#
# Options: --quick (normal pass and lint only: the sanitizer and fuzz passes are
# reported as skipped). Environment: INTERVENE_CI=1 (set by .ci/run: absent conformance
# files fail instead of skipping), INTERVENE_SKIP_BENCH=1 (skip the benchmark smoke run
# locally; ignored when INTERVENE_CI=1), FUZZ_SECONDS (per fuzz target, default 20).
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
for a in "$@"; do
	case "$a" in
	--quick) QUICK=1 ;;
	*)
		echo "usage: tools/test.sh [--quick]" >&2
		exit 2
		;;
	esac
done

if ! bash tools/deps.sh; then
	echo "failed: dependencies (tools/deps.sh)"
	echo "0 skipped"
	echo "0 passed, 1 failed"
	exit 1
fi
PY=/usr/bin/python3
RESULTS=$(mktemp -d)
# shellcheck source=tools/testlib.sh
. tools/testlib.sh

finish() {
	trap - INT TERM HUP EXIT
	print_timings
	"$PY" tools/summarize.py "$RESULTS"
	local rc=$?
	rm -rf "$RESULTS"
	exit $rc
}
trap 'echo "tools/test.sh: interrupted" >&2; finish' INT TERM HUP
trap finish EXIT

# The plan: every step is a failure until it completes.
PASSES=(normal lint)
[ "$QUICK" = 0 ] && PASSES=(normal sanitize lint fuzz)
FUZZ_TARGETS=(mustache adf http)
step_plan selftest browser
for p in normal sanitize; do
	[[ " ${PASSES[*]} " == *" $p "* ]] && step_plan "$p-build" "$p-unit" "$p-integration"
done
step_plan lint-clang-format lint-cppcheck
if [ "$QUICK" = 0 ]; then
	step_plan release-build
	step_plan fuzz-build adf-corpus-schema
	for t in "${FUZZ_TARGETS[@]}"; do step_plan "fuzz-$t"; done
else
	step_skip sanitize "sanitize pass (--quick)"
	step_skip fuzz "fuzz pass (--quick)"
fi

pass_begin selftest
pytest_step selftest 300 tools/selftest
pass_end selftest

run_pass normal build -Dbuildtype=debugoptimized -Db_sanitize=none

# The dashboard in a real browser (Debian's Chromium driven by playwright-core, Node's
# test runner): tests/browser/run.sh writes browser.junit.xml.
pass_begin browser
if [ -x build/intervene ]; then
	echo "=== browser: dashboard tests"
	INTERVENE_BIN="$PWD/build/intervene" limited 900 bash tests/browser/run.sh "$RESULTS"
	step_exit browser $? 900
else
	step_not_run browser "normal build failed"
fi
pass_end browser

if [ "$QUICK" = 0 ]; then
	# Leaks are checked at exit (the harness stops servers with SIGTERM); a report
	# makes the process exit 66/67 and goes to stderr, which the harness scans.
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=66
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=67
	# This build also serves /api/debug/faults (-Dfault_injection=true), so the commit
	# fault tests (tests/integration/test_faults.py) run here; the normal build, like
	# the one tools/run.sh serves, has no such routes and skips them.
	INTERVENE_SANITIZE=address,undefined run_pass sanitize build-asan -Dbuildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# Static checks: formatting (.clang-format) and cppcheck over every C file.
pass_begin lint
mapfile -t CFILES < <(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/unit/*.h' \
	'tests/fuzz/*.c' 2>/dev/null || find src tests/unit tests/fuzz -name '*.[ch]' | sort)
if clang-format --dry-run --Werror "${CFILES[@]}" >"$RESULTS/lint-clang-format.log" 2>&1; then
	step_pass lint-clang-format "clang-format (${#CFILES[@]} files)"
else
	head -n 40 "$RESULTS/lint-clang-format.log"
	step_fail lint-clang-format "clang-format: $(grep -cE ': (error|warning): ' "$RESULTS/lint-clang-format.log") lines differ from .clang-format (clang-format -i fixes them)"
fi
mapfile -t CSOURCES < <(printf '%s\n' "${CFILES[@]}" | grep '\.c$')
cppcheck_step lint-cppcheck "${CSOURCES[@]}"
# The build `tools/run.sh` makes (-O3 finds what -O2 does not, e.g. maybe-uninitialized):
# if it fails, the README's first command fails. The benchmarks reuse this directory.
if [ "$QUICK" = 0 ]; then
	build_step release-build build-release -Dbuildtype=release -Db_sanitize=none \
		-Dfault_injection=false
fi
pass_end lint

# Fuzzing (clang + libFuzzer): the whole tree must also build warning-free with clang,
# each target runs briefly from its seed corpus, and the ADF outputs of the corpus it
# grew are validated against the real ADF schema.
if [ "$QUICK" = 0 ]; then
	pass_begin fuzz
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false >"$RESULTS/fuzz-setup.log" 2>&1 ||
			cat "$RESULTS/fuzz-setup.log"
	fi
	if build_step fuzz-build build-fuzz -Dfuzz=true -Db_lundef=false; then
		for t in "${FUZZ_TARGETS[@]}"; do
			corpus=$(mktemp -d)
			cp tests/fuzz/corpus/"$t"/* "$corpus"/
			dict=()
			[ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
			if limited 180 build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="${FUZZ_SECONDS:-20}" \
				"${dict[@]}" "$corpus" >"$RESULTS/fuzz-$t.log" 2>&1; then
				step_pass "fuzz-$t" "fuzz_$t"
				grep -E "^Done [0-9]+ runs" "$RESULTS/fuzz-$t.log" | sed "s/^/fuzz_$t: /"
			else
				tail -n 40 "$RESULTS/fuzz-$t.log"
				step_fail "fuzz-$t" "fuzz_$t: crashed, leaked or timed out (log tail above)"
			fi
			if [ "$t" = adf ]; then
				if [ ! -x build/tests/unit/test_adf ]; then
					step_not_run adf-corpus-schema "no converter: the normal build failed"
				else
					"$PY" tests/fuzz/validate_adf_outputs.py --converter build/tests/unit/test_adf \
						--max-bytes 2048 "$corpus"
					case $? in
					0) step_pass adf-corpus-schema "ADF outputs of the fuzz corpus validate" ;;
					77) step_skip adf-corpus-schema "ADF corpus schema check: schema absent (../shared/conformance/adf)" ;;
					*) step_fail adf-corpus-schema "ADF outputs of the fuzz corpus: invalid or not converted (above)" ;;
					esac
				fi
			fi
			rm -rf "$corpus"
		done
	else
		for t in "${FUZZ_TARGETS[@]}"; do step_not_run "fuzz-$t" "clang build failed"; done
		step_not_run adf-corpus-schema "clang build failed"
	fi
	pass_end fuzz
fi

# Benchmarks are not tests: a short smoke run prints figures and never fails the suite.
if [ "$QUICK" = 0 ]; then
	pass_begin bench
	if [ "${INTERVENE_SKIP_BENCH:-0}" = 1 ] && [ "${INTERVENE_CI:-0}" != 1 ]; then
		echo "bench: skipped (INTERVENE_SKIP_BENCH=1)"
	else
		timeout 300 bash bench/run.sh --smoke || echo "bench: smoke run did not complete (ignored)"
	fi
	pass_end bench
fi

finish
