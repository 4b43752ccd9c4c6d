# testlib.sh — how tools/test.sh runs its steps and records what they did (sourced by
# bash; needs RESULTS, an empty folder, and PY, the Python that runs pytest).
#
# A step is a build, a unit-test run, an integration run, a lint check or a fuzz
# target, named by an id such as "normal-unit". Every step is announced before it
# starts: step_plan writes RESULTS/<id>.pending ("<id>: did not finish"), and only
# the step itself, once it has stored its real results, removes that file. So a step
# that never ran (its build failed, the script was killed, a timeout struck half-way)
# is still a failure, by name. tools/summarize.py reads the folder (its docstring
# lists the files).

TESTLIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# step_plan ID...: announce steps (each a failure until it completes).
step_plan() {
	local id
	for id in "$@"; do
		printf '%s: did not finish\n' "$id" >"$RESULTS/$id.pending"
	done
}

# step_done ID: the step has stored its results.
step_done() {
	rm -f "$RESULTS/$1.pending"
}

# step_pass|step_fail|step_skip ID TEXT: the step's whole result is one line.
step_pass() { printf 'PASS %s\n' "$2" >>"$RESULTS/$1.rec" && step_done "$1"; }
step_fail() { printf 'FAIL %s\n' "$2" >>"$RESULTS/$1.rec" && step_done "$1"; }
step_skip() { printf 'SKIP %s\n' "$2" >>"$RESULTS/$1.rec" && step_done "$1"; }

# step_not_run ID WHY: a planned step that cannot run (a failure, named).
step_not_run() {
	step_fail "$1" "$1: not run ($2)"
}

# step_exit ID STATUS LIMIT: store the exit status of a step's command. A status of
# 124 or above (timeout, or killed by a signal) leaves the step unfinished.
step_exit() {
	printf '%s\n' "$2" >"$RESULTS/$1.exit"
	if [ "$2" -ge 124 ]; then
		printf '%s: did not finish (exit %s; the limit is %ss)\n' "$1" "$2" "$3" \
			>"$RESULTS/$1.pending"
	else
		step_done "$1"
	fi
}

# limited SECONDS CMD...: run CMD with a time limit (status 124 when it struck).
limited() {
	local s=$1
	shift
	timeout -k 15 "$s" "$@"
}

# build_step ID DIR MESON-OPTION...: configure DIR (setup, or apply the options to an
# existing one so a reused directory cannot silently test another configuration)
# and build it.
build_step() {
	local id=$1 dir=$2
	shift 2
	local log="$RESULTS/$id.log"
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >"$log" 2>&1
	else
		meson setup "$dir" "$@" >"$log" 2>&1
	fi || {
		tail -n 40 "$log"
		step_fail "$id" "$id: meson could not configure $dir"
		return 1
	}
	limited "${BUILD_TIMEOUT:-1200}" ninja -C "$dir" >>"$log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		tail -n 60 "$log"
		step_fail "$id" "$id: build failed (ninja -C $dir, exit $rc)"
		return 1
	fi
	step_pass "$id" "$id"
}

# unit_step ID DIR: meson's unit suite; each TAP case counts.
unit_step() {
	local id=$1 dir=$2 rc
	rm -f "$dir/meson-logs/testlog.json"
	limited "${UNIT_TIMEOUT:-900}" meson test -C "$dir" --suite unit --no-rebuild \
		--print-errorlogs
	rc=$?
	[ -f "$dir/meson-logs/testlog.json" ] && cp "$dir/meson-logs/testlog.json" "$RESULTS/$id.unit.json"
	step_exit "$id" $rc "${UNIT_TIMEOUT:-900}"
}

# pytest_step ID SECONDS PYTEST-ARG...: a pytest run with its JUnit XML.
pytest_step() {
	local id=$1 limit=$2 rc
	shift 2
	limited "$limit" "$PY" -m pytest -q -p no:cacheprovider \
		--junitxml="$RESULTS/$id.junit.xml" "$@"
	rc=$?
	step_exit "$id" $rc "$limit"
}

# run_pass NAME DIR MESON-OPTION...: build DIR, run its unit suite, then the pytest
# integration tests of IT_DIR (default tests/integration) against DIR/intervene.
# Steps NAME-build, NAME-unit, NAME-integration; after a failed build the other two
# are failures ("not run").
run_pass() {
	local name=$1 dir=$2
	shift 2
	pass_begin "$name"
	step_plan "$name-build" "$name-unit" "$name-integration"
	if build_step "$name-build" "$dir" "$@"; then
		echo "=== $name: unit tests"
		unit_step "$name-unit" "$dir"
		echo "=== $name: integration tests"
		INTERVENE_BIN="$(cd "$dir" && pwd)/intervene" pytest_step "$name-integration" \
			"${IT_TIMEOUT:-1200}" "${IT_DIR:-tests/integration}"
	else
		step_not_run "$name-unit" "$name build failed"
		step_not_run "$name-integration" "$name build failed"
	fi
	pass_end "$name"
}

# Per-pass wall-clock times, printed before the summary.
pass_begin() {
	PASS_T0=$SECONDS
	echo "=== $1"
}
pass_end() {
	printf '%-10s %4ds\n' "$1" $((SECONDS - PASS_T0)) >>"$RESULTS/timings.txt"
	echo "=== $1: $((SECONDS - PASS_T0))s"
}
print_timings() {
	[ -f "$RESULTS/timings.txt" ] || return 0
	echo "timings (wall clock):"
	sed 's/^/  /' "$RESULTS/timings.txt"
	printf '  %-10s %4ds\n' total "$SECONDS"
}

# cppcheck_step ID FILE...: cppcheck over the C files, failing on any finding and on
# anything cppcheck could not fully check. cppcheck's answer to code it cannot parse
# (an unknown macro, too many configurations, a missing project header, #error) is to
# skip the rest of the file, and suppressing that message hides the file entirely: so
# every file must appear in a "Checking FILE ..." line and none of the ids below may.
CPPCHECK_INCOMPLETE='unknownMacro|syntaxError|toomanyconfigs|tooManyConfigs|noValidConfiguration|internalAstError|internalError|cppcheckError|preprocessorErrorDirective|missingInclude|ConfigurationNotChecked|checkLevelNormal|normalCheckLevelMaxBranches|bailedOut'
cppcheck_step() {
	local id=$1 f n=0
	shift
	local log="$RESULTS/$id.log"
	cppcheck --enable=warning,performance,portability,information --std=c11 \
		-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -Itests/unit \
		--library="$TESTLIB_DIR/cppcheck/jansson.cfg" \
		--suppress=missingIncludeSystem --suppress=unmatchedSuppression --error-exitcode=1 \
		--template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
		"$@" >"$log" 2>&1
	local rc=$?
	for f in "$@"; do
		if ! grep -qxF "Checking $f ..." "$log"; then
			step_fail_more "$id" "cppcheck did not check $f"
			n=$((n + 1))
		fi
	done
	while IFS= read -r f; do
		step_fail_more "$id" "cppcheck could not fully check ${f%%:*}: ${f#*: }"
		n=$((n + 1))
	done < <(grep -E "\[($CPPCHECK_INCOMPLETE)\]$|[Bb]ailing out" "$log")
	while IFS= read -r f; do
		step_fail_more "$id" "cppcheck: $f"
		n=$((n + 1))
	done < <(grep -E ': (error|warning|style|performance|portability|information): ' "$log" |
		grep -vE "\[($CPPCHECK_INCOMPLETE)\]$")
	if [ $n -eq 0 ] && [ $rc -ne 0 ]; then
		step_fail_more "$id" "cppcheck exited $rc"
		n=1
	fi
	if [ $n -ne 0 ]; then
		grep -vE '^Checking |files checked|^$' "$log" | head -n 40
		step_done "$id"
		return 1
	fi
	step_pass "$id" "cppcheck ($# files)"
}

# step_fail_more ID TEXT: one more failure line for a step that is still running.
step_fail_more() {
	printf 'FAIL %s\n' "$2" >>"$RESULTS/$1.rec"
}
