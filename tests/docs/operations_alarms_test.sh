#!/usr/bin/env bash
# Every alarm code the gateway can raise (the alarms.push_back({"code", ...}) calls of
# gateway/app/gateway_status.cpp) has a row in the alarm table of docs/operations.md, so township
# staff can look up what each one means; and the table names no code the gateway never raises.
# Usage: operations_alarms_test.sh SOURCE_DIR
set -euo pipefail
SRC=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

raised=$(grep -ohE 'alarms\.(push_back|emplace_back)\(\{? *"[a-z_]+"' -r "$SRC/gateway" |
  sed -E 's/.*"([a-z_]+)"/\1/' | sort -u)
[ "$(echo "$raised" | grep -c .)" -ge 5 ] || fail "found only these alarm codes in the source: $raised"
# The table: the rows of section "告警与处理 / Alarms", first cell a `code`.
documented=$(awk '/^## .*Alarms/ { in_s = 1; next } /^## / { in_s = 0 } in_s' "$SRC/docs/operations.md" |
  sed -nE 's/^\| *`([a-z_]+)` *\|.*/\1/p' | sort -u)
missing=$(comm -23 <(echo "$raised") <(echo "$documented"))
[ -z "$missing" ] || fail "alarm codes missing from the table of docs/operations.md: $missing"
extra=$(comm -13 <(echo "$raised") <(echo "$documented"))
[ -z "$extra" ] || fail "docs/operations.md documents alarms the gateway never raises: $extra"
echo "ok: $(echo "$raised" | tr '\n' ' ')"
