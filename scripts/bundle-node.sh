#!/usr/bin/env bash
# Bundle an npm package for the Node worker: one minified CommonJS file that exports what
# ENTRY says, committed under sandbox/agent/vendor/ so that nothing needs npm at run time.
#
#   scripts/bundle-node.sh PACKAGE VERSION "ENTRY (a module.exports line)" OUTPUT
#
# Used by scripts/vendor-sucrase.sh and scripts/vendor-undici.sh. Needs Node and npm.
set -euo pipefail
package=$1 version=$2 entry=$3 output=$4
esbuild_version=${ESBUILD_VERSION:-0.24.2}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "$package@$version" "esbuild@$esbuild_version"
echo "$entry" >entry.js
npx esbuild entry.js --bundle --platform=node --target=node18 --minify \
  --legal-comments=inline \
  --banner:js="/* $package $version (MIT), bundled by scripts/bundle-node.sh */" \
  --outfile="$here/$output"
echo "wrote $output ($(wc -c <"$here/$output") bytes)"
