"""User-facing errors: one line, naming the file or field at fault."""


class FacelmError(Exception):
    """An error a user caused (bad file, bad shape, bad value).

    The CLI prints it as ``error: <message>`` and exits with status 2, with no
    traceback; nodes log it and carry on.
    """
