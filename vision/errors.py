"""The one error type of the reader: a typed reason to return the sheet."""

from __future__ import annotations

from election.reject import RejectReason


class SheetRejected(Exception):
    """Raised by a pipeline stage that cannot go on; ``interpret`` turns it into a result.

    ``reason`` maps to the voter's and the operator's message
    (``election.reject.MESSAGES``); ``detail`` says, for logs and debugging,
    what exactly was measured.
    """

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
