"""Errors a user can act on: the command prints the message on one line and exits with status 2."""


class UserInputError(ValueError):
    """Bad input (a path, a file, a factory, an option value); the message says what and where."""
