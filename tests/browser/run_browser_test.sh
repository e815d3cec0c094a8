#!/usr/bin/env bash
# Runs the status pages' browser test: installs playwright-core (npm ci, from the checked-in
# lock file) into the build tree and drives Debian's /usr/bin/chromium.
#   tests/browser/run_browser_test.sh <build dir>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source_dir="$(cd "$here/../.." && pwd)"
build_dir="$(cd "${1:?usage: run_browser_test.sh <build dir>}" && pwd)"
work="$build_dir/browser-test"
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/status_pages.mjs" "$work/"
if [ ! -x /usr/bin/chromium ]; then
  echo "browser test: /usr/bin/chromium missing; run deploy/install-deps.sh" >&2
  exit 1
fi
cd "$work"
npm ci --no-audit --no-fund --loglevel=error
exec node status_pages.mjs "$build_dir/bin" "$source_dir" "$work"
