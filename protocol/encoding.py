"""The canonical, versioned encoding of every protocol document.

Choice: canonical JSON (:func:`firmware.crypto.canonical_json`: keys sorted,
no whitespace, UTF-8, non-ASCII kept), the same encoding every other signed
artifact of PCOS-KG (certificates, packages) uses. Reasons:

* one canonicaliser for the whole project, already reviewed, and readable by
  an auditor with any JSON tool; a binary format would need its own parser on
  both sides and its own fuzzing;
* the size cost is small where it matters: results are a few kB; page images
  travel base64 (+33 %), bounded by :data:`protocol.frames.MAX_FRAME_BYTES`.

Determinism is enforced on *decode*, not only on encode: :func:`decode`
accepts a byte string only if re-encoding the parsed value gives exactly the
same bytes. So every document has exactly one encoding, and the hash of a
message is well defined. Only objects, arrays, strings, integers, booleans and
null are allowed (no floats: their text form is not canonical), integers
within ±2**53, nesting at most :data:`MAX_DEPTH` deep.

Every top-level document carries ``format`` and ``format_version``
(:func:`check_format`); a reader refuses versions it does not know.
"""

from __future__ import annotations

import json
import re
from typing import Any

from firmware.crypto import canonical_json
from protocol.errors import ProtocolError, Reason

MAX_DEPTH = 16
MAX_INT = 2**53


def encode(doc: Any) -> bytes:
    """The canonical bytes of ``doc``; refuses values that have no canonical form."""
    _check_value(doc, "$", 0)
    return canonical_json(doc)


def _reject_float(text: str) -> Any:
    raise ProtocolError(Reason.MALFORMED, f"number {text} is not an integer")


def _reject_constant(text: str) -> Any:
    raise ProtocolError(Reason.MALFORMED, f"{text} is not JSON")


def decode(data: bytes, what: str = "document") -> Any:
    """Parse canonical JSON; anything else raises :class:`ProtocolError` (MALFORMED)."""
    if not isinstance(data, bytes | bytearray):
        raise ProtocolError(Reason.MALFORMED, f"{what}: expected bytes")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(Reason.MALFORMED, f"{what}: not UTF-8") from None
    try:
        doc = json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant,
                         parse_int=_bounded_int)
    except ProtocolError as exc:
        raise ProtocolError(Reason.MALFORMED, f"{what}: {exc.detail}") from None
    except (ValueError, RecursionError):
        raise ProtocolError(Reason.MALFORMED, f"{what}: not JSON") from None
    try:
        canonical = canonical_json(doc)
    except UnicodeEncodeError:
        raise ProtocolError(Reason.MALFORMED, f"{what}: text is not valid Unicode") from None
    if canonical != bytes(data):
        raise ProtocolError(Reason.MALFORMED, f"{what}: not in canonical form")
    if _too_deep(text):
        _check_value(doc, "$", 0, what)  # slow path: names the offending place
    return doc


def _bounded_int(text: str) -> int:
    value = int(text)
    if not -MAX_INT <= value <= MAX_INT:
        raise ProtocolError(Reason.MALFORMED, f"integer {text[:20]} out of range")
    return value


def _too_deep(text: str) -> bool:
    """Nesting deeper than :data:`MAX_DEPTH`, counted on the brackets outside strings."""
    depth = best = 0
    for ch in _BRACKET.findall(_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            best = max(best, depth)
        else:
            depth -= 1
    return best > MAX_DEPTH


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _check_value(value: Any, path: str, depth: int, what: str = "document") -> None:
    if depth > MAX_DEPTH:
        raise ProtocolError(Reason.MALFORMED, f"{what}: nested deeper than {MAX_DEPTH} at {path}")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise ProtocolError(Reason.MALFORMED, f"{what}: integer out of range at {path}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]", depth + 1, what)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProtocolError(Reason.MALFORMED, f"{what}: non-text key at {path}")
            _check_value(item, f"{path}.{key}", depth + 1, what)
        return
    raise ProtocolError(Reason.MALFORMED, f"{what}: {type(value).__name__} at {path} has no "
                        "canonical encoding")


def check_format(doc: Any, fmt: str, version: int, what: str) -> dict[str, Any]:
    """``doc`` as an object whose ``format``/``format_version`` are ``fmt``/``version``."""
    if not isinstance(doc, dict):
        raise ProtocolError(Reason.MALFORMED, f"{what}: expected a JSON object")
    if doc.get("format") != fmt:
        raise ProtocolError(Reason.MALFORMED, f"{what}: format is not {fmt!r}")
    if doc.get("format_version") != version:
        raise ProtocolError(Reason.UNSUPPORTED_VERSION,
                            f"{what}: {fmt} version {doc.get('format_version')!r} is not "
                            f"supported (only {version})")
    return doc


def field(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``doc[key]``, which must be present and of ``kind`` (bool is never an int here)."""
    if key not in doc:
        raise ProtocolError(Reason.MALFORMED, f"{what}: missing {key!r}")
    value = doc[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ProtocolError(Reason.MALFORMED, f"{what}: {key!r} has the wrong type")
    if not isinstance(value, kinds):
        raise ProtocolError(Reason.MALFORMED, f"{what}: {key!r} has the wrong type")
    return value


def exact_keys(doc: dict[str, Any], keys: set[str], what: str) -> None:
    if set(doc) != keys:
        extra, missing = sorted(set(doc) - keys), sorted(keys - set(doc))
        raise ProtocolError(Reason.MALFORMED, f"{what}: unexpected keys {extra}, missing "
                            f"{missing}")
