"""The three kinds of trouble a user can act on, after Home Assistant's split.

Each carries a one-line message that names the file, field or device and the problem;
the command line prints it without a traceback.
"""


class DashcartError(Exception):
    """A problem the user can act on. ``str()`` is one line."""

    exit_code = 1


class Misconfigured(DashcartError):
    """A config, catalogue, trip or other file the user gave is wrong: fix it, then retry."""

    exit_code = 2


class RetryLater(DashcartError):
    """Something transient is missing (a device unplugged, the store offline): it may come back."""

    exit_code = 3


class PermanentlyBroken(DashcartError):
    """Something will not work until it is replaced (a corrupt model file, a dead sensor)."""

    exit_code = 4
