#!/bin/sh
# Loader 3 (POSIX shell + awk): rivers become nodes, in a language other than Python.
set -eu
sleep 0.5
awk -F, 'NR > 1 {
  printf "{\"label\": \"River\", \"key\": \"%s\", \"length_km\": %d, \"countries\": \"%s\"}\n", $1, $2, $3
}' "$(dirname "$0")/../data/rivers.csv" > "$ORECART_ARTIFACTS/nodes.jsonl"
echo "read $(wc -l < "$ORECART_ARTIFACTS/nodes.jsonl") rivers"
