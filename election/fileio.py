"""Writing files so that nobody ever sees half of one.

Every file PCOS-KG writes (definitions, layouts, ballots, sheets, images,
truth files) goes through :func:`write_atomically`: the bytes go to a
temporary sibling, are flushed to disk (``fsync``), and the sibling is
renamed over the target. A failure leaves no temporary behind and raises
:class:`~election.errors.PcosError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from election.errors import PcosError


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` (creating its directory); returns the path."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:  # the umask applies, as for any file the user makes
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        raise PcosError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        _discard(tmp)
        raise
    return target


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
