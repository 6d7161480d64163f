#!/usr/bin/env bash
# Rebuild sandbox/agent/vendor/undici.js: undici's ProxyAgent and setGlobalDispatcher, which
# the Node worker uses to send fetch() through the run's egress proxy when the run has
# http.allow (Node 20's fetch ignores HTTP_PROXY). Committed like Sucrase: building or
# running Sandpit needs no npm. Needs Node and npm.
set -euo pipefail
exec "$(dirname "$0")/bundle-node.sh" undici "${UNDICI_VERSION:-6.29.1}" \
  "const { ProxyAgent, setGlobalDispatcher } = require('undici'); module.exports = { ProxyAgent, setGlobalDispatcher };" \
  sandbox/agent/vendor/undici.js
