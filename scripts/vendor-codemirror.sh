#!/usr/bin/env bash
# Rebuild static/vendor/codemirror.js: CodeMirror 6 with Python, JavaScript and TypeScript
# modes, bundled into one ES module that the playground imports. The bundle is
# committed, so running Sandpit needs no Node. Needs Node and npm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund \
  codemirror@6.0.2 @codemirror/view@6 @codemirror/state@6 @codemirror/commands@6 \
  @codemirror/language@6 @codemirror/lang-python@6 @codemirror/lang-javascript@6 \
  @codemirror/lang-json@6 @codemirror/theme-one-dark@6 @lezer/highlight@1 esbuild@0.24.2
cat >entry.js <<'JS'
export { basicSetup } from "codemirror";
export { EditorView, keymap } from "@codemirror/view";
export { EditorState, Compartment, EditorSelection } from "@codemirror/state";
export { indentWithTab } from "@codemirror/commands";
export { python } from "@codemirror/lang-python";
export { javascript } from "@codemirror/lang-javascript";
export { json } from "@codemirror/lang-json";
export { oneDark, oneDarkTheme } from "@codemirror/theme-one-dark";
export { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
export { tags } from "@lezer/highlight";
JS
npx esbuild entry.js --bundle --format=esm --minify --legal-comments=inline \
  --banner:js="/* CodeMirror 6 (MIT), bundled by scripts/vendor-codemirror.sh */" \
  --outfile="$here/static/vendor/codemirror.js"
echo "wrote static/vendor/codemirror.js ($(wc -c <"$here/static/vendor/codemirror.js") bytes)"
