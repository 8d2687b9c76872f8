"""Loader 4 (Python): relationships between what the three loaders before it produced;
hands all nodes and relationships on to `publish`."""

from table import read, write

nodes = {need: read(need, "nodes.jsonl") for need in ("countries", "cities", "rivers")}
countries = {n["key"] for n in nodes["countries"]}
links = []
for city in nodes["cities"]:
    links.append({"type": "IN", "from": ["City", city["key"]], "to": ["Country", city["country"]]})
for river in nodes["rivers"]:
    for code in river["countries"].split(";"):
        if code in countries:
            links.append({"type": "FLOWS_THROUGH", "from": ["River", river["key"]],
                          "to": ["Country", code]})
write("nodes.jsonl", [n for group in nodes.values() for n in group])
print(f"made {len(links)} relationships -> {write('relationships.jsonl', links)}")
