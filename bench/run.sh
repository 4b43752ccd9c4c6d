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
		sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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
else
	WARM=5 DUR=30 SEED_TOTAL=100000 SEED_OPEN=1000 LIMIT=900
fi
THREADS=2
CONNS=64
DEDUP_KEYS=100
export DEDUP_KEYS
TOKEN="bench-token-$(date +%s)-$$-0123456789"
BIN="$ROOT/build-release/intervene"

# Targets of issue 3, acceptance point 5 (printed next to the figures, never enforced).
T_NEW=10000 T_DEDUP=15000 T_P99_MS=20 T_BATCH=30000 T_LIST=5000 T_IDLE_ANON_KB=10240

TMP=""
SERVER_PID=""
SAMPLER_PID=""
CHILD_PID=""

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

# start_server NAME [EXTRA_YAML]: a fresh server on a free port with its own database
# (EXTRA_YAML: more top-level sections); sets SERVER_PID and PORT, or returns 1.
start_server() {
	local dir="$TMP/$1"
	mkdir -p "$dir"
	cat >"$dir/config.yaml" <<EOF
server:
  listen: 127.0.0.1:0
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
# with memory sampling, then one sample request with curl for the response size.
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
	local t0 c0 w0 b0 t1 c1 w1 b1
	children_cpu_s >"$TMP/w0"
	t0=$(date +%s.%N) c0=$(cpu_ticks) w0=$(cat "$TMP/w0") b0=$(busy_ticks)
	start_sampler "$TMP/$name.rss"
	run_wrk "$name" "$script" "$path" "$DUR" "$argp-run"
	local ok=$?
	stop_sampler
	children_cpu_s >"$TMP/w1"
	t1=$(date +%s.%N) c1=$(cpu_ticks) w1=$(cat "$TMP/w1") b1=$(busy_ticks)
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
	local srv_cpu wrk_cpu other_cpu
	srv_cpu=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v s="$t0" -v e="$t1" \
		'BEGIN {printf "%.0f", (e > s ? (b - a) / t / (e - s) * 100 : 0)}')
	wrk_cpu=$(awk -v a="$w0" -v b="$w1" -v s="$t0" -v e="$t1" \
		'BEGIN {printf "%.0f", (e > s ? (b - a) / (e - s) * 100 : 0)}')
	# Everything else the machine ran meanwhile: other processes disturb the figures.
	other_cpu=$(awk -v a="$b0" -v b="$b1" -v t="$CLK_TCK" -v s="$t0" -v e="$t1" \
		-v srv="$srv_cpu" -v w="$wrk_cpu" \
		'BEGIN {o = (e > s ? (b - a) / t / (e - s) * 100 : 0) - srv - w; printf "%.0f", (o < 0 ? 0 : o)}')

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
	echo "  CPU:               server $srv_cpu %, wrk $wrk_cpu %, everything else $other_cpu %" \
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
near() { # near VALUE BASE PCT [le]
	local v=$1 b=$2 pct=$3 dir=${4:-ge}
	{ [ -n "$v" ] && [ -n "$b" ]; } || { echo "not measured"; return; }
	awk -v v="$v" -v b="$b" -v p="$pct" -v d="$dir" 'BEGIN {
		ch = (v - b) / b * 100
		ok = (d == "ge") ? (v >= b * (1 - p / 100)) : (v <= b * (1 + p / 100))
		printf "%+.1f %% against no tracker: %s\n", ch, ok ? "met" : "missed" }'
}
row newhang "5 new keys, tracker hung" "within 10 % of 1" "$(near "${R_SPS[newhang]:-}" "${R_SPS[new]:-}" 10)"
row listhang "6 list, tracker hung" "p99 within 10 % of 4" "$(near "${R_P99[listhang]:-}" "${R_P99[list]:-}" 10 le)"
echo "  idle RssAnon at start (fresh server): $(kb_mb "${R_IDLE_ANON[new]:-0}");" \
	"target <= $(kb_mb $T_IDLE_ANON_KB): $(verdict "${R_IDLE_ANON[new]:-}" $T_IDLE_ANON_KB le)"
for n in new dedup batch list newhang listhang; do
	if [ "${R_ERR[$n]:-0}" != 0 ]; then
		echo "  WARNING: scenario $n had ${R_ERR[$n]} failed or non-2xx requests"
	fi
	if [ "${R_OTHER[$n]:-0}" -gt 15 ]; then
		echo "  WARNING: other processes used ${R_OTHER[$n]} % of a core during scenario $n;" \
			"its figures are low"
	fi
done
echo "  response sizes: new ${R_BYTES[new]:-?}; dedup ${R_BYTES[dedup]:-?};" \
	"batch ${R_BYTES[batch]:-?}; list ${R_BYTES[list]:-?}"
echo "  total time: $(($(date +%s) - START_TS)) s"
exit 0
