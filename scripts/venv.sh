#!/usr/bin/env bash
# Create the virtual environment and install Sandpit with its test tools into it.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  "$here/apt-install.sh" python3 python3-venv
  python=python3
fi
if [ ! -x "$venv/bin/python" ]; then
  # Debian's python3 has no venv module (nor ensurepip) until python3-venv is installed.
  "$python" -m venv "$venv" 2>/dev/null || { "$here/apt-install.sh" python3-venv && "$python" -m venv "$venv"; }
fi
"$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install -q --disable-pip-version-check -e '.[dev]'
