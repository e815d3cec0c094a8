#!/usr/bin/env bash
# Builds the .deb with CPack, unpacks it into a scratch root, makes the keys the package's
# postinst would make, and checks the installed example config with the installed binary.
# Usage: deb_package_test.sh BUILD_DIR
set -euo pipefail
BUILD=$1
WORK=$(mktemp -d /tmp/yktgw-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$BUILD" && cpack -G DEB -B "$WORK/out" >"$WORK/cpack.log" 2>&1) ||
  { cat "$WORK/cpack.log" >&2; fail "cpack"; }
DEB=$(ls "$WORK"/out/yktgw_*.deb)
echo "package: $(basename "$DEB") $(du -h "$DEB" | cut -f1)"

# Control data: dependencies found by dpkg-shlibdeps, our maintainer scripts and conffiles.
dpkg-deb -f "$DEB" Depends | grep -q 'libpaho-mqttpp3' || fail "Depends lacks the Paho library"
dpkg-deb -f "$DEB" Depends | grep -q 'adduser' || fail "Depends lacks adduser"
mkdir "$WORK/control"
dpkg-deb -e "$DEB" "$WORK/control"
for f in postinst prerm postrm conffiles; do [ -f "$WORK/control/$f" ] || fail "no $f"; done
grep -qx '/etc/yktgw/yktgw.toml' "$WORK/control/conffiles" || fail "config is not a conffile"
sh -n "$WORK/control/postinst" || fail "postinst syntax"

ROOT="$WORK/root"
dpkg-deb -x "$DEB" "$ROOT"
for f in usr/bin/yktgw usr/bin/yktgw-sim usr/bin/ykt-platform-sim etc/yktgw/yktgw.toml \
         etc/yktgw/policies.toml etc/yktgw/service-items.toml \
         lib/systemd/system/yktgw.service lib/systemd/system/yktgw-mosquitto.service \
         etc/yktgw/mosquitto/mosquitto.conf usr/share/doc/yktgw/README.md; do
  [ -e "$ROOT/$f" ] || fail "missing /$f"
done
# No development key ships: the installed config names keys under /etc/yktgw/keys/.
if find "$ROOT" -path '*dev-keys*' | grep -q .; then fail "development keys in the package"; fi
if grep -q 'dev-keys/' "$ROOT/etc/yktgw/yktgw.toml"; then fail "installed config names dev-keys"; fi
grep -q '"keys/hmac.key"' "$ROOT/etc/yktgw/yktgw.toml" || fail "installed config: hmac key path"

"$ROOT/usr/bin/yktgw" version | grep -q '^yktgw ' || fail "yktgw version"

# What postinst does on a real install, inside the scratch root.
ETC="$ROOT/etc/yktgw"
mkdir -p "$ETC/keys/ecard" "$ETC/keys/ykm"
"$ROOT/usr/bin/yktgw" keygen hmac --out "$ETC/keys/hmac.key" >/dev/null
"$ROOT/usr/bin/yktgw" keygen curve --out "$ETC/keys/district-client.key" >/dev/null
: >"$ETC/keys/terminal-mac.keys"
chmod 600 "$ETC/keys/terminal-mac.keys"

"$ROOT/usr/bin/yktgw" check-config "$ETC/yktgw.toml" || fail "check-config on the installed config"
# And it must not pass on a broken one.
sed 's/^keepalive_s = 30/keepalive_s = "thirty"/' "$ETC/yktgw.toml" >"$ETC/broken.toml"
if "$ROOT/usr/bin/yktgw" check-config "$ETC/broken.toml" 2>"$WORK/broken.err"; then
  fail "check-config accepted a broken config"
fi
grep -q 'mqtt.keepalive_s' "$WORK/broken.err" || fail "error does not name the key"

# The units parse without warnings (paths pointed at the scratch root; systemd is not running).
if command -v systemd-analyze >/dev/null; then
  mkdir "$WORK/units"
  sed "s#/usr/bin/yktgw#$ROOT/usr/bin/yktgw#g; s#/bin/kill#/bin/true#" \
    "$ROOT/lib/systemd/system/yktgw.service" >"$WORK/units/yktgw.service"
  sed 's#/usr/sbin/mosquitto#/bin/true#; s#/usr/bin/test#/bin/true#; s#/bin/kill#/bin/true#' \
    "$ROOT/lib/systemd/system/yktgw-mosquitto.service" >"$WORK/units/yktgw-mosquitto.service"
  for u in "$WORK"/units/*.service; do
    out=$(systemd-analyze verify "$u" 2>&1) || fail "systemd-analyze verify $u: $out"
    [ -z "$out" ] || fail "systemd-analyze verify $(basename "$u"): $out"
  done
  grep -q '^ProtectSystem=strict' "$ROOT/lib/systemd/system/yktgw.service" || fail "hardening"
  # upstream.background_nice calls setpriority: the unit's system call filter must let it pass
  # (allowed by a SystemCallFilter= line, denied by no ~ line; groups expanded by systemd).
  syscalls_of() {
    local w
    for w in "$@"; do
      case "$w" in
        @*) systemd-analyze syscall-filter "$w" | tail -n +2 |
              while read -r x _; do case "$x" in ''|'#'*) ;; *) syscalls_of "$x" ;; esac; done ;;
        *) echo "$w" ;;
      esac
    done
  }
  allowed=$(sed -n 's/^SystemCallFilter=\([^~]\)/\1/p' "$ROOT/lib/systemd/system/yktgw.service")
  denied=$(sed -n 's/^SystemCallFilter=~//p' "$ROOT/lib/systemd/system/yktgw.service")
  [ -n "$allowed" ] && [ -n "$denied" ] || fail "yktgw.service: no system call filter"
  # shellcheck disable=SC2086
  syscalls_of $allowed >"$WORK/allowed"
  # shellcheck disable=SC2086
  syscalls_of $denied >"$WORK/denied"
  grep -qx setpriority "$WORK/allowed" || fail "yktgw.service does not allow setpriority"
  if grep -qx setpriority "$WORK/denied"; then fail "yktgw.service filters setpriority"; fi
  grep -qx reboot "$WORK/denied" || fail "yktgw.service no longer denies @privileged"
else
  echo "systemd-analyze not installed: unit files not verified"
fi
echo "ok"
