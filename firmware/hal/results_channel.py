"""Where the device hands its results for the CEC: the firmware side of the uplink.

The device core knows nothing of the protocol (firmware never imports
``protocol``): at polls open it hands over the zero report, at polls close the
results report and its audit log, and now and then a status line. The
protocol part implements :class:`ResultsChannel` (``protocol.channel``): it
signs each hand-over as a message, keeps it in the crash-safe outbox *before*
returning, and a sender delivers it later over the modem.

Contract for implementations:

* a hand-over only queues; it never waits for the network, and a network
  problem never raises here (the device must not stop counting because the
  mobile network is down);
* handing over the same report kind twice is harmless: the device hands its
  reports over again after every boot (a power cut may have struck between
  the polls transition and the hand-over), and the channel keeps the first;
* a failure to *queue* (the internal medium failed) raises a
  :class:`~election.errors.PcosError`, which the operator sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class ResultsChannel(Protocol):
    """The device's uplink to the CEC (queues; delivery happens elsewhere)."""

    def polls_opened(self, zero_report: dict[str, Any]) -> None:
        """The zero report (``Device.report_data("zero")``) at polls open."""
        ...

    def polls_closed(self, results_report: dict[str, Any],
                     audit_events: Sequence[dict[str, Any]]) -> None:
        """The results report (``Device.report_data("results")``) and the whole audit log
        (the events in chain order) at polls close."""
        ...

    def dec_protocol(self, pages_png: Sequence[bytes], first: dict[str, Any],
                     second: dict[str, Any], time: str, audit_head: str) -> object:
        """The DEC's paper protocol: its scanned pages (PNG) and its key figures as the
        operator typed them twice (``firmware.dec_scan``). Raises a ``PcosError`` naming
        the fields when the two entries differ; nothing is queued then."""
        ...

    def status(self, state: str, detail: str, time: str, audit_head: str) -> None:
        """A status line (``state`` e.g. the polls state; ``detail`` free text)."""
        ...
