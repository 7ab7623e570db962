"""The one error type users see, with a message that fits on one line."""

from __future__ import annotations


class LlmkitError(ValueError):
    """Bad input or a missing asset: the message names the file, column or field and what was expected.

    It is a ValueError so that callers who catch ValueError keep working. The message is kept on
    one line (newlines are folded) so it reads well in a notebook traceback and in a log.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ClaimFailed(AssertionError):
    """A claim the notebook makes did not hold at a profile where claims are enforced."""
