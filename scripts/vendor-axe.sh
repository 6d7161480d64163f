#!/usr/bin/env bash
# Refresh tests/vendor/axe.min.js: Deque's axe-core, the accessibility rules engine the
# UI tests run in Chromium (tests/test_accessibility.py). It is committed, so the tests
# need no npm; its licence (MPL-2.0) sits beside it. Needs npm.
set -euo pipefail
version=${AXE_VERSION:-4.14.1}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "axe-core@$version" >/dev/null
tar -xzf axe-core-*.tgz
cp package/axe.min.js "$here/tests/vendor/axe.min.js"
cp package/LICENSE "$here/tests/vendor/axe-core.LICENSE"
echo "wrote tests/vendor/axe.min.js (axe-core $version, $(wc -c <"$here/tests/vendor/axe.min.js") bytes)"
