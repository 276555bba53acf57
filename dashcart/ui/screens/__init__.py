"""One module per screen; each has ``build(view) -> list[Widget]``."""
