#!/usr/bin/env bash
# The whole demo on one machine: installs dependencies, builds, starts Mosquitto, the gateway and
# simulated terminals, and shows records being stored and acknowledged.
#   deploy/quickstart.sh          start (stops an earlier run first; safe to rerun)
#   deploy/quickstart.sh stop     stop everything it started
#   deploy/quickstart.sh status   show what runs and what was stored
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=${YKT_RUN_DIR:-$ROOT/build/quickstart}
PORT=${YKT_MQTT_PORT:-11883}
SITE=xiangkou
BIN=$ROOT/build/bin

stop_all() {
  for name in sim gateway mosquitto; do
    if [ -f "$RUN/$name.pid" ]; then
      pid=$(cat "$RUN/$name.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$RUN/$name.pid"
    fi
  done
}

show_status() {
  for name in mosquitto gateway sim; do
    if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
      echo "  $name: running (pid $(cat "$RUN/$name.pid"))"
    else
      echo "  $name: stopped"
    fi
  done
  if [ -f "$RUN/data/records.db" ]; then
    echo "  records stored / 已存储交易记录: $(sqlite3 "file:$RUN/data/records.db?mode=ro" 'SELECT count(*) FROM txn')"
  fi
}

case "${1:-start}" in
  stop) stop_all; echo "quickstart stopped / 已停止"; exit 0 ;;
  status) show_status; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build yktgw yktgw-sim

stop_all
mkdir -p "$RUN/data"

# Broker: loopback only, anonymous (a demo), TCP_NODELAY on.
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
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

# A development HMAC key of this run, readable by its owner only (the gateway checks).
if [ ! -f "$RUN/hmac.key" ]; then
  (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$RUN/hmac.key"; echo >> "$RUN/hmac.key")
fi
SETS=(--set "gateway.data_dir=$RUN/data" --set "security.hmac_key_file=$RUN/hmac.key"
      --set "mqtt.uri=tcp://127.0.0.1:$PORT" --set "gateway.site=$SITE")

# The simulator's card population also becomes the gateway's card list.
"$BIN/yktgw-sim" population --seed 42 --cards 2000 --out "$RUN/cards.csv" >/dev/null
"$BIN/yktgw" --config config/yktgw.toml "${SETS[@]}" cardlist import "$RUN/cards.csv"

"$BIN/yktgw" --config config/yktgw.toml "${SETS[@]}" >"$RUN/gateway.out" 2>&1 &
echo $! > "$RUN/gateway.pid"
for _ in $(seq 1 100); do grep -q "mqtt connected" "$RUN/gateway.out" && break; sleep 0.1; done

"$BIN/yktgw-sim" run --broker "tcp://127.0.0.1:$PORT" --site "$SITE" --terminals 20 --rate 20 \
  --duration 86400 --seed 42 --cards 2000 >"$RUN/sim.json" 2>"$RUN/sim.log" &
echo $! > "$RUN/sim.pid"

sleep 5
cat <<MSG

yktgw quickstart is running / 演示环境已启动
  broker / 消息服务器:   tcp://127.0.0.1:$PORT  (site / 站点: $SITE)
  gateway log / 网关日志: $RUN/gateway.out  (and $RUN/data/logs/yktgw.log)
  simulator / 模拟终端:   20 terminals, 20 taps/s; progress in $RUN/sim.log
  status page / 状态页:   not part of this release yet; use "$0 status" / 状态页尚未提供，请用 status 命令
  stop / 停止:            $0 stop
MSG
echo "Simulator progress (last lines) / 模拟终端进度:"
tail -n 3 "$RUN/sim.log" || true
show_status
