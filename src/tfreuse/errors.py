"""Errors a user can act on (one line on stderr, exit status 2), and the one-line form of any exception."""


class UserInputError(ValueError):
    """Bad input (a path, a file, a factory, an option value); the message says what and where."""


def first_line(exc: BaseException) -> str:
    """The exception's own first line; tf.function errors bury it under "in user code:" frames."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0] == "in user code:":
        prefix = f"{type(exc).__name__}: "
        own = [line[len(prefix):] for line in lines if line.startswith(prefix)]
        if own:
            return own[-1]
    return lines[0]


class VariantUnavailable(Exception):
    """A variant that cannot run for this layer or model; the message is the one-line reason.

    The harness records it as `outcome: error` in the case's row, so the other cases still run.
    """
