"""Errors that the command line prints as one line instead of a traceback."""


class CommandError(Exception):
    """A failure the user can fix: a bad file, a bad argument, an unwritable output."""
