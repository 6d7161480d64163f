#!/usr/bin/env bash
# Rebuild sandbox/agent/vendor/sucrase.js: the TypeScript-to-JavaScript transform that the
# Node worker loads before any job. Sucrase strips types and keeps line numbers, so
# tracebacks point at the user's own lines; it does not type-check, by design.
# The bundle is committed: building or running Sandpit needs no npm. Needs Node and npm.
set -euo pipefail
exec "$(dirname "$0")/bundle-node.sh" sucrase "${SUCRASE_VERSION:-3.35.1}" \
  "module.exports = { transform: require('sucrase').transform };" \
  sandbox/agent/vendor/sucrase.js
