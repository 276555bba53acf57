"""Building the recognizer (the `[train]` extra): run from the repository root as `python -m training.<name>`."""
