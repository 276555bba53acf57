"""One module per ``dashcart`` command."""
