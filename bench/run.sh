#!/usr/bin/env bash
# bench/run.sh — load benchmarks of intervene's HTTP API with wrk (see bench/README.md).
#
#   bash bench/run.sh            full run: 30 s per scenario, 100,000 seeded incidents
#   bash bench/run.sh --smoke    CI smoke run: ~2 s per scenario, 10,000 seeded incidents
#   BENCH_BIN=path bash bench/run.sh   measure that binary instead of building
#                                      build-release/intervene from this tree
#
# Scenarios (each against a fresh server and a fresh SQLite database, 2 wrk threads,
# 64 connections, after a short warm-up):
#   1. new     POST /api/signals, one signal, every key new       (creates an incident)
#   2. dedup   POST /api/signals, one signal, one of 100 existing keys (dedup hit)
#   3. batch   POST /api/signals, 100 signals: 90 dedup hits, 10 new keys
#   4. list    GET /api/incidents?status=open&per_page=50 over a seeded store
#   5./6.      1 and 4 with a tracker that never answers (issue 8)
#   7. watcher a cycle over 1,000 agents x 30 days and 100,000 eval results, and ingest
#              while cycles run (bench/watcher.py, its own server)
#   8. sse     10,000 subscribers of GET /api/sse/events held by bench/sse_clients.c (a
#              libevent client built into the temporary directory): time from each
#              signal's 202 to the last subscriber receiving it, over 200 signals, and the
#              server's memory with them (smoke: 2,000 subscribers, 20 signals)
#   9. newsse  1 with 1,000 subscribers connected (sse_clients --hold), against 1
#   (8 and 9 are skipped when the server answers 404 on /api/sse/events.)
#
# It prints figures only: a missed target never changes the exit status. It exits
# non-zero only when it cannot run at all (no wrk, no binary, the server does not start).
# Every external command is bounded by a timeout, the server is always stopped and the
# temporary directory always removed (trap), so the run ends in bounded time.

# shellcheck disable=SC2317 # cleanup and curl_size run indirectly (trap, measure)
set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
export BENCH_DIR

MODE=full
for arg in "$@"; do
	case "$arg" in
	--smoke) MODE=smoke ;;
	-h | --help)
		sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench: unknown argument: $arg (use --smoke)" >&2
		exit 2
		;;
	esac
done

if [ "$MODE" = smoke ]; then
	WARM=1 DUR=2 SEED_TOTAL=10000 SEED_OPEN=1000 LIMIT=150
	SSE_SUBS=2000 SSE_EVENTS=20 SSE_TIMEOUT=60
else
	WARM=5 DUR=30 SEED_TOTAL=100000 SEED_OPEN=1000 LIMIT=900
	SSE_SUBS=10000 SSE_EVENTS=200 SSE_TIMEOUT=180
fi
SSE_HOLD_SUBS=1000 # scenario 9
SSE_GAP_MS=20      # between two signals of scenario 8
THREADS=2
CONNS=64
DEDUP_KEYS=100
export DEDUP_KEYS
TOKEN="bench-token-$(date +%s)-$$-0123456789"
BIN="$ROOT/build-release/intervene"

# Targets of issue 3, acceptance point 5 (printed next to the figures, never enforced).
T_NEW=10000 T_DEDUP=15000 T_P99_MS=20 T_BATCH=30000 T_LIST=5000 T_IDLE_ANON_KB=10240
# Issue 11, point 5: 10,000 subscribers, p99 from 202 to the last one, server RSS; ingest
# with 1,000 subscribers within this many percent of scenario 1.
T_SSE_P99_MS=100 T_SSE_RSS_KB=81920 T_SSE_INGEST_PCT=20

TMP=""
SERVER_PID=""
SAMPLER_PID=""
CHILD_PID=""
SSE_PID="" # scenario 9's subscribers (sse_clients --hold), while they are held

# run_bg CMD...: runs CMD in the background and waits for it, so that a signal reaches
# the trap at once (bash runs traps only between foreground commands); returns its status.
run_bg() {
	"$@" &
	CHILD_PID=$!
	wait "$CHILD_PID"
	local rc=$?
	CHILD_PID=""
	return $rc
}

stop_sampler() {
	if [ -n "$SAMPLER_PID" ]; then
		kill "$SAMPLER_PID" 2>/dev/null
		wait "$SAMPLER_PID" 2>/dev/null
		SAMPLER_PID=""
	fi
}

stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		for _ in $(seq 1 100); do # up to 10 s for a graceful stop
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "bench: server $SERVER_PID did not stop in 10 s; killing it" >&2
			kill -KILL "$SERVER_PID" 2>/dev/null
		fi
	fi
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=""
}

cleanup() {
	if [ -n "${HANG_PID:-}" ]; then
		kill "$HANG_PID" 2>/dev/null
		wait "$HANG_PID" 2>/dev/null
	fi
	if [ -n "$CHILD_PID" ]; then
		kill -TERM "$CHILD_PID" 2>/dev/null
		wait "$CHILD_PID" 2>/dev/null
		CHILD_PID=""
	fi
	if [ -n "$SSE_PID" ]; then
		kill -TERM "$SSE_PID" 2>/dev/null
		wait "$SSE_PID" 2>/dev/null
		SSE_PID=""
	fi
	stop_sampler
	stop_server
	cd / && [ -n "$TMP" ] && rm -rf "$TMP"
	TMP=""
}
trap cleanup EXIT
exec 3>&2 # the trap reports here even while stderr is redirected to a file
trap 'echo "bench: interrupted; stopping the server and cleaning up" >&3; exit 130' INT TERM HUP

# --- setup: wrk and the release binary ------------------------------------------------

if ! command -v wrk >/dev/null 2>&1; then
	echo "bench: installing wrk (apt-get install -y wrk)"
	timeout 300 apt-get install -y wrk >/dev/null 2>&1 ||
		{ timeout 300 apt-get update >/dev/null 2>&1 &&
			timeout 300 apt-get install -y wrk >/dev/null 2>&1; }
	if ! command -v wrk >/dev/null 2>&1; then
		echo "bench: wrk is not installed and could not be installed" >&2
		exit 1
	fi
fi

if [ -n "${BENCH_BIN:-}" ]; then
	# A given binary (say, one built from another commit) is measured as it is.
	BIN=$BENCH_BIN
	[ -x "$BIN" ] || { echo "bench: BENCH_BIN=$BIN is not an executable" >&2; exit 1; }
else
	if [ ! -f "$ROOT/build-release/build.ninja" ]; then
		echo "bench: configuring build-release (meson, --buildtype=release)"
		if ! timeout 300 meson setup "$ROOT/build-release" "$ROOT" --buildtype=release \
			>/dev/null; then
			echo "bench: meson setup build-release failed" >&2
			exit 1
		fi
	fi
	if ! timeout 600 ninja -C "$ROOT/build-release" intervene >"$ROOT/build-release/bench-build.log" 2>&1; then
		tail -30 "$ROOT/build-release/bench-build.log" >&2
		echo "bench: building build-release/intervene failed" >&2
		exit 1
	fi
fi

TMP=$(mktemp -d /tmp/intervene-bench.XXXXXX)
cd "$TMP" || exit 1 # nothing the run writes can land in the work tree
START_TS=$(date +%s)
CLK_TCK=$(getconf CLK_TCK)

# --- helpers ----------------------------------------------------------------------------

# start_server NAME [EXTRA_YAML [SERVER_KEYS]]: a fresh server on a free port with its own
# database (EXTRA_YAML: more top-level sections; SERVER_KEYS: more lines of `server:`,
# indented by two spaces); sets SERVER_PID and PORT, or returns 1.
start_server() {
	local dir="$TMP/$1"
	mkdir -p "$dir"
	cat >"$dir/config.yaml" <<EOF
server:
  listen: 127.0.0.1:0
${3:-}
storage:
  url: sqlite://$dir/bench.db
watcher:
  enabled: false
policy:
  rate_limit:
    max: 1000000
${2:-}
EOF
	INTERVENE_BOOTSTRAP_TOKEN="$TOKEN" "$BIN" --config "$dir/config.yaml" serve \
		>"$dir/server.log" 2>&1 </dev/null &
	SERVER_PID=$!
	PORT=""
	for _ in $(seq 1 100); do # up to 10 s
		PORT=$(sed -n 's/.*msg="listening" addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server.log" | head -1)
		[ -n "$PORT" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$PORT" ]; then
		echo "bench: the server did not start; its log:" >&2
		sed 's/^/    /' "$dir/server.log" >&2
		stop_server
		return 1
	fi
	return 0
}

# rss: "VmRSS_kB RssAnon_kB" of the server now.
rss() {
	awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} END {printf "%d %d\n", r, a}' \
		"/proc/$SERVER_PID/status" 2>/dev/null || echo "0 0"
}

# cpu_ticks: user+system clock ticks the server has used so far.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0
}

# pid_ticks [PID]: user+system clock ticks PID has used so far (0 without one).
pid_ticks() {
	[ -n "${1:-}" ] || { echo 0; return; }
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# busy_ticks: clock ticks all CPUs spent busy so far (not idle, not waiting for I/O).
busy_ticks() {
	awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# children_cpu_s: user+system seconds of this shell's finished children (wrk among them).
# `times` must run in this shell, not in a $(...) subshell, to see them.
children_cpu_s() {
	times >"$TMP/times"
	awk 'NR == 2 {
		n = split($1 " " $2, t, " "); s = 0
		for (i = 1; i <= n; i++) { split(t[i], p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] }
		printf "%.2f\n", s }' "$TMP/times"
}

# Samples the server's memory every 0.2 s into FILE until stopped.
start_sampler() {
	local file=$1 pid=$SERVER_PID
	(
		while [ -r "/proc/$pid/status" ]; do
			awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} END {printf "%d %d\n", r, a}' \
				"/proc/$pid/status" 2>/dev/null
			sleep 0.2
		done
	) >"$file" &
	SAMPLER_PID=$!
}

kb_mb() { awk -v k="$1" 'BEGIN {printf "%.1f MB", k / 1024}'; }

# field NAME LINE: the value of NAME=... in a BENCH line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run_wrk LABEL SCRIPT PATH DURATION [ARG]: runs wrk; stores its BENCH line in WRK_LINE
# and its full output in $TMP/LABEL.wrk.
run_wrk() {
	local label=$1 script=$2 path=$3 dur=$4 arg=${5:-}
	local out="$TMP/$label.wrk"
	run_bg timeout -k 5 $((dur + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${dur}s" --timeout 5s \
		--latency -H "Authorization: Bearer $TOKEN" -s "$BENCH_DIR/$script" \
		"http://127.0.0.1:$PORT$path" -- "$arg" >"$out" 2>&1
	local rc=$?
	WRK_LINE=$(grep '^BENCH ' "$out" | tail -1)
	if [ $rc -ne 0 ] || [ -z "$WRK_LINE" ]; then
		echo "    wrk ended with status $rc; its output:"
		sed 's/^/    | /' "$out"
		WRK_LINE=""
		return 1
	fi
	return 0
}

# Results, by scenario name, for the summary table.
declare -A R_OTHER R_SPS R_P50 R_P99 R_IDLE_ANON R_PEAK R_BYTES R_ERR

# measure NAME SCRIPT PATH MULT ARGPREFIX SAMPLE_CMD...: warm-up, then the measured run
# with memory sampling, then one sample request with curl for the response size. The CPU
# of ALSO_PID (a load process of the scenario other than wrk, when set) is shown apart.
ALSO_PID=""
ALSO_NAME=""
measure() {
	local name=$1 script=$2 path=$3 mult=$4 argp=$5
	shift 5
	local idle
	idle=$(rss)
	echo "  idle before load:  RSS $(kb_mb "${idle% *}"), RssAnon $(kb_mb "${idle#* }")"
	if ! run_wrk "$name-warm" "$script" "$path" "$WARM" "$argp-warm"; then
		echo "  warm-up failed; scenario skipped"
		return 1
	fi
	idle=$(rss)
	local t0 c0 w0 b0 t1 c1 w1 b1 x0 x1
	children_cpu_s >"$TMP/w0"
	t0=$(date +%s.%N) c0=$(cpu_ticks) w0=$(cat "$TMP/w0") b0=$(busy_ticks)
	x0=$(pid_ticks "$ALSO_PID")
	start_sampler "$TMP/$name.rss"
	run_wrk "$name" "$script" "$path" "$DUR" "$argp-run"
	local ok=$?
	stop_sampler
	children_cpu_s >"$TMP/w1"
	t1=$(date +%s.%N) c1=$(cpu_ticks) w1=$(cat "$TMP/w1") b1=$(busy_ticks)
	x1=$(pid_ticks "$ALSO_PID")
	local after peak
	after=$(rss)
	peak=$(awk '$1 > r {r = $1} $2 > a {a = $2} END {printf "%d %d\n", r, a}' "$TMP/$name.rss")
	if [ $ok -ne 0 ]; then
		echo "  measured run failed; scenario skipped"
		return 1
	fi
	sed -n '/Latency Distribution/,/Transfer/p' "$TMP/$name.wrk" | sed 's/^/    | /'
	local req dus bytes p50 p99 errs
	req=$(field requests "$WRK_LINE") dus=$(field duration_us "$WRK_LINE")
	bytes=$(field bytes "$WRK_LINE")
	p50=$(field p50_us "$WRK_LINE") p99=$(field p99_us "$WRK_LINE")
	errs=$(($(field err_connect "$WRK_LINE") + $(field err_read "$WRK_LINE") +
		$(field err_write "$WRK_LINE") + $(field err_timeout "$WRK_LINE")))
	local status_errs
	status_errs=$(field err_status "$WRK_LINE")
	local rps sps
	rps=$(awk -v r="$req" -v d="$dus" 'BEGIN {printf "%.0f", (d > 0 ? r / (d / 1e6) : 0)}')
	sps=$(awk -v r="$rps" -v m="$mult" 'BEGIN {printf "%.0f", r * m}')
	local p50ms p99ms avgbytes
	p50ms=$(awk -v u="$p50" 'BEGIN {printf "%.2f", u / 1000}')
	p99ms=$(awk -v u="$p99" 'BEGIN {printf "%.2f", u / 1000}')
	avgbytes=$(awk -v b="$bytes" -v r="$req" 'BEGIN {printf "%.0f", (r > 0 ? b / r : 0)}')
	local srv_cpu wrk_cpu other_cpu also_cpu
	srv_cpu=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v s="$t0" -v e="$t1" \
		'BEGIN {printf "%.0f", (e > s ? (b - a) / t / (e - s) * 100 : 0)}')
	wrk_cpu=$(awk -v a="$w0" -v b="$w1" -v s="$t0" -v e="$t1" \
		'BEGIN {printf "%.0f", (e > s ? (b - a) / (e - s) * 100 : 0)}')
	also_cpu=$(awk -v a="$x0" -v b="$x1" -v t="$CLK_TCK" -v s="$t0" -v e="$t1" \
		'BEGIN {printf "%.0f", (e > s ? (b - a) / t / (e - s) * 100 : 0)}')
	# Everything else the machine ran meanwhile: other processes disturb the figures.
	other_cpu=$(awk -v a="$b0" -v b="$b1" -v t="$CLK_TCK" -v s="$t0" -v e="$t1" \
		-v srv="$srv_cpu" -v w="$wrk_cpu" -v x="$also_cpu" \
		'BEGIN {o = (e > s ? (b - a) / t / (e - s) * 100 : 0) - srv - w - x; printf "%.0f", (o < 0 ? 0 : o)}')

	# One request of the same shape, for the exact response size.
	local size
	size=$("$@" 2>/dev/null)

	echo "  requests:          $req in $(awk -v d="$dus" 'BEGIN {printf "%.1f", d / 1e6}') s" \
		"(errors: socket $errs, non-2xx $status_errs)"
	if [ "$mult" -gt 1 ]; then
		echo "  throughput:        $rps req/s = $sps signals/s ($mult signals per request)"
	else
		echo "  throughput:        $rps req/s"
	fi
	echo "  latency:           p50 $p50ms ms, p99 $p99ms ms"
	echo "  response size:     ${size:-?} (wrk average: $avgbytes bytes per response incl. headers)"
	echo "  memory idle:       RSS $(kb_mb "${idle% *}"), RssAnon $(kb_mb "${idle#* }") (after warm-up)"
	echo "  memory under load: RSS $(kb_mb "${peak% *}"), RssAnon $(kb_mb "${peak#* }") (peak of samples every 0.2 s)"
	echo "  memory after:      RSS $(kb_mb "${after% *}"), RssAnon $(kb_mb "${after#* }")"
	echo "  CPU:               server $srv_cpu %, wrk $wrk_cpu %," \
		"${ALSO_PID:+$ALSO_NAME $also_cpu %, }everything else $other_cpu %" \
		"(100 % = one core; $(nproc) cores)"
	R_OTHER[$name]=$other_cpu
	R_SPS[$name]=$sps R_P50[$name]=$p50ms R_P99[$name]=$p99ms
	R_PEAK[$name]=${peak% *} R_BYTES[$name]=${size:-?}
	R_ERR[$name]=$((errs + status_errs))
	return 0
}

# curl_size METHOD PATH [BODYFILE]: "N bytes body + M bytes headers (HTTP code)".
curl_size() {
	local method=$1 path=$2 body=${3:-}
	local args=(-s -o /dev/null --max-time 30 -X "$method" -H "Authorization: Bearer $TOKEN"
		-w '%{size_download} bytes body + %{size_header} bytes headers (HTTP %{http_code})')
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
	curl "${args[@]}" "http://127.0.0.1:$PORT$path"
}

seed() { # seed PREFIX COUNT OPEN: creates COUNT incidents through the API, OPEN stay open
	run_bg timeout -k 5 "$LIMIT" python3 "$BENCH_DIR/seed.py" --port "$PORT" --token "$TOKEN" \
		--prefix "$1" --count "$2" --open "$3" --batch 1000 >"$TMP/seed.out" 2>&1
	sed 's/^/  /' "$TMP/seed.out"
}

over_time() {
	local now
	now=$(date +%s)
	if [ $((now - START_TS)) -gt "$LIMIT" ]; then
		echo "  skipped: the run has used its time limit of $LIMIT s"
		return 0
	fi
	return 1
}

idle_at_start() {
	local r
	r=$(rss)
	R_IDLE_ANON[$1]=${r#* }
	echo "  idle at start:     RSS $(kb_mb "${r% *}"), RssAnon $(kb_mb "${r#* }")"
}

# --- machine ----------------------------------------------------------------------------

echo "intervene bench ($MODE): $THREADS wrk threads, $CONNS connections, warm-up ${WARM} s," \
	"${DUR} s per scenario"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"$(free -h | awk '/^Mem:/ {print $2}') RAM, Linux $(uname -r)," \
	"Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
echo "libraries: SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo '?')," \
	"libevent $(pkg-config --modversion libevent 2>/dev/null || echo '?')," \
	"jansson $(pkg-config --modversion jansson 2>/dev/null || echo '?'); $(wrk -v 2>&1 | head -1)"
echo "storage: $(df -h "$TMP" | awk 'NR == 2 {print $1 " (" $2 ", " $4 " free)"}'), database in $TMP"
if [ -n "${BENCH_BIN:-}" ]; then
	echo "server: $BIN (BENCH_BIN)"
else
	dirty=""
	git -C "$ROOT" diff --quiet HEAD -- src meson.build 2>/dev/null || dirty=" + uncommitted changes"
	echo "server: $BIN (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$dirty)"
fi
echo

# --- 1. new keys ------------------------------------------------------------------------

echo "== 1. single signals, new keys: POST /api/signals"
if ! over_time && start_server new; then
	idle_at_start new
	printf '{"kind":"manual","key":"sample-new","summary":"bench new key"}' >"$TMP/new.json"
	measure new signal_new.lua /api/signals 1 new \
		curl_size POST /api/signals "$TMP/new.json"
	stop_server
fi
echo

# --- 2. dedup hits ----------------------------------------------------------------------

echo "== 2. single signals, dedup hits on $DEDUP_KEYS incidents: POST /api/signals"
if ! over_time && start_server dedup; then
	idle_at_start dedup
	seed dup "$DEDUP_KEYS" "$DEDUP_KEYS"
	printf '{"kind":"manual","key":"dup-0","summary":"bench dedup hit"}' >"$TMP/dedup.json"
	measure dedup signal_dedup.lua /api/signals 1 dedup \
		curl_size POST /api/signals "$TMP/dedup.json"
	stop_server
fi
echo

# --- 3. batches -------------------------------------------------------------------------

echo "== 3. batches of 100 signals (90 dedup hits, 10 new keys): POST /api/signals"
if ! over_time && start_server batch; then
	idle_at_start batch
	seed dup "$DEDUP_KEYS" "$DEDUP_KEYS"
	python3 - "$TMP/batch.json" <<'EOF'
import json, sys
items = [{"kind": "manual", "key": ("sample-new-%d" % j) if j % 10 == 9 else "dup-%d" % j,
          "summary": "bench batch"} for j in range(100)]
open(sys.argv[1], "w").write(json.dumps(items, separators=(",", ":")))
EOF
	measure batch signal_batch.lua /api/signals 100 batch \
		curl_size POST /api/signals "$TMP/batch.json"
	stop_server
fi
echo

# --- 4. list pages ----------------------------------------------------------------------

LIST_PATH='/api/incidents?status=open&per_page=50'
echo "== 4. list pages: GET $LIST_PATH over $SEED_TOTAL incidents, $SEED_OPEN open"
if ! over_time && start_server list; then
	idle_at_start list
	seed seed "$SEED_TOTAL" "$SEED_OPEN"
	measure list list.lua "$LIST_PATH" 1 list curl_size GET "$LIST_PATH"
	stop_server
fi
echo

# --- 5, 6. the same with a tracker that hangs ------------------------------------------

# A stand-in tracker that accepts connections and never answers: every delivery call
# waits out its 30 s timeout. The request path must not notice (issue 8, point 7).
HANG_PORT=""
HANG_PID=""
start_hang() {
	python3 -u -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(1024)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # read nothing, answer nothing
' >"$TMP/hang.port" &
	HANG_PID=$!
	for _ in $(seq 1 50); do
		HANG_PORT=$(head -1 "$TMP/hang.port" 2>/dev/null)
		[ -n "$HANG_PORT" ] && return 0
		sleep 0.1
	done
	return 1
}
stop_hang() {
	if [ -n "$HANG_PID" ]; then
		kill "$HANG_PID" 2>/dev/null
		wait "$HANG_PID" 2>/dev/null
	fi
	HANG_PID=""
}
hang_yaml() {
	printf 'tracker:\n  provider: github\n  github: {token: bench, owner: o, repo: r, base_url: "http://127.0.0.1:%s"}\n' "$HANG_PORT"
}

if start_hang; then
	echo "== 5. single signals, new keys, tracker hanging on every call: POST /api/signals"
	if ! over_time && start_server newhang "$(hang_yaml)"; then
		idle_at_start newhang
		measure newhang signal_new.lua /api/signals 1 newhang \
			curl_size POST /api/signals "$TMP/new.json"
		stop_server
	fi
	echo
	echo "== 6. list pages, tracker hanging on every call: GET $LIST_PATH"
	if ! over_time && start_server listhang "$(hang_yaml)"; then
		idle_at_start listhang
		seed seed "$SEED_TOTAL" "$SEED_OPEN"
		measure listhang list.lua "$LIST_PATH" 1 listhang curl_size GET "$LIST_PATH"
		stop_server
	fi
	echo
	stop_hang
else
	echo "bench: the hanging tracker stand-in did not start; scenarios 5 and 6 skipped"
fi

# --- 7. the watcher (issue 9): its own server and data, figures printed by watcher.py ---

if ! over_time; then
	W_ARGS=(--bin "$BIN")
	[ "$MODE" = smoke ] && W_ARGS+=(--smoke)
	if ! timeout -k 5 "$([ "$MODE" = smoke ] && echo 120 || echo 400)" \
		python3 "$BENCH_DIR/watcher.py" "${W_ARGS[@]}"; then
		echo "bench: scenario 7 (watcher) could not run to the end; figures above are partial"
	fi
	echo
fi

# --- 8, 9. Server-Sent Events (issue 11): subscribers held by bench/sse_clients.c ------

# The client (C17, libevent) is built into the temporary directory the first time it is
# needed; without a compiler or libevent's headers both scenarios are skipped.
SSE_BIN=""
SSE_ABSENT="" # set once a server answered 404: it has no /api/sse/events
SSE_BUILD=""  # "" not tried, ok, failed
sse_ready() {
	case "$SSE_BUILD" in
	ok) return 0 ;;
	failed)
		echo "  skipped: bench/sse_clients.c did not build (see scenario 8)"
		return 1
		;;
	esac
	if timeout 120 "${CC:-cc}" -O2 -std=c17 -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
		"$BENCH_DIR/sse_clients.c" -levent -o "$TMP/sse_clients" >"$TMP/sse_build.log" 2>&1; then
		SSE_BIN="$TMP/sse_clients" SSE_BUILD=ok
		return 0
	fi
	SSE_BUILD=failed
	tail -n 20 "$TMP/sse_build.log" | sed 's/^/    | /'
	echo "  scenarios 8 and 9 skipped: bench/sse_clients.c did not build (it needs a C" \
		"compiler and libevent's headers, Debian libevent-dev)"
	return 1
}

# Both scenarios hold thousands of connections open on each side: the server raises its
# own soft descriptor limit to the hard one, the client too, and this shell does it for
# the rest. With a hard limit too low for the count, fewer subscribers.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
SSE_NOFILE=$(ulimit -n)
if [ "$SSE_NOFILE" != unlimited ] && [ $((SSE_SUBS + 200)) -gt "$SSE_NOFILE" ]; then
	echo "bench: the descriptor limit is $SSE_NOFILE; scenario 8 holds" \
		"$((SSE_NOFILE - 200)) subscribers instead of $SSE_SUBS"
	SSE_SUBS=$((SSE_NOFILE - 200))
fi
# server.sse_max_clients and server.max_connections with room for every subscriber, wrk
# and the probes.
SSE_MAX=$((SSE_SUBS > 10000 ? SSE_SUBS : 10000))
SSE_KEYS=$(printf '  max_connections: %d\n  sse_max_clients: %d' $((SSE_MAX + 1000)) "$SSE_MAX")

# sse_probe SCENARIO: 0 when the server streams GET /api/sse/events; says why not else.
sse_probe() {
	local code
	code=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' \
		-H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/sse/events")
	case "$code" in
	200) return 0 ;;
	404)
		SSE_ABSENT=1
		echo "  scenario 8/9 skipped: the server has no /api/sse/events"
		;;
	*) echo "  scenario $1 skipped: GET /api/sse/events answered HTTP ${code:-?}" ;;
	esac
	return 1
}

# wait_line FILE REGEX PID SECONDS: 0 once FILE has a line matching REGEX; 1 when PID
# ended without one or the time ran out.
wait_line() {
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "$2" "$1" 2>/dev/null
}

declare -A R_SSE

# Scenario 8: one sse_clients run; RSS with the subscribers connected (the client waits
# 1 s between the last `connected` and the first signal) and during the signals.
sse_latency() {
	local out="$TMP/sse.out" idle conn peak after rc
	idle=$(rss)
	timeout -k 5 $((SSE_TIMEOUT + 30)) "$SSE_BIN" --port "$PORT" --token "$TOKEN" \
		--subscribers "$SSE_SUBS" --events "$SSE_EVENTS" --gap-ms "$SSE_GAP_MS" \
		--timeout-s "$SSE_TIMEOUT" --settle-ms 1000 >"$out" 2>"$TMP/sse.err" &
	CHILD_PID=$!
	conn=""
	if wait_line "$out" '^SSEHOLD ' "$CHILD_PID" $((SSE_TIMEOUT + 30)); then
		sleep 0.5
		conn=$(rss)
	fi
	local t0 c0 t1 c1
	t0=$(date +%s.%N) c0=$(cpu_ticks)
	start_sampler "$TMP/sse.rss"
	wait "$CHILD_PID"
	rc=$?
	CHILD_PID=""
	stop_sampler
	t1=$(date +%s.%N) c1=$(cpu_ticks)
	after=$(rss)
	peak=$(awk '$1 > r {r = $1} $2 > a {a = $2} END {printf "%d %d\n", r, a}' "$TMP/sse.rss")
	local line
	line=$(grep '^SSEBENCH ' "$out" | tail -1)
	if [ -z "$line" ] || [ -z "$conn" ]; then
		echo "  sse_clients ended with status $rc without its figures; its output:"
		sed 's/^/    | /' "$out" "$TMP/sse.err"
		return 1
	fi
	sed 's/^/    | /' "$TMP/sse.err" | head -n 10
	local f
	for f in connected failed dropped missing p50_ms p99_ms max_ms mean_ms measured sent \
		acked send_errors connect_s send_s client_cpu_s first_p50_ms timeout; do
		R_SSE[$f]=$(field "$f" "$line")
	done
	local per_sub srv_s
	per_sub=$(awk -v c="${conn% *}" -v i="${idle% *}" -v n="${R_SSE[connected]}" \
		'BEGIN {printf "%.1f", (n > 0 ? (c - i) / n : 0)}')
	srv_s=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
	echo "  subscribers:       ${R_SSE[connected]} of $SSE_SUBS connected in ${R_SSE[connect_s]} s" \
		"(gave up: ${R_SSE[failed]}); streams closed by the server during the run: ${R_SSE[dropped]}"
	local end="all delivered ${R_SSE[send_s]} s after the first"
	[ "${R_SSE[timeout]}" = 1 ] && end="NOT all delivered: the client's timeout ended the wait"
	echo "  signals:           ${R_SSE[sent]} sent ${SSE_GAP_MS} ms apart, ${R_SSE[acked]} answered 202" \
		"(other answers: ${R_SSE[send_errors]}); $end"
	echo "  latency:           p50 ${R_SSE[p50_ms]} ms, p99 ${R_SSE[p99_ms]} ms, max ${R_SSE[max_ms]} ms," \
		"mean ${R_SSE[mean_ms]} ms (202 -> the last subscriber; ${R_SSE[measured]} signals);" \
		"to the first subscriber: p50 ${R_SSE[first_p50_ms]} ms"
	echo "  missing:           ${R_SSE[missing]} (subscriber, event) pairs never received"
	echo "  memory idle:       RSS $(kb_mb "${idle% *}"), RssAnon $(kb_mb "${idle#* }") (no subscriber)"
	echo "  memory connected:  RSS $(kb_mb "${conn% *}"), RssAnon $(kb_mb "${conn#* }")" \
		"(${R_SSE[connected]} subscribers, no signal yet: $per_sub kB per subscriber)"
	echo "  memory signals:    RSS $(kb_mb "${peak% *}"), RssAnon $(kb_mb "${peak#* }") (peak of samples every 0.2 s)"
	echo "  memory after:      RSS $(kb_mb "${after% *}"), RssAnon $(kb_mb "${after#* }")"
	echo "  CPU:               server $srv_s s while the signals went out" \
		"($(awk -v s="$srv_s" -v n="${R_SSE[sent]}" 'BEGIN {printf "%.1f", (n > 0 ? s * 1000 / n : 0)}') ms" \
		"per signal), sse_clients ${R_SSE[client_cpu_s]} s (same machine)"
	R_P50[sse]=${R_SSE[p50_ms]} R_P99[sse]=${R_SSE[p99_ms]}
	R_PEAK[sse]=$(( ${peak% *} > ${conn% *} ? ${peak% *} : ${conn% *} ))
	return 0
}

echo "== 8. Server-Sent Events, $SSE_SUBS subscribers, $SSE_EVENTS new-key signals: GET /api/sse/events"
if ! over_time && sse_ready && start_server sse "" "$SSE_KEYS"; then
	idle_at_start sse
	sse_probe 8 && sse_latency
	stop_server
fi
echo

# Scenario 9's subscribers: held (read and dropped) while wrk runs.
sse_hold_start() {
	timeout -k 5 $((LIMIT + 120)) "$SSE_BIN" --hold --port "$PORT" --token "$TOKEN" \
		--subscribers "$SSE_HOLD_SUBS" --timeout-s 60 >"$TMP/hold.out" 2>"$TMP/hold.err" &
	SSE_PID=$!
	if ! wait_line "$TMP/hold.out" '^SSEHOLD connected=' "$SSE_PID" 70; then
		echo "  the subscribers did not connect; scenario 9 skipped. sse_clients said:"
		sed 's/^/    | /' "$TMP/hold.err"
		sse_hold_stop
		return 1
	fi
	local line r
	line=$(grep '^SSEHOLD connected=' "$TMP/hold.out" | head -1)
	r=$(rss)
	echo "  subscribers:       $(field connected "$line") of $SSE_HOLD_SUBS connected in" \
		"$(field connect_s "$line") s; server RSS $(kb_mb "${r% *}"), RssAnon $(kb_mb "${r#* }")"
	# its CPU apart in measure (the client is the child of `timeout`)
	ALSO_PID=$(pgrep -P "$SSE_PID" | head -1) ALSO_NAME=sse_clients
	return 0
}
sse_hold_stop() {
	ALSO_PID="" ALSO_NAME=""
	[ -n "$SSE_PID" ] || return 0
	kill -TERM "$SSE_PID" 2>/dev/null
	wait "$SSE_PID" 2>/dev/null
	SSE_PID=""
	local line
	line=$(grep '^SSEHOLD end ' "$TMP/hold.out" | tail -1)
	[ -n "$line" ] || return 0
	R_SSE[hold_dropped]=$(field dropped "$line")
	echo "  subscribers after: $(field live "$line") still connected, $(field dropped "$line")" \
		"closed by the server; $(awk -v b="$(field bytes "$line")" 'BEGIN {printf "%.1f", b / 1048576}') MB" \
		"of events read"
}

echo "== 9. single signals, new keys, $SSE_HOLD_SUBS SSE subscribers connected: POST /api/signals"
if [ -n "$SSE_ABSENT" ]; then
	echo "  scenario 8/9 skipped: the server has no /api/sse/events"
elif ! over_time && sse_ready && start_server newsse "" "$SSE_KEYS"; then
	idle_at_start newsse
	if sse_probe 9 && sse_hold_start; then
		printf '{"kind":"manual","key":"sample-new","summary":"bench new key"}' >"$TMP/new.json"
		measure newsse signal_new.lua /api/signals 1 newsse \
			curl_size POST /api/signals "$TMP/new.json"
		sse_hold_stop
	fi
	stop_server
fi
echo

# --- summary ----------------------------------------------------------------------------

# verdict VALUE TARGET [le]: "met" or "missed by X %".
verdict() {
	local v=$1 t=$2 dir=${3:-ge}
	[ -n "$v" ] || { echo "not measured"; return; }
	awk -v v="$v" -v t="$t" -v d="$dir" 'BEGIN {
		if (d == "ge") { if (v >= t) print "met"; else printf "missed by %.0f %%\n", (t - v) / t * 100 }
		else { if (v <= t) print "met"; else printf "missed: %.0f %% over\n", (v - t) / t * 100 } }'
}

echo "== summary ($MODE run; targets of issue 3, printed only)"
printf '  %-22s %12s %9s %9s %11s %11s  %s\n' scenario "signals/s" "p50 ms" "p99 ms" \
	"idle anon" "peak RSS" "target"
row() {
	local name=$1 label=$2 target_text=$3 verdict_text=$4
	printf '  %-22s %12s %9s %9s %11s %11s  %s: %s\n' "$label" "${R_SPS[$name]:-—}" \
		"${R_P50[$name]:-—}" "${R_P99[$name]:-—}" \
		"$([ -n "${R_IDLE_ANON[$name]:-}" ] && kb_mb "${R_IDLE_ANON[$name]}" || echo —)" \
		"$([ -n "${R_PEAK[$name]:-}" ] && kb_mb "${R_PEAK[$name]}" || echo —)" \
		"$target_text" "$verdict_text"
}
p99v() { # combined verdict for throughput and p99
	local a b
	a=$(verdict "${R_SPS[$1]:-}" "$2")
	b=$(verdict "${R_P99[$1]:-}" "$T_P99_MS" le)
	echo "$a; p99 $b"
}
row new "1 new keys" ">= $T_NEW/s, p99 <= $T_P99_MS ms" "$(p99v new $T_NEW)"
row dedup "2 dedup hits" ">= $T_DEDUP/s, p99 <= $T_P99_MS ms" "$(p99v dedup $T_DEDUP)"
row batch "3 batches of 100" ">= $T_BATCH signals/s" "$(verdict "${R_SPS[batch]:-}" $T_BATCH)"
row list "4 list pages (req/s)" ">= $T_LIST pages/s" "$(verdict "${R_SPS[list]:-}" $T_LIST)"
# within PCT % of BASE's figure (issue 8: a hanging tracker must not show)
near() { # near VALUE BASE PCT [ge|le [WHAT: the base, "no tracker"]]
	local v=$1 b=$2 pct=$3 dir=${4:-ge} what=${5:-no tracker}
	{ [ -n "$v" ] && [ -n "$b" ]; } || { echo "not measured"; return; }
	awk -v v="$v" -v b="$b" -v p="$pct" -v d="$dir" -v w="$what" 'BEGIN {
		ch = (v - b) / b * 100
		ok = (d == "ge") ? (v >= b * (1 - p / 100)) : (v <= b * (1 + p / 100))
		printf "%+.1f %% against %s: %s\n", ch, w, ok ? "met" : "missed" }'
}
row newhang "5 new keys, tracker hung" "within 10 % of 1" "$(near "${R_SPS[newhang]:-}" "${R_SPS[new]:-}" 10)"
row listhang "6 list, tracker hung" "p99 within 10 % of 4" "$(near "${R_P99[listhang]:-}" "${R_P99[list]:-}" 10 le)"
# Scenario 8: p99 and the server's peak VmRSS, and whether every subscriber got every event.
sse_verdict() {
	case "${R_P99[sse]:-NA}" in NA | "") echo "not measured"; return ;; esac
	local v
	v="p99 $(verdict "${R_P99[sse]}" "$T_SSE_P99_MS" le); RSS $(verdict "${R_PEAK[sse]}" "$T_SSE_RSS_KB" le)"
	[ "${R_SSE[missing]:-0}" = 0 ] || v="$v; ${R_SSE[missing]} deliveries missing"
	[ "$SSE_SUBS" -ge 10000 ] || v="$v ($SSE_SUBS subscribers, not 10,000)"
	echo "$v"
}
row sse "8 SSE, $SSE_SUBS subs" "p99 <= $T_SSE_P99_MS ms, RSS <= $(kb_mb $T_SSE_RSS_KB)" "$(sse_verdict)"
row newsse "9 new keys, $SSE_HOLD_SUBS subs" "within $T_SSE_INGEST_PCT % of 1" \
	"$(near "${R_SPS[newsse]:-}" "${R_SPS[new]:-}" "$T_SSE_INGEST_PCT" ge "no subscribers")"
echo "  idle RssAnon at start (fresh server): $(kb_mb "${R_IDLE_ANON[new]:-0}");" \
	"target <= $(kb_mb $T_IDLE_ANON_KB): $(verdict "${R_IDLE_ANON[new]:-}" $T_IDLE_ANON_KB le)"
for n in new dedup batch list newhang listhang newsse; do
	if [ "${R_ERR[$n]:-0}" != 0 ]; then
		echo "  WARNING: scenario $n had ${R_ERR[$n]} failed or non-2xx requests"
	fi
	if [ "${R_OTHER[$n]:-0}" -gt 15 ]; then
		echo "  WARNING: other processes used ${R_OTHER[$n]} % of a core during scenario $n;" \
			"its figures are low"
	fi
done
if [ "${R_SSE[dropped]:-0}" != 0 ] || [ "${R_SSE[failed]:-0}" != 0 ]; then
	echo "  WARNING: scenario 8: ${R_SSE[failed]} subscribers never connected," \
		"${R_SSE[dropped]} streams were closed by the server"
fi
if [ "${R_SSE[hold_dropped]:-0}" != 0 ]; then
	echo "  WARNING: scenario 9: the server closed ${R_SSE[hold_dropped]} of the $SSE_HOLD_SUBS" \
		"streams during the run (slow consumers); its figure is ingest with fewer subscribers"
fi
echo "  response sizes: new ${R_BYTES[new]:-?}; dedup ${R_BYTES[dedup]:-?};" \
	"batch ${R_BYTES[batch]:-?}; list ${R_BYTES[list]:-?}"
echo "  total time: $(($(date +%s) - START_TS)) s"
exit 0
