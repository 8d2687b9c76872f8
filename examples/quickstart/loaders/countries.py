"""Loader 1 (Python): countries become nodes."""

import time

from table import rows, write

time.sleep(0.5)  # a real loader downloads; this one pretends, so parallelism shows
nodes = [
    {"label": "Country", "key": r["code"], "name": r["name"], "population": int(r["population"])}
    for r in rows("countries.csv")
]
print(f"read {len(nodes)} countries -> {write('nodes.jsonl', nodes)}")
