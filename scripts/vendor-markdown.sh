#!/usr/bin/env bash
# Rebuild static/vendor/markdown.js: marked (Markdown to HTML) and DOMPurify (which
# sanitises that HTML before the page shows it), bundled into one ES module that
# static/js/results.js imports for text/markdown results. The bundle and both licences
# are committed, so running Sandpit needs no Node. Needs Node and npm.
set -euo pipefail
marked=${MARKED_VERSION:-18.2.1}
dompurify=${DOMPURIFY_VERSION:-3.5.0}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund \
  "marked@$marked" "dompurify@$dompurify" esbuild@0.24.2
cat >entry.js <<'JS'
export { Marked } from "marked";
export { default as DOMPurify } from "dompurify";
JS
npx esbuild entry.js --bundle --format=esm --minify --legal-comments=inline \
  --banner:js="/* marked $marked (MIT) and DOMPurify $dompurify (MPL-2.0 or Apache-2.0), bundled by scripts/vendor-markdown.sh */" \
  --outfile="$here/static/vendor/markdown.js"
cp node_modules/marked/LICENSE "$here/static/vendor/marked.LICENSE"
cat node_modules/dompurify/LICENSE node_modules/dompurify/LICENSE-MPL >"$here/static/vendor/dompurify.LICENSE"
echo "wrote static/vendor/markdown.js ($(wc -c <"$here/static/vendor/markdown.js") bytes)"
