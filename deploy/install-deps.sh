#!/usr/bin/env bash
# Installs every Debian package that building, testing and the quickstart of yktgw need.
# Idempotent: packages already present are left as they are. Run as root (or with sudo).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries
  libpaho-mqtt-dev libpaho-mqttpp-dev
  libsqlite3-dev sqlite3
  libssl-dev
  libspdlog-dev libfmt-dev
  libtomlplusplus-dev
  nlohmann-json3-dev libsimdjson-dev
  libcli11-dev
  libcpp-httplib-dev
  cppzmq-dev libzmq3-dev
  libcurl4-openssl-dev
  zlib1g-dev libdeflate-dev
  libjs-chart.js
  # tests
  libgtest-dev libgmock-dev
  # browser test of the status pages (tests/browser: playwright-core from npm drives it; a CJK
  # font so the screenshots show the Chinese pages)
  chromium nodejs fonts-wqy-microhei
  # fuzzing (clang with libFuzzer) and the wall-clock jumps of the chaos tests
  clang libclang-rt-14-dev faketime
  # broker and its clients (tests and quickstart)
  mosquitto mosquitto-clients
  # helpers used by scripts
  python3 procps iproute2 curl jq
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with some nodejs builds and as its own package with Debian's.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian mosquitto package starts a system broker on port 1883; our scripts run their own
# brokers on chosen ports, so the system one is left as the package set it up.
echo "install-deps: done"
