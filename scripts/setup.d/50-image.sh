#!/usr/bin/env bash
# The orecart container image (Dockerfile), for the Motherlode compose test
# (tests/cli/test_motherlode_image.py). Skipped when the image is current.
set -euo pipefail
cd "${ORECART_ROOT:-$(dirname "$0")/../..}"
bash scripts/build-image
