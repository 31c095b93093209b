"""Errors a user can act on (one line on stderr, exit status 2), and the one-line form of any exception."""

import re


class UserInputError(ValueError):
    """Bad input (a path, a file, a factory, an option value); the message says what and where."""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_CALL_WRAPPER = re.compile(r"^Exception encountered when calling \S+\.$")


def first_line(exc: BaseException) -> str:
    """The exception's own first line.

    tf.function errors bury it under "in user code:" frames, and Keras 3 wraps an error raised in
    a layer's `call` as "Exception encountered when calling X.call()." with the cause on the next
    (bold) line: both wrappers are skipped.
    """
    lines = [_ANSI.sub("", line).strip() for line in str(exc).strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(exc).__name__
    if lines[0] == "in user code:":
        prefix = f"{type(exc).__name__}: "
        own = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        if own:
            lines = [lines[own[-1]][len(prefix):]] + lines[own[-1] + 1:]
    if _KERAS_CALL_WRAPPER.match(lines[0]) and len(lines) > 1:
        return lines[1]
    return lines[0]


class VariantUnavailable(Exception):
    """A variant that cannot run for this layer or model; the message is the one-line reason.

    The harness records it as `outcome: error` in the case's row, so the other cases still run.
    """
