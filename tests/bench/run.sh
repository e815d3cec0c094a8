#!/usr/bin/env bash
# Every benchmark figure in one command (issue 5): builds, starts Mosquitto (set_tcp_nodelay),
# the platform simulator and the gateway on free ports in a temp dir, measures each figure
# beside its baseline of the same run, prints `name value unit baseline ratio` per figure and
# writes build/bench/results.json. Exits non-zero when a figure could not be produced.
#
#   tests/bench/run.sh           full sizes, Release build in build/bench-release (~15 min)
#   tests/bench/run.sh --quick   small sizes, reuses the main build dir build/ (RelWithDebInfo,
#                                as tests/run.sh builds it); checks that every figure is
#                                produced, not that it meets its target
#
# Environment: BENCH_BUILD_DIR overrides the build dir; BENCH_KEEP=1 keeps the temp dir.
# Figures are only meaningful on a quiet machine: the load average is recorded with each.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

QUICK=0
case "${1:-}" in
  --quick) QUICK=1 ;;
  "") ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

if [ $QUICK = 1 ]; then
  BUILD_DIR=${BENCH_BUILD_DIR:-build}
  BUILD_TYPE=RelWithDebInfo
  DECISIONS=30000; DECISION_LIST=100000; CARDLIST_ENTRIES=200000; QR_CODES=1000; QR_TAPS=20000; QR_OPENSSL_S=1
  FWD_RECORDS=20000; AUTH_COUNT=5000; AUTH_SEQ=300; AUTH_OPEN_S=2; INGEST_COUNT=20000
  SQLITE_COUNT=50000; BACKLOG=20000; DRAIN_RATE=200; NO_BACKLOG_S=3; QUIET_MAX_S=10; IDLE_S=2; PARSE_ROUNDS=2000
else
  BUILD_DIR=${BENCH_BUILD_DIR:-build/bench-release}
  BUILD_TYPE=Release
  DECISIONS=1000000; DECISION_LIST=1000000; CARDLIST_ENTRIES=30000000; QR_CODES=20000; QR_TAPS=200000; QR_OPENSSL_S=3
  FWD_RECORDS=300000; AUTH_COUNT=100000; AUTH_SEQ=3000; AUTH_OPEN_S=10; INGEST_COUNT=300000
  SQLITE_COUNT=1000000; BACKLOG=1000000; DRAIN_RATE=1000; NO_BACKLOG_S=10; QUIET_MAX_S=60; IDLE_S=5; PARSE_ROUNDS=20000
fi
AUTH_TERMINALS=4
AUTH_WINDOW=64
INGEST_TERMINALS=8
INGEST_WINDOW=4000
# Bulk upload (txn/batch): records a message, as a bus sends its offline taps on reconnect.
BULK_RECORDS=100

OUT=$ROOT/build/bench
LOGS=$OUT/logs
mkdir -p "$LOGS"
rm -f "$LOGS"/*
LINES=$LOGS/run.lines  # figures the script itself measures, in the same line format
: > "$LINES"

log() { echo "# $*"; }
FAILED=()
fail() {
  echo "bench: FAILED: $*" >&2
  FAILED+=("$*")
}

# ---- build
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $QUICK = 0 ]; then
  nice -n 10 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=$BUILD_TYPE \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache >/dev/null
fi
nice -n 10 ninja -C "$BUILD_DIR" yktgw ykt-platform-sim mqtt_bench decision_bench \
  cardlist_bench qr_bench forward_bench protocol_bench >"$LOGS/build.log" 2>&1 ||
  { tail -n 40 "$LOGS/build.log" >&2; echo "bench: build failed" >&2; exit 1; }
BIN=$ROOT/$BUILD_DIR/bin
BENCH=$ROOT/$BUILD_DIR/bench
[ -d "$BIN" ] || BIN=$BUILD_DIR/bin
[ -d "$BENCH" ] || BENCH=$BUILD_DIR/bench

# ---- processes of this run: stopped on any exit
RUN=$(mktemp -d /tmp/yktgw-bench.XXXXXX)
declare -A PIDS=()
stop_proc() {
  local name=$1 pid=${PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true  # a paused process handles TERM only once resumed
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$name]"
}
cleanup() {
  for name in openloop openloop_echo echo gateway platform mosquitto; do stop_proc "$name"; done
  for f in "$RUN"/*.out "$RUN"/*.log; do [ -f "$f" ] && cp "$f" "$LOGS/" 2>/dev/null; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "# kept $RUN" >&2; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

USED_PORTS=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      echo "$p"
      return
    fi
  done
}
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# figure NAME VALUE UNIT [BASELINE]: a line measured by this script.
figure() {
  local base=- ratio=-
  if [ -n "${4:-}" ] && [ "$4" != "-" ] && awk "BEGIN{exit !($4 != 0)}"; then
    base=$4
    ratio=$(awk "BEGIN{printf \"%.3f\", $2 / $4}")
  fi
  printf '%-40s %12s %-12s %12s %8s\n' "$1" "$2" "$3" "$base" "$ratio" | tee -a "$LINES"
}
# The figure lines of a bench's output: five fields, a number second, no comment.
figures_of() { awk '!/^#/ && NF == 5 && $2 ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/' "$1"; }
value_of() { cat "$LOGS"/*.out "$LINES" 2>/dev/null | awk -v n="$1" '$1 == n && NF == 5 {v=$2} END{print v}'; }
mem_mib() {  # mem_mib PID FIELD: VmRSS / VmHWM of a process in MiB
  awk -v f="$2:" '$1 == f {printf "%.1f", $2 / 1024}' "/proc/$1/status"
}

echo "# yktgw benchmarks $([ $QUICK = 1 ] && echo quick || echo full): build $BUILD_DIR ($BUILD_TYPE)"
echo "# machine: nproc $(nproc), $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
echo "# loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# name value unit baseline ratio"

# ---- in-process figures first, with nothing else of ours running
run_bench() {  # run_bench NAME CMD...: output to $LOGS/NAME.out, figures echoed
  local name=$1
  shift
  local t0=$SECONDS
  log "$name (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
  if ! "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"; then
    fail "$name exited with an error (see $LOGS/$name.err)"
    tail -n 5 "$LOGS/$name.err" >&2 || true
  fi
  figures_of "$LOGS/$name.out"
  log "$name took $((SECONDS - t0)) s"
}
# Every scenario kind and the terminal-MAC check, on the gateway's card list of $DECISION_LIST entries.
run_bench decision_bench "$BENCH/decision_bench" --decisions "$DECISIONS" \
  --list-entries "$DECISION_LIST"
run_bench protocol_bench "$BENCH/protocol_bench" --rounds "$PARSE_ROUNDS"
run_bench cardlist_bench "$BENCH/cardlist_bench" --entries "$CARDLIST_ENTRIES" --dir "$RUN/cardlist"
rm -rf "$RUN/cardlist"
# QR decisions per CPU second beside `openssl speed sm2` of the same run: the decoder alone on one
# thread (qr_decisions_1thread) and through the engine and its one-thread crypto pool with no
# card taps (qr_engine_decisions_1worker); the ratio column is the one against openssl.
run_bench qr_bench "$BENCH/qr_bench" --codes "$QR_CODES" --taps "$QR_TAPS" \
  --openssl-seconds "$QR_OPENSSL_S" --list-entries "$DECISION_LIST"
run_bench forward_bench "$BENCH/forward_bench" --records "$FWD_RECORDS" --rounds 1

# ---- broker, platform, gateway, echo responder
MQTT_PORT=$(free_port)
ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
STATUS_PORT=$(free_port)
SITE=bench
ECHO_SITE=benchecho
MQTT=tcp://127.0.0.1:$MQTT_PORT
mkdir -p "$RUN/data"

cat >"$RUN/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence false
max_queued_messages 1000000
max_inflight_messages 0
CONF
mosquitto -c "$RUN/mosquitto.conf" >"$RUN/mosquitto.log" 2>&1 &
PIDS[mosquitto]=$!
wait_port "$MQTT_PORT" || { fail "mosquitto did not start"; exit 1; }

"$BIN/yktgw" keygen hmac --out "$RUN/hmac.key" >/dev/null
SERVER_PUBLIC=$("$BIN/ykt-platform-sim" keygen --out "$RUN/district-server.key" --force 2>/dev/null | head -n 1)
"$BIN/yktgw" keygen curve --out "$RUN/district-client.key" >/dev/null
install -m 600 config/dev-keys/terminal-mac.keys "$RUN/terminal-mac.keys"

PLATFORM_RUN=()  # a prefix for the platform's command line (a scheduling class)
start_platform() {
  "${PLATFORM_RUN[@]}" "$BIN/ykt-platform-sim" serve --zmq "tcp://127.0.0.1:$ZMQ_PORT" --http "127.0.0.1:$HTTP_PORT" \
    --server-key-file "$RUN/district-server.key" --hmac-key-file "$RUN/hmac.key" \
    --population-seed 42 --cards 2000 --db "$RUN/platform.db" \
    --feed-key-file config/dev-keys/platform-feed.key.pem >>"$RUN/platform.out" 2>&1 &
  PIDS[platform]=$!
  wait_port "$ZMQ_PORT" && wait_port "$HTTP_PORT"
}
start_platform || { fail "ykt-platform-sim did not start"; exit 1; }

SETS=(--set "gateway.data_dir=$RUN/data" --set "security.hmac_key_file=$RUN/hmac.key"
      --set "mqtt.uri=$MQTT" --set "gateway.site=$SITE" --set "log.console=false"
      --set "status.listen=127.0.0.1:$STATUS_PORT"
      --set "credentials.terminal_mac_keys_file=$RUN/terminal-mac.keys"
      --set "district.endpoint=tcp://127.0.0.1:$ZMQ_PORT"
      --set "district.server_public_key=$SERVER_PUBLIC"
      --set "district.client_key_file=$RUN/district-client.key"
      --set "cardlist.feed_url=http://127.0.0.1:$HTTP_PORT"
      --set "cardlist.platform_public_key_file=$ROOT/config/dev-keys/platform-feed.pub.pem")
"$BIN/yktgw" --config config/yktgw.toml "${SETS[@]}" >"$RUN/gateway.out" 2>&1 &
PIDS[gateway]=$!
GW_PID=${PIDS[gateway]}
for _ in $(seq 1 150); do grep -q "mqtt connected\|connected uri=" "$RUN/data/logs/yktgw.log" 2>/dev/null && break; sleep 0.1; done
grep -q "connected uri=" "$RUN/data/logs/yktgw.log" 2>/dev/null ||
  { fail "the gateway did not connect to the broker"; tail -n 20 "$RUN/gateway.out" >&2; exit 1; }

"$BENCH/mqtt_bench" echo --broker "$MQTT" --site "$ECHO_SITE" >"$RUN/echo.out" 2>&1 &
PIDS[echo]=$!
for _ in $(seq 1 100); do grep -q "ready" "$RUN/echo.out" && break; sleep 0.1; done

# ---- gateway memory at idle
sleep "$IDLE_S"
log "gateway memory at idle (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
figure gateway_rss_idle "$(mem_mib "$GW_PID" VmRSS)" MiB
figure gateway_hwm_idle "$(mem_mib "$GW_PID" VmHWM)" MiB

# ---- auth round trips: gateway vs echo
run_bench mqtt_auth "$BENCH/mqtt_bench" auth --broker "$MQTT" --site "$SITE" \
  --echo-site "$ECHO_SITE" --terminals $AUTH_TERMINALS --window $AUTH_WINDOW \
  --count $AUTH_COUNT --seq $AUTH_SEQ --open-s $AUTH_OPEN_S

# ---- durable txn ingest: gateway vs a raw SQLite loop with the same pragmas, on the same disk
run_bench txn_sqlite "$BENCH/mqtt_bench" sqlite --dir "$RUN/sqlite" --count $SQLITE_COUNT \
  --batch 2000
SQLITE_RPS=$(value_of txn_sqlite_raw_records_per_s)
# The district platform is another machine. Here its simulator shares the gateway's two cores
# (it decompresses and stores every record it gets: about two thirds of a core under bulk
# ingest), so for the ingest figures it is paused (SIGSTOP) as the raw loop's machine is quiet.
# The gateway still forwards: its link sends up to its in-flight limit, then waits for acks.
# The bulk figure is measured once more with the simulator running, for comparison.
pause_platform() { kill -STOP "${PIDS[platform]}" 2>/dev/null || fail "cannot pause the platform"; }
resume_platform() { kill -CONT "${PIDS[platform]}" 2>/dev/null || fail "cannot resume the platform"; }
pause_platform
run_bench txn_ingest "$BENCH/mqtt_bench" ingest --broker "$MQTT" --site "$SITE" \
  --terminals $INGEST_TERMINALS --window $INGEST_WINDOW --count $INGEST_COUNT \
  --baseline "${SQLITE_RPS:-0}"
run_bench txn_ingest_bulk "$BENCH/mqtt_bench" ingest --broker "$MQTT" --site "$SITE" \
  --terminals $INGEST_TERMINALS --window $INGEST_WINDOW --count $((INGEST_COUNT * 2)) \
  --records-per-message $BULK_RECORDS --name txn_ingest_bulk --baseline "${SQLITE_RPS:-0}"
resume_platform
run_bench txn_ingest_bulk_with_platform "$BENCH/mqtt_bench" ingest --broker "$MQTT" \
  --site "$SITE" --terminals $INGEST_TERMINALS --window $INGEST_WINDOW \
  --count $((INGEST_COUNT * 2)) --records-per-message $BULK_RECORDS \
  --name txn_ingest_bulk_with_platform --baseline "${SQLITE_RPS:-0}"

# ---- gateway memory after the load
log "gateway memory after auth and ingest load (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
figure gateway_rss_after_load "$(mem_mib "$GW_PID" VmRSS)" MiB "$(value_of gateway_rss_idle)"
figure gateway_hwm_under_load "$(mem_mib "$GW_PID" VmHWM)" MiB "$(value_of gateway_hwm_idle)"

# ---- backlog drain: terminals' round trips during the drain vs with no backlog
# While the open loops measure, this script starts no process: the district link is read from the
# gateway's status API by bash itself (/dev/tcp, a regex) and it naps with `read -t` on a FIFO.
# A curl | jq pipe and a `sleep` four times a second were enough, on these two cores, to lift the
# p99 of the gateway and of the bare echo alike from under 1 ms to 2-4 ms (docs/BENCHMARKS.md
# section 0.1). The API is the gateway's own counters: `yktgw outbox stats` counts rows, about
# 0.2 s of CPU a call at a million records, and is used only before the platform returns.
mkfifo "$RUN/nap.fifo"
exec {NAP_FD}<>"$RUN/nap.fifo"
nap() { read -r -t "$1" -u "$NAP_FD" _ || true; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# district_link: sets LINK_BACKLOG and LINK_LAST_ACK_MS (UTC ms of the last batch the platform
# acked); fails when the API gives no answer. The answer is compact JSON, one object per link.
district_link() {
  local fd resp
  local re_b='"destination":"district"[^}]*"backlog":([0-9]+)'
  local re_a='"destination":"district"[^}]*"last_ack_ms":([0-9]+)'
  LINK_BACKLOG= LINK_LAST_ACK_MS=
  exec {fd}<>"/dev/tcp/127.0.0.1/$STATUS_PORT" 2>/dev/null || return 1
  printf 'GET /api/v1/outbox HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$STATUS_PORT" >&"$fd"
  IFS= read -r -d '' -u "$fd" resp || true
  exec {fd}>&-
  [[ $resp =~ $re_b ]] && LINK_BACKLOG=${BASH_REMATCH[1]}
  [[ $resp =~ $re_a ]] && LINK_LAST_ACK_MS=${BASH_REMATCH[1]}
  [ -n "$LINK_BACKLOG" ]
}
# The exact count, read from the files: for the backlog before the platform returns.
district_backlog_counted() {
  "$BIN/yktgw" --config config/yktgw.toml "${SETS[@]}" outbox stats 2>/dev/null |
    awk '$1 == "district" {print $3}'
}
# wait_quiet: until the two cores are at most 10 % busy over a second (at most QUIET_MAX_S), so a
# figure does not start while the platform still stores or a checkpoint runs.
wait_quiet() {
  local u n s i w q sq st b0 t0 b1 t1
  for _ in $(seq 1 "$QUIET_MAX_S"); do
    read -r _ u n s i w q sq st _ </proc/stat
    b0=$((u + n + s + q + sq + st)) t0=$((u + n + s + i + w + q + sq + st))
    nap 1
    read -r _ u n s i w q sq st _ </proc/stat
    b1=$((u + n + s + q + sq + st)) t1=$((u + n + s + i + w + q + sq + st))
    [ $(((b1 - b0) * 100)) -le $((10 * (t1 - t0))) ] && return 0
  done
  log "the machine did not become quiet: $(cut -d' ' -f1-3 /proc/loadavg)"
}
# openloops NAME MAX_S [UNTIL_FILE] [ARGS...]: the same open loop against the gateway (NAME) and
# against the bare echo (echo_NAME), in the same window, in the background (pids OPENLOOP_PIDS).
openloops() {
  local name=$1 max_s=$2 until=${3:-}
  shift 3 || shift $#
  local u=()
  [ -n "$until" ] && u=(--until-file "$until")
  "$BENCH/mqtt_bench" openloop --broker "$MQTT" --site "$SITE" --terminals $AUTH_TERMINALS \
    --rate $DRAIN_RATE --max-s "$max_s" "${u[@]}" --name "$name" "$@" \
    >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
  PIDS[openloop]=$!
  "$BENCH/mqtt_bench" openloop --broker "$MQTT" --site "$ECHO_SITE" --terminals $AUTH_TERMINALS \
    --rate $DRAIN_RATE --max-s "$max_s" "${u[@]}" --name "echo_${name#auth_}" \
    >"$LOGS/echo_$name.out" 2>"$LOGS/echo_$name.err" &
  PIDS[openloop_echo]=$!
}
# openloops_wait NAME: waits for both, echoes their figures and the gateway's p99 against the echo.
openloops_wait() {
  local name=$1 ok=0
  wait "${PIDS[openloop]}" || { fail "open loop $name failed"; ok=1; }
  unset "PIDS[openloop]"
  wait "${PIDS[openloop_echo]}" || { fail "echo open loop $name failed"; ok=1; }
  unset "PIDS[openloop_echo]"
  figures_of "$LOGS/$name.out"
  figures_of "$LOGS/echo_$name.out"
  figure "${name}_p99_vs_echo" "$(value_of "${name}_p99")" ms "$(value_of "echo_${name#auth_}_p99")"
  return $ok
}
# Everything so far forwarded first, so the "no backlog" baseline has none.
for _ in $(seq 1 600); do district_link && [ "$LINK_BACKLOG" = 0 ] && break; nap 0.5; done
wait_quiet
log "auth_no_backlog (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
openloops auth_no_backlog "$NO_BACKLOG_S" ""
openloops_wait auth_no_backlog || true
# drain_round SUFFIX [PLATFORM_SCHED]: the platform goes down, a backlog of $BACKLOG records
# builds up, the platform returns and the backlog drains while the same open loop runs against the
# gateway and against the bare echo. PLATFORM_SCHED "idle" runs the platform simulator at the idle
# scheduling class, so it takes only CPU nothing else wants: in the field the platform is another
# machine, and this round shows the terminals' round trips without its storage work on these two
# cores. The round without it is the worst case of both on one box. The drain time runs from the
# platform's start to the gateway's last ack of the drain (its status API's last_ack_ms, read once
# the backlog is 0).
drain_round() {
  local suf=$1 sched=${2:-}
  log "platform down; building a backlog of $BACKLOG records${sched:+ (platform at $sched priority on return)}"
  stop_proc platform
  run_bench "backlog_ingest$suf" "$BENCH/mqtt_bench" ingest --broker "$MQTT" --site "$SITE" \
    --terminals $INGEST_TERMINALS --window $INGEST_WINDOW --count $BACKLOG \
    --name "backlog_ingest$suf" --records-per-message $BULK_RECORDS
  local before
  before=$(district_backlog_counted)
  log "district backlog before the platform returns: ${before:-?} records"
  if [ -z "$before" ] || [ "$before" -lt "$BACKLOG" ]; then
    fail "district backlog ${before:-unknown} is below the $BACKLOG records ingested"
  fi
  wait_quiet
  local stop_file=$RUN/drain$suf.done name=auth_during_drain$suf
  openloops "$name" 600 "$stop_file" \
    --baseline-p50 "$(value_of auth_no_backlog_p50 | grep . || echo 0)" \
    --baseline-p99 "$(value_of auth_no_backlog_p99 | grep . || echo 0)"
  # The open loops are connected and sending before the platform returns.
  local f
  for f in "$name" "echo_$name"; do
    for _ in $(seq 1 300); do grep -qs "open loop running" "$LOGS/$f.out" && break; nap 0.1; done
  done
  nap 1
  local t0 drained=0 i
  PLATFORM_RUN=()
  [ "$sched" = idle ] && PLATFORM_RUN=(chrt --idle 0)
  t0=$(now_ms)
  start_platform || fail "ykt-platform-sim did not restart"
  PLATFORM_RUN=()
  for ((i = 0; i < 2400; ++i)); do
    if district_link && [ "$LINK_BACKLOG" = 0 ]; then drained=1; break; fi
    nap 0.25
  done
  touch "$stop_file"
  openloops_wait "$name" || true
  if [ $drained = 1 ] && [ "${LINK_LAST_ACK_MS:-0}" -gt "$t0" ]; then
    local secs
    secs=$(awk "BEGIN{printf \"%.2f\", ($LINK_LAST_ACK_MS - $t0) / 1000}")
    figure "e2e_drain${suf}_backlog_records" "$before" records
    figure "e2e_drain${suf}_platform_up_to_empty" "$secs" s
    figure "e2e_drain${suf}_records_per_s" "$(awk "BEGIN{printf \"%.0f\", $before / $secs}")" records/s
  else
    district_link || true
    fail "the district backlog did not drain within 600 s (left: ${LINK_BACKLOG:-?}, last ack ${LINK_LAST_ACK_MS:-?})"
  fi
}
drain_round ""
drain_round _platform_idle idle
figure gateway_hwm_after_drain "$(mem_mib "$GW_PID" VmHWM)" MiB "$(value_of gateway_hwm_idle)"

# ---- results
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
for f in "$LOGS"/*.out; do
  figures_of "$f" | awk -v b="$(basename "$f" .out)" '{print b, $0}'
done >"$LOGS/all.figures"
awk '{print "run", $0}' "$LINES" >>"$LOGS/all.figures"

REQUIRED=(
  baseline_token_lookup_p99 decision_canteen_p99 decision_gate_site_p99
  decision_parking_entry_p99 decision_parking_exit_p99 decision_bus_p99 decision_scenic_p99
  decision_library_p99 decision_museum_p99 decision_hotel_p99 decision_clinic_offline_decline_p99
  decision_canteen_mac_p99
  parse_txn_batch_per_record parse_auth_request
  load_from_sqlite lookup_hit_p99 delta_apply_until_serving
  qr_decisions_1thread qr_engine_decisions_1worker card_tap_under_qr_load_p99
  zmq_forward_null_receiver_records_per_s zmq_raw_dealer_router_records_per_s https_forward_records_per_s https_raw_curl_records_per_s drain_link_up_to_all_acked
  auth_throughput auth_p99_at_half_rate auth_sequential_p50
  txn_sqlite_raw_records_per_s txn_ingest_records_per_s txn_ingest_bulk_records_per_s
  txn_ingest_bulk_with_platform_records_per_s
  gateway_rss_idle gateway_hwm_idle gateway_hwm_under_load
  auth_no_backlog_p99 echo_no_backlog_p99 auth_no_backlog_p99_vs_echo auth_during_drain_p50 auth_during_drain_p99 e2e_drain_platform_up_to_empty
  echo_during_drain_p99 auth_during_drain_p99_vs_echo
  auth_during_drain_platform_idle_p99 echo_during_drain_platform_idle_p99
  auth_during_drain_platform_idle_p99_vs_echo e2e_drain_platform_idle_platform_up_to_empty
)
for name in "${REQUIRED[@]}"; do
  awk -v n="$name" '$2 == n {found=1} END{exit !found}' "$LOGS/all.figures" ||
    fail "figure $name was not produced"
done

jq -R -s \
  --arg mode "$([ $QUICK = 1 ] && echo quick || echo full)" --arg build "$BUILD_TYPE" \
  --arg nproc "$(nproc)" --arg cpu "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)" \
  --arg kernel "$(uname -r)" --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo -)" \
  --arg load_start "$LOAD_START" --arg load_end "$LOAD_END" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg failed "${FAILED[*]:-}" '
  def num: if . == "-" then null else tonumber end;
  {mode: $mode, build_type: $build, date: $date, commit: $commit,
   machine: {nproc: ($nproc | tonumber), cpu: $cpu, kernel: $kernel},
   loadavg: {start: $load_start, end: $load_end},
   failures: ($failed | if . == "" then [] else [.] end),
   figures: [split("\n")[] | select(length > 0) | split(" ") | map(select(length > 0))
             | {bench: .[0], name: .[1], value: (.[2] | num), unit: .[3],
                baseline: (.[4] | num), ratio: (.[5] | num)}]}' \
  "$LOGS/all.figures" >"$OUT/results.json"

echo "# loadavg at end: $LOAD_END"
echo "# $(jq '.figures | length' "$OUT/results.json") figures in $OUT/results.json"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'bench: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
