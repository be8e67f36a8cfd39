"""The removable card's append-only journal: framed records, torn tails detected.

File layout: an 8-byte header ``PCOSJ001``, then frames::

    length   4 bytes, big-endian: payload bytes
    crc32    4 bytes, big-endian: zlib.crc32 of the payload
    payload  canonical JSON of one record

A power cut mid-write leaves a short or inconsistent last frame (a torn
tail). :func:`scan` reads frames up to the first one that is short, fails its
CRC or does not parse, and reports where the good data ends; :meth:`Journal.open`
truncates the file there. Appends are written whole and fsynced before the
call returns.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from election.errors import PcosError
from firmware.faults import FaultPoints

HEADER = b"PCOSJ001"
_FRAME = struct.Struct(">II")
MAX_RECORD_BYTES = 16 * 1024 * 1024


class JournalError(PcosError):
    """The journal cannot be read or written."""


@dataclass(frozen=True)
class ScanResult:
    records: list[dict[str, Any]]
    payloads: list[bytes]
    good_bytes: int  # the file is sound up to here
    file_bytes: int
    problem: str = ""  # why reading stopped early ("" when the file ended cleanly)

    @property
    def torn(self) -> bool:
        return self.good_bytes < self.file_bytes


def frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def scan(data: bytes) -> ScanResult:
    """Every whole, checksummed record in ``data`` and where the sound part ends."""
    if len(data) < len(HEADER):
        return ScanResult([], [], 0, len(data), "no header" if data else "")
    if data[:len(HEADER)] != HEADER:
        raise JournalError("journal: not a PCOS-KG journal (bad header)")
    pos = len(HEADER)
    records: list[dict[str, Any]] = []
    payloads: list[bytes] = []
    problem = ""
    while pos < len(data):
        if pos + _FRAME.size > len(data):
            problem = f"short frame header at byte {pos}"
            break
        length, crc = _FRAME.unpack_from(data, pos)
        end = pos + _FRAME.size + length
        if length > MAX_RECORD_BYTES or end > len(data):
            problem = f"frame at byte {pos} runs past the end"
            break
        payload = data[pos + _FRAME.size:end]
        if zlib.crc32(payload) != crc:
            problem = f"checksum mismatch in the frame at byte {pos}"
            break
        try:
            record = json.loads(payload)
        except ValueError:
            problem = f"unparseable record at byte {pos}"
            break
        records.append(record)
        payloads.append(payload)
        pos = end
    return ScanResult(records, payloads, pos, len(data), problem)


class Journal:
    """An open journal file: scanned, its torn tail cut off, ready to append."""

    def __init__(self, path: Path, faults: FaultPoints | None = None) -> None:
        self.path = path
        self.faults = faults or FaultPoints()
        self._fd: int | None = None
        self.scan_result: ScanResult | None = None

    def open(self) -> ScanResult:
        """Read the journal (creating it if absent), truncate a torn tail, open for append."""
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, HEADER)
            os.fsync(fd)
            os.close(fd)
            _fsync_dir(self.path.parent)
        data = self.path.read_bytes()
        result = scan(data)
        if result.good_bytes < len(HEADER):  # torn while the header was written
            with open(self.path, "wb") as f:
                f.write(HEADER)
                f.flush()
                os.fsync(f.fileno())
            result = ScanResult([], [], len(HEADER), result.file_bytes, result.problem)
        elif result.torn:
            with open(self.path, "r+b") as f:
                f.truncate(result.good_bytes)
                f.flush()
                os.fsync(f.fileno())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.scan_result = result
        return result

    def append(self, payloads: list[bytes], sync: bool = True) -> None:
        """Write the frames of ``payloads``; fsync before returning unless ``sync`` is False
        (the next synced append then makes them durable too)."""
        if self._fd is None:
            raise JournalError("journal: not open")
        pack, crc32 = _FRAME.pack, zlib.crc32  # frame(p) for each p, inline
        data = b"".join([b for p in payloads for b in (pack(len(p), crc32(p)), p)])
        if self.faults.armed and self.faults.name == "journal.mid-frame":
            half = max(1, len(data) // 2)
            os.write(self._fd, data[:half])
            os.fsync(self._fd)
            self.faults.hit("journal.mid-frame")
            os.write(self._fd, data[half:])
        else:
            os.write(self._fd, data)
        if sync:
            os.fsync(self._fd)

    def rewrite(self, payloads: list[bytes]) -> None:
        """Replace the whole journal with ``payloads`` (recovery from the internal medium)."""
        self.close()
        tmp = self.path.with_suffix(".rebuild")
        with open(tmp, "wb") as f:
            f.write(HEADER + b"".join(frame(p) for p in payloads))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_journal(path: Path) -> ScanResult:
    """Scan a journal file without changing it (for ``pcos audit verify``)."""
    try:
        return scan(path.read_bytes())
    except OSError as exc:
        raise JournalError(f"{path}: cannot read ({exc.strerror})") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
