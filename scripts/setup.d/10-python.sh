#!/usr/bin/env bash
# The package itself with every optional backend and the test tools.
set -euo pipefail
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e ".[dev]"
