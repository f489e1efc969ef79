"""The user-facing error of the ``rnnkit`` command."""


class CommandError(Exception):
    """Printed as ``rnnkit: error: ...`` with exit status 2, no traceback."""
