"""Loader 2 (Python): cities become nodes."""

import time

from table import rows, write

time.sleep(0.5)
nodes = [
    {"label": "City", "key": r["name"], "country": r["country"], "population": int(r["population"])}
    for r in rows("cities.csv")
]
print(f"read {len(nodes)} cities -> {write('nodes.jsonl', nodes)}")
