#!/usr/bin/env bash
# Rebuild sandbox/agent/vendor/undici.js: undici's ProxyAgent and setGlobalDispatcher, which
# the Node worker uses to send fetch() through the run's egress proxy when the run has
# http.allow (Node 20's fetch ignores HTTP_PROXY). Bundled like Sucrase and committed:
# building or running Sandpit needs no npm. Needs Node and npm.
set -euo pipefail
version=${UNDICI_VERSION:-6.29.1}
esbuild_version=${ESBUILD_VERSION:-0.24.2}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "undici@$version" "esbuild@$esbuild_version"
echo "const { ProxyAgent, setGlobalDispatcher } = require('undici'); module.exports = { ProxyAgent, setGlobalDispatcher };" >entry.js
npx esbuild entry.js --bundle --platform=node --target=node18 --minify \
  --legal-comments=inline \
  --banner:js="/* undici $version (MIT), bundled by scripts/vendor-undici.sh */" \
  --outfile="$here/sandbox/agent/vendor/undici.js"
echo "wrote sandbox/agent/vendor/undici.js ($(wc -c <"$here/sandbox/agent/vendor/undici.js") bytes)"
