"""Loader 4 (Python): relationships between what the three loaders before it produced."""

from table import read, write

countries = {n["key"] for n in read("countries", "nodes.jsonl")}
links = []
for city in read("cities", "nodes.jsonl"):
    links.append({"type": "IN", "from": ["City", city["key"]], "to": ["Country", city["country"]]})
for river in read("rivers", "nodes.jsonl"):
    for code in river["countries"].split(";"):
        if code in countries:
            links.append({"type": "FLOWS_THROUGH", "from": ["River", river["key"]],
                          "to": ["Country", code]})
print(f"made {len(links)} relationships -> {write('relationships.jsonl', links)}")
