#!/usr/bin/env bash
# The whole demo on one machine: installs dependencies, builds, starts Mosquitto, the reference
# platform (district link, card-list feed), the gateway and simulated terminals, and shows
# records being stored and acknowledged. `deploy/quickstart.sh --help` lists the options.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

usage() {
  cat <<'HELP'
用法 / Usage: deploy/quickstart.sh [--no-install] [--no-build] [start|stop|status]
  start（默认）启动演示；先停掉上一次的运行，可重复执行 / start the demo (the default); stops an
                earlier run first, so rerunning is safe
  stop          停止它启动的一切 / stop everything it started
  status        显示运行状态与已存储的记录 / show what runs and what was stored
  --no-install  不安装依赖（同 YKT_SKIP_DEPS=1）/ do not install packages (same as YKT_SKIP_DEPS=1)
  --no-build    不编译，用 YKT_BUILD_DIR 中已有的程序（同 YKT_SKIP_BUILD=1）/ do not build; use
                the programs already in YKT_BUILD_DIR (same as YKT_SKIP_BUILD=1)
  -h, --help    本说明 / this help

环境变量 / Environment (stop and status need the same YKT_RUN_DIR as start):
  YKT_BUILD_DIR    构建目录，程序在其 bin/ 下 / build directory, programs in its bin/  [build]
  YKT_RUN_DIR      本次演示的状态目录（密钥、数据库、日志、pid 文件）/ the demo's state
                   directory (keys, databases, logs, pid files)           [$YKT_BUILD_DIR/quickstart]
  YKT_MQTT_PORT    Mosquitto（终端与网关）/ Mosquitto (terminals and gateway)          [11883]
  YKT_ZMQ_PORT     参考平台的区平台链路 / the platform's district link (ZeroMQ)         [17100]
  YKT_HTTP_PORT    参考平台的卡名单源 / the platform's card-list feed (HTTP)           [17180]
  YKT_HTTPS_PORT   参考平台的跨省链路 / the platform's cross-province link (HTTPS)     [17443]
  YKT_STATUS_PORT  网关状态页 / the gateway's status page                             [18080]
  YKT_SKIP_DEPS=1, YKT_SKIP_BUILD=1  同 --no-install、--no-build / as --no-install, --no-build
所有端口只监听 127.0.0.1；端口被其他程序占用时脚本拒绝启动。
Every port listens on 127.0.0.1 only; a port another program holds is refused.
HELP
}

SKIP_DEPS=${YKT_SKIP_DEPS:-0}
SKIP_BUILD=${YKT_SKIP_BUILD:-0}
ACTION=start
for arg in "$@"; do
  case "$arg" in
    --no-install) SKIP_DEPS=1 ;;
    --no-build) SKIP_BUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    start|stop|status) ACTION=$arg ;;
    *) usage >&2; exit 2 ;;
  esac
done

BUILD=${YKT_BUILD_DIR:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=${YKT_RUN_DIR:-$BUILD/quickstart}
case "$RUN" in /*) ;; *) RUN=$ROOT/$RUN ;; esac
PORT=${YKT_MQTT_PORT:-11883}
ZMQ_PORT=${YKT_ZMQ_PORT:-17100}
HTTP_PORT=${YKT_HTTP_PORT:-17180}
HTTPS_PORT=${YKT_HTTPS_PORT:-17443}
STATUS_PORT=${YKT_STATUS_PORT:-18080}
SITE=xiangkou
BIN=$BUILD/bin
# The programs behind each pid file; a pid is only ours if its command line names the program
# and this run directory (a pid file left by a crash may name a pid the system has reused).
declare -A PROGRAM=([mosquitto]=mosquitto [platform]=ykt-platform-sim [gateway]=yktgw
                    [sim]=yktgw-sim)

# Is $2 a process of ours for pid file $1?
ours() {
  local cmdline
  [ -r "/proc/$2/cmdline" ] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null) || return 1
  local exe=${cmdline%% *}
  [ "${exe##*/}" = "${PROGRAM[$1]}" ] && [[ "$cmdline" == *"$RUN/"* ]]
}

stop_all() {
  for name in sim gateway platform mosquitto; do
    if [ -f "$RUN/$name.pid" ]; then
      pid=$(cat "$RUN/$name.pid")
      if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$name" "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
      elif [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        echo "quickstart: $name.pid names pid $pid, which is not our $name any more; left alone" >&2
      fi
      rm -f "$RUN/$name.pid"
    fi
  done
}

show_status() {
  for name in mosquitto platform gateway sim; do
    if [ -f "$RUN/$name.pid" ] && ours "$name" "$(cat "$RUN/$name.pid")"; then
      echo "  $name: running (pid $(cat "$RUN/$name.pid"))"
    else
      echo "  $name: stopped"
    fi
  done
  if [ -f "$RUN/data/records.db" ]; then
    echo "  records stored / 已存储交易记录: $(sqlite3 "file:$RUN/data/records.db?mode=ro" 'SELECT count(*) FROM txn')"
  fi
  if [ -f "$RUN/data/outbox.db" ] && [ -x "$BIN/yktgw" ]; then
    echo "  forwarding / 上送:"
    "$BIN/yktgw" --config config/yktgw.toml --set "gateway.data_dir=$RUN/data" \
      --set "security.hmac_key_file=$RUN/hmac.key" outbox stats 2>/dev/null | sed 's/^/    /' || true
  fi
  if [ -f "$RUN/platform.db" ] && [ -x "$BIN/ykt-platform-sim" ]; then
    echo "  received by the platforms / 平台已收到:"
    "$BIN/ykt-platform-sim" count --db "$RUN/platform.db" 2>/dev/null | sed 's/^/    /' || true
  fi
  if [ -f "$RUN/sim.log" ]; then
    echo "  simulator / 模拟终端: $(tail -n 1 "$RUN/sim.log")"
  fi
}

wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "quickstart: nothing listens on port $1" >&2
  return 1
}

# Refuse a port another program holds: the demo would otherwise talk to a stranger (a broker of
# another stack, say) or fail later with a less clear message.
check_ports() {
  local -A seen=()
  local var p
  for var in YKT_MQTT_PORT:$PORT YKT_ZMQ_PORT:$ZMQ_PORT YKT_HTTP_PORT:$HTTP_PORT \
             YKT_HTTPS_PORT:$HTTPS_PORT YKT_STATUS_PORT:$STATUS_PORT; do
    p=${var#*:}
    if [ -n "${seen[$p]:-}" ]; then
      echo "quickstart: ${var%%:*} and ${seen[$p]} are both port $p; give each its own" >&2
      return 1
    fi
    seen[$p]=${var%%:*}
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "quickstart: port $p (${var%%:*}) is already in use by another program / 端口已被占用:" >&2
      ss -ltnpH "sport = :$p" 2>/dev/null | sed 's/^/  /' >&2 || true
      echo "  stop that program or choose another port: ${var%%:*}=<port> $0" >&2
      return 1
    fi
  done
}

# On a failing step: say which, and stop what this run had started.
STEP=""
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$STEP" ]; then
    echo "quickstart: step \"$STEP\" failed (exit $rc); stopping what was started / 步骤失败，已停止" >&2
    echo "  logs / 日志: $RUN/*.log, $RUN/*.out, $RUN/sim.err" >&2
    stop_all
  fi
}
step() {
  STEP=$1
  echo "quickstart: $STEP"
}

case "$ACTION" in
  stop) stop_all; echo "quickstart stopped / 已停止"; exit 0 ;;
  status) show_status; exit 0 ;;
esac

trap on_exit EXIT
if [ "$SKIP_DEPS" != 1 ]; then
  step "install dependencies (deploy/install-deps.sh)"
  deploy/install-deps.sh
fi
if [ "$SKIP_BUILD" != 1 ]; then
  step "build"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD" yktgw yktgw-sim ykt-platform-sim
fi
step "find the programs in $BIN"
for prog in yktgw yktgw-sim ykt-platform-sim; do
  [ -x "$BIN/$prog" ] || { echo "quickstart: no $BIN/$prog; build first or set YKT_BUILD_DIR" >&2; exit 1; }
done

step "stop the earlier run"
stop_all
step "check the ports"
check_ports
mkdir -p "$RUN/data"
# Each start is a fresh demo day for the policy counters (meals, parking entries, bus offline
# taps): the simulator's expectations start from zero and would otherwise flag the caps that an
# earlier run of the same day used up. Stored records are kept.
rm -f "$RUN/data/state.db" "$RUN/data/state.db-wal" "$RUN/data/state.db-shm"

step "start Mosquitto on port $PORT"
# Broker: loopback only, anonymous (a demo), TCP_NODELAY on, no cap on in-flight messages.
cat > "$RUN/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence false
max_queued_messages 100000
max_inflight_messages 0
CONF
mosquitto -c "$RUN/mosquitto.conf" >"$RUN/mosquitto.log" 2>&1 &
echo $! > "$RUN/mosquitto.pid"
wait_port "$PORT"

step "make the keys and certificates"
# Keys of this run, readable by their owner only (the gateway checks): the district HMAC key
# (shared with the platform, which computes the same card tokens), the CURVE keys of the
# district link, and the terminal MAC keys.
[ -f "$RUN/hmac.key" ] || "$BIN/yktgw" keygen hmac --out "$RUN/hmac.key" >/dev/null
# The platform's key pair is made anew each run; its public key is what the gateway pins.
SERVER_PUBLIC=$("$BIN/ykt-platform-sim" keygen --out "$RUN/district-server.key" --force | head -n 1)
[ -f "$RUN/district-client.key" ] || "$BIN/yktgw" keygen curve --out "$RUN/district-client.key" >/dev/null
install -m 600 config/dev-keys/terminal-mac.keys "$RUN/terminal-mac.keys"
# Development certificates for the HTTPS cross-province link (mutual TLS).
[ -f "$RUN/certs/ca.pem" ] || deploy/make-dev-certs.sh "$RUN/certs" >/dev/null

step "start the reference platform"
# The reference platform: district link (heartbeats, online authorization) and the signed
# card-list feed of the simulator's card population, with 100 cards more than the simulator
# taps: the vendor guide takes its cards from those, so the demo never uses up their daily caps.
"$BIN/ykt-platform-sim" serve --zmq "tcp://127.0.0.1:$ZMQ_PORT" --http "127.0.0.1:$HTTP_PORT" \
  --server-key-file "$RUN/district-server.key" --hmac-key-file "$RUN/hmac.key" \
  --population-seed 42 --cards 2100 --db "$RUN/platform.db" \
  --feed-key-file config/dev-keys/platform-feed.key.pem \
  --https "127.0.0.1:$HTTPS_PORT" --tls-cert "$RUN/certs/server.pem" --tls-key "$RUN/certs/server.key" \
  --tls-client-ca "$RUN/certs/ca.pem" >"$RUN/platform.out" 2>&1 &
echo $! > "$RUN/platform.pid"
wait_port "$ZMQ_PORT"
wait_port "$HTTP_PORT"
wait_port "$HTTPS_PORT"

SETS=(--set "gateway.data_dir=$RUN/data" --set "security.hmac_key_file=$RUN/hmac.key"
      --set "mqtt.uri=tcp://127.0.0.1:$PORT" --set "gateway.site=$SITE"
      --set "credentials.terminal_mac_keys_file=$RUN/terminal-mac.keys"
      --set "district.endpoint=tcp://127.0.0.1:$ZMQ_PORT"
      --set "district.server_public_key=$SERVER_PUBLIC"
      --set "district.client_key_file=$RUN/district-client.key"
      --set "cardlist.feed_url=http://127.0.0.1:$HTTP_PORT"
      --set "cardlist.platform_public_key_file=$ROOT/config/dev-keys/platform-feed.pub.pem"
      --set "https.url=https://127.0.0.1:$HTTPS_PORT" --set "https.ca_file=$RUN/certs/ca.pem"
      --set "https.client_cert_file=$RUN/certs/client.pem"
      --set "https.client_key_file=$RUN/certs/client.key"
      --set "status.listen=127.0.0.1:$STATUS_PORT")
step "check the gateway config"
"$BIN/yktgw" check-config config/yktgw.toml "${SETS[@]}"
step "start the gateway"
"$BIN/yktgw" --config config/yktgw.toml "${SETS[@]}" >"$RUN/gateway.out" 2>&1 &
echo $! > "$RUN/gateway.pid"
for _ in $(seq 1 100); do grep -q "mqtt connected" "$RUN/gateway.out" && break; sleep 0.1; done
for _ in $(seq 1 100); do grep -q "feed applied\|card list version=[1-9]" "$RUN/gateway.out" && break; sleep 0.1; done
wait_port "$STATUS_PORT"

step "start the simulated terminals"
# Every kind of terminal of config/policies.toml (the "township" mix), one readable line per tap
# in sim.log; each decision is checked against the simulator's expectation (a mismatch shows as
# MISMATCH on its line). Buses lose their link now and then and upload what they stored.
# Fresh txn ids on every run: the store keeps earlier runs' records and would answer duplicate.
"$BIN/yktgw-sim" demo --broker "tcp://127.0.0.1:$PORT" --site "$SITE" --mix township --rate 3 \
  --duration 86400 --seed 42 --cards 2000 --policies config/policies.toml \
  --hmac-key-file "$RUN/hmac.key" --ecard-key-dir config/dev-keys/ecard \
  --ykm-key-dir config/dev-keys/ykm --bus-outage-s 60 --bus-outage-every-s 600 \
  --txn-seq-start "$(date +%s)000" --report "$RUN/sim-report.json" \
  >"$RUN/sim.log" 2>"$RUN/sim.err" &
echo $! > "$RUN/sim.pid"

sleep 5
kill -0 "$(cat "$RUN/sim.pid")" 2>/dev/null || { cat "$RUN/sim.err" >&2; exit 1; }
STEP=""
STOP="$0 stop"
[ -z "${YKT_RUN_DIR:-}${YKT_BUILD_DIR:-}" ] || STOP="YKT_RUN_DIR=$RUN $STOP"
cat <<MSG

yktgw quickstart is running / 演示环境已启动
  broker / 消息服务器:     tcp://127.0.0.1:$PORT  (site / 站点: $SITE)
  platform / 参考平台:     district link tcp://127.0.0.1:$ZMQ_PORT, card-list feed http://127.0.0.1:$HTTP_PORT,
                           cross-province HTTPS https://127.0.0.1:$HTTPS_PORT
  gateway log / 网关日志:  $RUN/gateway.out  (and $RUN/data/logs/yktgw.log)
  simulator / 模拟终端:    15 terminals of every kind, 3 taps/s; one line per tap in $RUN/sim.log
                           (tail -f it); the JSON report is written to $RUN/sim-report.json on stop
  status page / 状态页:    http://127.0.0.1:$STATUS_PORT/   (API: /api/v1/status, metrics: /metrics)
  vendor guide / 厂商指南: docs/vendor-guide.md (mosquitto_pub/sub/rr against this broker)
  stop / 停止:             $STOP
MSG
show_status
