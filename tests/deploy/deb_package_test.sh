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
for f in postinst prerm postrm conffiles triggers; do [ -f "$WORK/control/$f" ] || fail "no $f"; done
grep -qx '/etc/yktgw/yktgw.toml' "$WORK/control/conffiles" || fail "config is not a conffile"
sh -n "$WORK/control/postinst" || fail "postinst syntax"
grep -qx 'interest-noawait /usr/sbin/mosquitto' "$WORK/control/triggers" ||
  fail "no trigger on Mosquitto's installation"

# The config holds mqtt.password and status.token: root:yktgw 0640, never world-readable.
dpkg-deb -c "$DEB" >"$WORK/contents"
grep -q '^-rw-r----- root/root .* \./etc/yktgw/yktgw\.toml$' "$WORK/contents" ||
  fail "yktgw.toml is not 0640 in the package: $(grep yktgw.toml "$WORK/contents")"
grep -q '^ *chgrp yktgw /etc/yktgw/yktgw.toml' "$WORK/control/postinst" ||
  fail "postinst does not give yktgw.toml to the yktgw group"

# The broker's password file, as postinst makes it (its function, on a scratch path): root's
# 0640 while Mosquitto is absent, the mosquitto user's once it is there, and a second run (or
# a file someone gave another owner) changes nothing.
if [ "$(id -u)" = 0 ] && getent passwd mosquitto >/dev/null; then
  PW="$WORK/pw/passwd"
  mkdir "$WORK/pw"
  sed -n '/^broker_passwd() {/,/^}/p' "$WORK/control/postinst" |
    sed "s#/etc/yktgw/mosquitto/passwd#$PW#" >"$WORK/pw/fn.sh"
  grep -q "$PW" "$WORK/pw/fn.sh" || fail "postinst has no broker_passwd function"
  run_fn() {  # run_fn yes|no: with or without a mosquitto user
    sh -c ". '$WORK/pw/fn.sh'
           getent() { [ \"$1\" = yes ] && command getent \"\$@\"; }
           broker_passwd"
  }
  run_fn no
  [ "$(stat -c %U:%G:%a "$PW")" = root:root:640 ] || fail "passwd without Mosquitto: $(stat -c %U:%G:%a "$PW")"
  run_fn no
  run_fn yes
  [ "$(stat -c %U:%G:%a "$PW")" = mosquitto:mosquitto:640 ] || fail "passwd after Mosquitto: $(stat -c %U:%G:%a "$PW")"
  echo "gw-xiangkou:hash" >"$PW"
  run_fn yes
  [ "$(stat -c %U:%G:%a "$PW")" = mosquitto:mosquitto:640 ] && [ -s "$PW" ] ||
    fail "a second run changed the passwd file"
  chown root:adm "$PW"
  run_fn yes
  [ "$(stat -c %U:%G "$PW")" = root:adm ] || fail "postinst took over a passwd file given another owner"
else
  echo "not root or no mosquitto user: the broker password file steps not run"
fi

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
[ "$(stat -c %a "$ROOT/etc/yktgw/yktgw.toml")" = 640 ] || fail "unpacked yktgw.toml is not 0640"

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
# The operations guide shows this very error, as /etc/yktgw/yktgw.toml would give it (line and
# column numbers aside, which move whenever the example config above that key changes).
sample=$(sed "s#$ETC/broken.toml#/etc/yktgw/yktgw.toml#" "$WORK/broken.err")
nolines() { sed -E 's/\.toml:[0-9]+:[0-9]+:/.toml:L:C:/g'; }
grep -o '`yktgw: /etc/yktgw/yktgw.toml:[^`]*`' "$ROOT/usr/share/doc/yktgw/operations.md" | tr -d '`' |
  nolines | grep -qxF "$(echo "$sample" | nolines)" ||
  fail "operations.md does not show the real check-config error: $sample"

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
