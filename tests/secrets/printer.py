"""A loader that prints its whole environment every way a loader plausibly does: as lines,
as JSON (ASCII and not), as a Python repr, URL-encoded, and one value at the end of a line
longer than the log's line limit, so a secret crosses the cut."""

import json
import os
import sys
from urllib.parse import quote, quote_plus

MAX_LINE = 1 << 20  # orecart.executors.logfile.MAX_LINE

env = dict(os.environ)
for name in sorted(env):
    print(f"{name}={env[name]}")
print(json.dumps(env, sort_keys=True))
print(json.dumps(env, sort_keys=True, ensure_ascii=False))
print(repr(env))
for name in sorted(env):
    print(f"{name}~{quote(env[name], safe='')}~{quote_plus(env[name])}")
print("x" * (MAX_LINE - 4) + env["DB_PASSWORD"])
print("own token:", env["GITHUB_TOKEN"], file=sys.stderr)
