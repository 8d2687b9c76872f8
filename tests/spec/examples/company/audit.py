"""An (empty) hook module everything.yaml names."""
