#!/usr/bin/env bash
# The vendor guide's commands against the real quickstart: starts deploy/quickstart.sh without
# installing or building, on free ports and its own run directory; runs the `sh` blocks of
# docs/vendor-guide.md in order (with the guide's port and paths replaced by this run's) and
# checks the replies the guide promises; starts the quickstart a second time (rerunning is safe:
# everything up again, one process of each); stops it with the documented command and checks
# that nothing of it is left. Around that, the quickstart's care for other programs: a stale pid
# file naming a stranger's process does not get it killed, and a port a stranger holds is
# refused with a message naming it, with nothing left running.
# Usage: vendor_guide_test.sh SOURCE_DIR BUILD_DIR   (YKT_TEST_KEEP=1 keeps the work directory)
set -euo pipefail
SRC=$(cd "$1" && pwd)
BUILD=$(cd "$2" && pwd)
GUIDE=$SRC/docs/vendor-guide.md
WORK=$(mktemp -d /tmp/yktgw-guide.XXXXXX)
RUN=$WORK/run
BIN=$BUILD/bin
T0=$(date +%s)

# Free ports: nothing listens there now, and no two alike.
declare -A TAKEN=()
free_port() {
  local p
  while :; do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    [ -z "${TAKEN[$p]:-}" ] || continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    TAKEN[$p]=1
    echo "$p"
    return
  done
}
# Not in a command substitution: TAKEN must see each port.
for v in YKT_MQTT_PORT YKT_ZMQ_PORT YKT_HTTP_PORT YKT_HTTPS_PORT YKT_STATUS_PORT STRANGER_PORT; do
  free_port >"$WORK/port"
  export "$v=$(cat "$WORK/port")"
done
export YKT_RUN_DIR=$RUN YKT_BUILD_DIR=$BUILD
PORT=$YKT_MQTT_PORT

quickstart() { "$SRC/deploy/quickstart.sh" "$@"; }
# Processes of this run: their command line names the run directory.
ours() {
  local f
  for f in /proc/[0-9]*/cmdline; do
    if tr '\0' ' ' 2>/dev/null <"$f" | grep -qF "$RUN/"; then
      f=${f#/proc/}
      echo "${f%/cmdline} $(tr '\0' ' ' 2>/dev/null <"/proc/${f%/cmdline}/cmdline" | cut -d' ' -f1)"
    fi
  done
}
MON_PID=""
STRANGER_PID=""
cleanup() {
  local rc=$?
  [ -z "$MON_PID" ] || kill "$MON_PID" 2>/dev/null || true
  [ -z "$STRANGER_PID" ] || kill "$STRANGER_PID" 2>/dev/null || true
  quickstart stop >/dev/null 2>&1 || true
  if [ "$rc" -eq 0 ] && [ -z "${YKT_TEST_KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept for inspection: $WORK" >&2; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK/guide.out" "$WORK/window1.log" "$RUN/gateway.out"; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
  done
  exit 1
}
elapsed() { echo "$(($(date +%s) - T0)) s"; }

# A stranger: a broker that is not the quickstart's, on a port of its own, and a pid file of
# the run directory that names it (as one left by a crash might, once its pid is reused).
mosquitto -p "$STRANGER_PORT" >"$WORK/stranger.log" 2>&1 &
STRANGER_PID=$!
mkdir -p "$RUN"
echo "$STRANGER_PID" >"$RUN/mosquitto.pid"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$STRANGER_PORT") 2>/dev/null && break; sleep 0.1; done

# --- The first start.
quickstart --no-install --no-build >"$WORK/quickstart-1.log" 2>&1 ||
  { cat "$WORK/quickstart-1.log" >&2; fail "quickstart start"; }
grep -q "stop / 停止: *YKT_RUN_DIR=$RUN .*quickstart.sh stop" "$WORK/quickstart-1.log" ||
  fail "quickstart does not print the stop command"
curl -fsS "http://127.0.0.1:$YKT_STATUS_PORT/readyz" | jq -e '.ready' >/dev/null ||
  fail "status page not ready after the first start"
kill -0 "$STRANGER_PID" 2>/dev/null || fail "the quickstart killed the process of a stale pid file"
echo "ok: quickstart started, the stranger of the stale pid file still runs ($(elapsed))"

# --- The guide's sh blocks: "sh" runs, "sh test=skip" does not, "sh test=background" is
# window 1, "sh test=twice" runs twice (the resend and replay steps).
awk -v dir="$WORK" '
  /^```sh( |$)/ { n++; attr = $2; if (attr == "") attr = "test=run";
                  printf "%d %s\n", n, attr > (dir "/blocks"); inb = 1; next }
  inb && /^```$/ { inb = 0; next }
  inb { print > (dir "/block-" n ".sh") }
' "$GUIDE"
[ "$(grep -c . "$WORK/blocks")" -ge 10 ] || fail "fewer sh blocks in the guide than expected"
{
  echo "set -e"
  while read -r n attr; do
    [ "$attr" = test=skip ] && continue
    sed -e "s/11883/$PORT/g" -e "s#build/bin/#$BIN/#g" -e "s#build/quickstart/#$RUN/#g" \
      "$WORK/block-$n.sh" >"$WORK/run-$n.sh"
    echo "echo '=== block $n ($attr)'"
    case "$attr" in
      test=run) cat "$WORK/run-$n.sh" ;;
      test=twice) cat "$WORK/run-$n.sh"; echo "sleep 1"; cat "$WORK/run-$n.sh" ;;
      test=background)
        echo "( $(cat "$WORK/run-$n.sh") ) >'$WORK/window1.log' 2>&1 &"
        echo "echo \$! >'$WORK/window1.pid'"
        echo "sleep 1" ;;
      *) echo "unknown block attribute $attr in block $n" >&2; exit 1 ;;
    esac
    echo "sleep 0.5"
  done <"$WORK/blocks"
  echo "declare -p CARD CARD2 LOST TXN BATCH >'$WORK/vars.sh'"
} >"$WORK/guide.sh"
(cd "$SRC" && timeout 120 bash "$WORK/guide.sh") >"$WORK/guide.out" 2>&1 || fail "a guide block failed"
MON_PID=$(cat "$WORK/window1.pid")
sleep 2
kill "$MON_PID" 2>/dev/null || true
MON_PID=""
# shellcheck disable=SC1091
. "$WORK/vars.sh"
[ -n "$CARD" ] && [ -n "$CARD2" ] && [ -n "$LOST" ] || fail "the guide picked no cards"
echo "guide blocks run ($(elapsed))"

# Window 1 lines are "topic payload"; the payloads of one reply topic, one JSON a line.
replies() { awk -v t="ykt/v1/xiangkou/ct-0901/$1" '$1 == t { sub(/^[^ ]+ /, ""); print }' \
  "$WORK/window1.log"; }
mask() { echo "${1:0:6}********${1:14:4}"; }
expect() {  # expect WHAT JQ-FILTER (over the slurped replies of topic $3)
  replies "$3" | jq -se "$2" >/dev/null || fail "$1: $(replies "$3" | tr '\n' ' ')"
  echo "ok: $1"
}
expect "approve for the guide's card" \
  "any(.[]; .decision == \"approve\" and .reason == \"ok\" and .card_masked == \"$(mask "$CARD")\")" \
  auth/resp
expect "card_lost for the lost card" \
  'any(.[]; .decision == "decline" and .reason == "card_lost")' auth/resp
expect "stored, then duplicate for the resent record" \
  "[.[] | select(.txn_id == \"$TXN\") | .status] == [\"stored\", \"duplicate\"]" txn/ack
expect "batch acked: both stored, then both duplicate" \
  "[.[] | select(.batch_id == \"$BATCH\") | [.status, (.acks | map(.status))]]
     == [[\"acked\", [\"stored\", \"stored\"]], [\"acked\", [\"duplicate\", \"duplicate\"]]]" \
  txn/batch/ack
expect "malformed_json" 'any(.[]; .decision == "decline" and .reason == "malformed_json")' auth/resp
expect "terminal_mismatch" \
  'any(.[]; .decision == "decline" and .reason == "terminal_mismatch")' auth/resp
expect "QR approved with the age discount, then replayed" \
  '[.[] | select(.req_id | startswith("ct-0901-qr-"))] as $r
     | ($r | length) == 2 and $r[0].decision == "approve" and ($r[0].rule | startswith("canteen.age"))
       and $r[0].amount_fen < $r[0].amount_before_fen and $r[1].reason == "replayed"' auth/resp
# mosquitto_rr prints its reply (to the response topic, not auth/resp) on the guide's stdout.
grep '^{' "$WORK/guide.out" | jq -se \
  'any(.[]; (.req_id // "" | startswith("ct-0901-rr-")) and .decision == "approve")' >/dev/null ||
  fail "no mosquitto_rr reply"
echo "ok: mosquitto_rr reply"
grep -q '^ykt/v1/xiangkou/ct-0901/status .*"state":"offline"' "$WORK/guide.out" ||
  fail "retained status is not the last will (offline)"
echo "ok: last will offline"

# --- Rerunning is safe: everything up again, one process of each, status page answers.
quickstart --no-install --no-build >"$WORK/quickstart-2.log" 2>&1 ||
  { cat "$WORK/quickstart-2.log" >&2; fail "quickstart second start"; }
ours >"$WORK/procs"
for prog in mosquitto ykt-platform-sim yktgw yktgw-sim; do
  n=$(awk -v p="$prog" '{ sub(/.*\//, "", $2) } $2 == p' "$WORK/procs" | wc -l)
  [ "$n" -eq 1 ] || { cat "$WORK/procs" >&2; fail "$n processes of $prog after the rerun"; }
  pidfile=$(case $prog in mosquitto) echo mosquitto ;; ykt-platform-sim) echo platform ;;
            yktgw) echo gateway ;; yktgw-sim) echo sim ;; esac)
  grep -q "^$(cat "$RUN/$pidfile.pid") " "$WORK/procs" || fail "$pidfile.pid names no running $prog"
done
[ "$(wc -l <"$WORK/procs")" -eq 4 ] || { cat "$WORK/procs" >&2; fail "stray processes"; }
curl -fsS "http://127.0.0.1:$YKT_STATUS_PORT/readyz" | jq -e '.ready' >/dev/null ||
  fail "status page not ready after the rerun"
curl -fsS "http://127.0.0.1:$YKT_STATUS_PORT/api/v1/status" | jq -e '.broker.connected' >/dev/null ||
  fail "status API: broker not connected after the rerun"
# The records of the first run are kept, each once.
[ "$(sqlite3 "file:$RUN/data/records.db?mode=ro" "SELECT count(*) FROM txn WHERE txn_id = '$TXN'")" = 1 ] ||
  fail "the guide's record is not stored exactly once after the rerun"
echo "ok: rerun: one process of each, status page ready ($(elapsed))"

# --- The documented stop; nothing of the run left, no port still open.
(cd "$SRC" && deploy/quickstart.sh stop) >"$WORK/stop.log" 2>&1 || fail "quickstart stop"
sleep 0.5
ours >"$WORK/procs"
[ ! -s "$WORK/procs" ] || { cat "$WORK/procs" >&2; fail "processes left after stop"; }
for p in "$YKT_MQTT_PORT" "$YKT_ZMQ_PORT" "$YKT_HTTP_PORT" "$YKT_HTTPS_PORT" "$YKT_STATUS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then fail "port $p still open after stop"; fi
done
if ls "$RUN"/*.pid >/dev/null 2>&1; then fail "pid files left after stop"; fi
echo "ok: stopped, nothing left ($(elapsed))"

# --- A port the stranger holds: refused, named, nothing started.
if YKT_STATUS_PORT=$STRANGER_PORT quickstart --no-install --no-build >"$WORK/quickstart-3.log" 2>&1; then
  fail "the quickstart started on a port another program holds"
fi
grep -q "port $STRANGER_PORT (YKT_STATUS_PORT) is already in use" "$WORK/quickstart-3.log" ||
  { cat "$WORK/quickstart-3.log" >&2; fail "no message naming the taken port"; }
grep -q 'step "check the ports" failed' "$WORK/quickstart-3.log" || fail "the failed step is not named"
ours >"$WORK/procs"
[ ! -s "$WORK/procs" ] || { cat "$WORK/procs" >&2; fail "processes left after the refusal"; }
kill -0 "$STRANGER_PID" 2>/dev/null || fail "the stranger on the taken port was stopped"
echo "ok: a taken port is refused and named ($(elapsed))"
