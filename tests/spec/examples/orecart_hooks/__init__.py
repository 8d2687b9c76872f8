"""A hook package beside everything.yaml."""
