"""Typed refusals of the results protocol.

Every way a message, a frame or a receipt can be wrong has one
:class:`Reason`. A :class:`ProtocolError` carries it, so the CEC server can log
and answer with the exact reason and a device (or a test) can tell a bad
signature from a slow link without parsing text.
"""

from __future__ import annotations

from enum import StrEnum

from election.errors import PcosError


class Reason(StrEnum):
    """Why a frame, envelope, message or receipt was refused."""

    MALFORMED = "malformed"                    # not the canonical encoding, a bad field
    UNSUPPORTED_VERSION = "unsupported-version"
    OVERSIZED_FRAME = "oversized-frame"
    TRUNCATED_FRAME = "truncated-frame"
    DECRYPTION_FAILED = "decryption-failed"    # HPKE open failed (wrong key, header changed)
    HEADER_MISMATCH = "header-mismatch"        # clear header disagrees with the signed message
    BAD_SIGNATURE = "bad-signature"
    BAD_CERTIFICATE = "bad-certificate"        # not signed by the CEC, or out of its validity
    UNKNOWN_DEVICE = "unknown-device"
    REVOKED_DEVICE = "revoked-device"
    WRONG_STATION = "wrong-station"
    WRONG_TEC = "wrong-tec"                    # a TEC spare's message for another TEC's station
    WRONG_ELECTION = "wrong-election"
    WRONG_PACKAGE = "wrong-package"
    OUT_OF_ORDER_SEQUENCE = "out-of-order-sequence"
    CONFLICTING_CONTENT = "conflicting-content"  # other content under a used sequence number
    BAD_CONTENT = "bad-content"                # content does not fit its kind
    TIMEOUT = "timeout"                        # slow or idle peer
    CONNECTION_CLOSED = "connection-closed"
    DEC_FIGURES_MISMATCH = "dec-figures-mismatch"  # the two typed entries differ (device side)
    BAD_RECEIPT = "bad-receipt"


class ProtocolError(PcosError):
    """A protocol refusal with its :class:`Reason`; the message says what was wrong."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
