"""Signed receipts: the CEC's answer to every envelope.

Body (canonical JSON, format ``pcos-kg/receipt`` version 1)::

    {"format": "pcos-kg/receipt", "format_version": 1,
     "status": "accepted" | "refused", "reason": null | "<Reason>", "detail": "<text>",
     "message_hash": "<64 hex>" | null,     # null when the envelope could not be opened
     "envelope_hash": "<64 hex>",           # SHA-256 of the envelope bytes as received
     "device_id": "..." | null, "sequence": n | null, "time": "<UTC>"}

signed by the CEC signing key as :class:`SignatureKind.RECEIPT`. Wire form:
``{"receipt": <body>, "signature": <base64>}``. An accepted receipt is stored
by the CEC and returned byte for byte for every later copy of the same
message, so duplicates are harmless and visibly so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware.crypto import CryptoError, SignatureKind, b64, sign, unb64, verify
from protocol.encoding import check_format, decode, encode, exact_keys, field
from protocol.errors import ProtocolError, Reason

RECEIPT_FORMAT = "pcos-kg/receipt"
RECEIPT_FORMAT_VERSION = 1


class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"


@dataclass(frozen=True)
class Receipt:
    status: ReceiptStatus
    reason: Reason | None
    detail: str
    message_hash: str | None
    envelope_hash: str
    device_id: str | None
    sequence: int | None
    time: str

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "device_id": self.device_id,
                "envelope_hash": self.envelope_hash, "format": RECEIPT_FORMAT,
                "format_version": RECEIPT_FORMAT_VERSION, "message_hash": self.message_hash,
                "reason": self.reason.value if self.reason else None,
                "sequence": self.sequence, "status": self.status.value, "time": self.time}

    def sign(self, key: Ed25519PrivateKey) -> bytes:
        """The wire bytes of this receipt, signed by the CEC."""
        body = encode(self.body())
        signature = b64(sign(key, SignatureKind.RECEIPT, body))
        # canonical: keys "receipt" < "signature", the body spliced in as encoded
        return b'{"receipt":' + body + b',"signature":"' + signature.encode("ascii") + b'"}'


def parse_receipt(data: bytes, cec_signing_key: Ed25519PublicKey) -> Receipt:
    """Verify the CEC's signature and parse; anything wrong is BAD_RECEIPT."""
    what = "receipt"
    try:
        doc = decode(data, what)
        if not isinstance(doc, dict):
            raise ProtocolError(Reason.MALFORMED, f"{what}: expected an object")
        exact_keys(doc, {"receipt", "signature"}, what)
        body = check_format(doc["receipt"], RECEIPT_FORMAT, RECEIPT_FORMAT_VERSION, what)
        verify(cec_signing_key, SignatureKind.RECEIPT, encode(body),
               unb64(doc["signature"], "receipt signature"), what)
        exact_keys(body, {"detail", "device_id", "envelope_hash", "format", "format_version",
                          "message_hash", "reason", "sequence", "status", "time"}, what)
        reason = body["reason"]
        return Receipt(ReceiptStatus(field(body, "status", str, what)),
                       Reason(reason) if reason is not None else None,
                       field(body, "detail", str, what),
                       field(body, "message_hash", (str, type(None)), what),
                       field(body, "envelope_hash", str, what),
                       field(body, "device_id", (str, type(None)), what),
                       field(body, "sequence", (int, type(None)), what),
                       field(body, "time", str, what))
    except (ProtocolError, CryptoError, ValueError) as exc:
        raise ProtocolError(Reason.BAD_RECEIPT, str(exc)) from None
