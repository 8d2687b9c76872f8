#!/usr/bin/env bash
# The quickstart, end to end, on a fresh machine: install orecart, run the example pipeline
# (three loaders in parallel, then two that need them), run it again (everything is done, so
# everything is skipped), then rerun `links` and what needs it.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e ../..
rm -rf .orecart
echo "== first run: everything runs, countries/cities/rivers in parallel"
python3 -m orecart run pipeline.yaml
echo "== second run: everything already done here, so everything is skipped"
python3 -m orecart run pipeline.yaml
echo "== --from links: links and publish run again, the rest is skipped"
python3 -m orecart run pipeline.yaml --from links
python3 -m orecart runs pipeline.yaml
