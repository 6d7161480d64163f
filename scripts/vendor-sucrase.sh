#!/usr/bin/env bash
# Rebuild sandbox/agent/vendor/sucrase.js: the TypeScript-to-JavaScript transform that the
# Node worker loads before any job. Sucrase strips types and keeps line numbers, so
# tracebacks point at the user's own lines; it does not type-check, by design.
# The bundle is committed: building or running Sandpit needs no npm. Needs Node and npm.
set -euo pipefail
version=${SUCRASE_VERSION:-3.35.1}
esbuild_version=${ESBUILD_VERSION:-0.24.2}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "sucrase@$version" "esbuild@$esbuild_version"
echo "module.exports = { transform: require('sucrase').transform };" >entry.js
npx esbuild entry.js --bundle --platform=node --target=node18 --minify \
  --legal-comments=inline \
  --banner:js="/* sucrase $version (MIT), bundled by scripts/vendor-sucrase.sh */" \
  --outfile="$here/sandbox/agent/vendor/sucrase.js"
echo "wrote sandbox/agent/vendor/sucrase.js ($(wc -c <"$here/sandbox/agent/vendor/sucrase.js") bytes)"
