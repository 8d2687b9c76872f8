#!/usr/bin/env bash
# The package itself with every optional backend and the test tools.
set -euo pipefail
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e ".[dev]"
# Byte-compile orecart as a non-editable install would: where PYTHONDONTWRITEBYTECODE is
# set, nothing else writes the .pyc files and every command would compile from source.
python3 -m compileall -q src
