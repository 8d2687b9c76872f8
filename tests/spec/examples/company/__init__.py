"""A hook package beside everything.yaml: hooks are found relative to the pipeline file."""
