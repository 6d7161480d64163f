#!/usr/bin/env bash
# Install Debian packages when root with apt-get; otherwise say what to install.
set -euo pipefail
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Sandpit needs these packages: $*. Install them (Debian: apt-get install $*) or run make as root." >&2
  exit 1
fi
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get update -q >/dev/null
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
