"""Publish one station's election day on the results website (what ``pcos demo`` ends with).

:func:`publish_station` provisions a CEC directory for one station, starts a
real CEC (:class:`~protocol.cec.live.LiveCec`: device listener + website on
127.0.0.1), and lets each of the station's devices send its zero report and
results — the first one also the DEC's paper protocol (page images and figures)
— through its crash-safe outbox over loopback TCP, exactly as a device does.
It checks the website then serves the station as reported, and returns where to
look and the command that serves the same database again.

Messages carry a fixed time, so a second run over the same directory re-sends
the very same signed messages: the outboxes keep them, the CEC answers with
the same receipts and nothing is counted twice.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from election.errors import PcosError
from election.model import PARTY_LIST_CONTEST, Election
from election.tally import Tally, merge
from protocol.cec.live import LiveCec
from protocol.cec.provision import provision
from protocol.cec.registry import CecRegistry
from protocol.cec.store import open_store
from protocol.device import DeviceMessenger
from protocol.messages import Content, DecFigures, DecProtocol, Results, SheetCounts, ZeroReport
from protocol.outbox import Outbox, OutboxState, Sender, TcpTransport


class PublishError(PcosError):
    """The station's day did not reach the website."""


@dataclass(frozen=True)
class Publication:
    station: str
    cec_dir: Path
    accepted: int            # messages holding an "accepted" receipt
    station_url: str         # the station's page while the embedded server ran
    serve_command: str       # serves the same database again
    look_at: str             # the station's page under serve_command

    def lines(self) -> list[str]:
        """What the demo prints: where the results are and how to see them."""
        return [f"results of station {self.station} sent to the CEC ({self.accepted} messages "
                f"accepted) and published on its website;",
                f"to look: {self.serve_command}",
                f"then open {self.look_at} (Русский: add &lang=ru, or the switch on the page)"]


def protocol_page_png(station: str, tally: Tally) -> bytes:
    """A page of the DEC's paper protocol as a PNG: the party-list figures written out."""
    img = Image.new("L", (420, 594), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 10, 409, 583), outline=0, width=2)
    draw.text((24, 24), f"DEC PROTOCOL  station {station}", fill=0)
    pl = tally.contest(PARTY_LIST_CONTEST)
    y = 54
    for option, votes in pl.options:
        draw.text((24, y), f"{option:<12}{votes:>8}", fill=0)
        draw.line((24, y + 13, 396, y + 13), fill=180)
        y += 22
    draw.text((24, y + 10), f"ballots cast {pl.ballots}   valid {pl.valid}", fill=0)
    draw.text((24, 540), "signatures: ________  ________  ________", fill=0)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def dec_figures(election: Election, station: str, total: Tally) -> DecFigures:
    """The figures a commission writes on its protocol when it agrees with the machines."""
    st = election.station(station)
    return DecFigures.make(voters_on_list=st.voters, ballots_received=st.voters,
                           ballots_cast=total.contest(PARTY_LIST_CONTEST).ballots,
                           ballots_spoiled=0, votes={c.contest: dict(c.options)
                                                     for c in total.contests})


def publish_station(cec_dir: str | Path, election: Election, station: str,
                    tallies: Sequence[Tally], *, dec_pages_png: Sequence[bytes] = (),
                    figures: DecFigures | None = None, sent_at: str | None = None,
                    http_port: int = 8080, deadline_s: float = 60.0,
                    keep_serving: Callable[[LiveCec], None] | None = None) -> Publication:
    """Send ``station``'s day (one device per tally) to a live CEC and check its website.

    ``dec_pages_png``: the scanned protocol pages (default: one drawn from the
    sum of ``tallies``); ``figures``: as typed by the operator (default: equal to
    the machine count). ``keep_serving`` is called with the running CEC before it
    stops (e.g. wait for Ctrl-C so a person can browse it).
    """
    if not tallies:
        raise PublishError("publish_station needs at least one device tally")
    try:
        st = election.station(station)
    except KeyError:
        raise PublishError(f"no station {station} in {election.election_id}") from None
    root = Path(cec_dir)
    devices = provision(root, election, [station], devices_per_station=len(tallies))
    registry = CecRegistry.load(root)
    total = tallies[0]
    for t in tallies[1:]:
        total = merge(total, t)
    time_utc = sent_at or f"{election.date.isoformat()}T14:05:00Z"  # 20:05 in Bishkek
    store = open_store(root / "cec.db")
    accepted = 0
    with LiveCec(registry, store, http_port=0) as cec:
        for i, (ident, tally) in enumerate(zip(devices, tallies, strict=True)):
            contents: list[Content] = [
                ZeroReport(Tally.empty(election, st.contest_ids())),
                Results(tally, SheetCounts(tally.contest(PARTY_LIST_CONTEST).ballots, 0, 0))]
            if i == 0:
                contents.append(DecProtocol(
                    tuple(dec_pages_png) or (protocol_page_png(station, total),),
                    figures or dec_figures(election, station, total)))
            outbox = Outbox(root / f"outbox-{ident.device_id}.db")
            messenger = DeviceMessenger(ident, registry.election_hash, registry.package_hash)
            for k, content in enumerate(contents):
                head = hashlib.sha256(f"{ident.device_id}/{k}".encode()).hexdigest()
                outbox.add(messenger.build(content, sequence=k + 1, time=time_utc,
                                           audit_head=head))
            sender = Sender(outbox, TcpTransport, cec.host, cec.device_port,
                            registry.encryption_keys.public(), registry.signing_public)
            if not sender.run(deadline_s=time.time() + deadline_s):
                raise PublishError(f"{ident.device_id}: {len(outbox.pending())} messages "
                                   f"without a receipt from the CEC")
            refused = [e for e in outbox.entries() if e.state is OutboxState.REFUSED]
            if refused:
                raise PublishError(f"{ident.device_id}: the CEC refused message "
                                   f"#{refused[0].sequence} ({refused[0].kind})")
            accepted += sum(e.state is OutboxState.DELIVERED for e in outbox.entries())
            outbox.close()
        with urllib.request.urlopen(f"{cec.url}/api/station/{station}", timeout=10) as r:
            view = json.load(r)
        if not view["reported"] or not view["checks"]["devices_add_up"]:
            raise PublishError(f"the CEC website does not show station {station} as reported")
        with urllib.request.urlopen(f"{cec.url}/station/{station}", timeout=10) as r:
            r.read()
        station_url = f"{cec.url}/station/{station}"
        if keep_serving is not None:
            keep_serving(cec)
    store.close()
    return Publication(station, root, accepted, station_url,
                       f"pcos cec serve --dir {root} --http-port {http_port}",
                       f"http://127.0.0.1:{http_port}/station/{station}?lang=ky")
