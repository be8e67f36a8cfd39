"""The DEC protocol through the scanner: page images from the image sensor, figures typed
twice and compared, sent through the uplink; the CEC shows machine-vs-protocol differences."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from transmit_fixtures import (
    STATION,
    cec_store,
    device_ids,
    make_registry,
    run_sim_day,
    sim_device,
)

from benchmarks.cec_data import dec_figures_for
from election.model import PARTY_LIST_CONTEST
from firmware.dec_scan import DecScanError, hand_dec_protocol, scan_dec_page
from firmware.states import PollsState
from protocol.cec.api import ResultsApi
from protocol.cec.ingest import Ingestor
from protocol.cec.server import ServerThread
from protocol.channel import make_sender
from protocol.errors import ProtocolError, Reason
from protocol.messages import DecProtocol, SignedMessage
from protocol.outbox import OutboxState, TcpTransport
from simulator.dec_page import page_count, render_dec_page
from simulator.devices import tiny_images


def test_dec_protocol_scanned_typed_twice_sent_and_compared(tmp_path: Path) -> None:
    did = device_ids(1)[0]
    registry = make_registry([did])
    d = sim_device(tmp_path, did, registry)
    with pytest.raises(DecScanError, match="after polls close"):
        scan_dec_page(d.rig.device)
    tally = run_sim_day(d)
    assert d.rig.device.polls is PollsState.RESULTS_REPORTED
    party = sorted(o for o, _ in tally.contest(PARTY_LIST_CONTEST).options)[0]
    figures = dec_figures_for(STATION, tally, shift={party: 5}).to_json()  # DEC wrote +5
    pages = page_count(STATION.number, figures)
    assert pages >= 2
    rendered = {f"DEC-P{p}": render_dec_page(STATION.number, figures, p)
                for p in range(1, pages + 1)}
    world, sensor = d.rig.world, d.rig.device.hw.images
    sensor.images_of = lambda s: rendered[s] if s in rendered else tiny_images(s)  # type: ignore
    scanned = []
    for name in rendered:
        world.insert(name)
        scanned.append(scan_dec_page(d.rig.device))
        assert world.take_from_entry() == [name]  # handed back, never into the box
    assert not any(s.startswith("DEC") for s in world.box)
    for name, png in zip(rendered, scanned, strict=True):  # lossless: the sensor's pixels
        decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded is not None and np.array_equal(decoded, rendered[name].front)
    # a slip in the second entry: refused, naming the field, nothing queued
    slip = {**figures, "votes": {**figures["votes"], PARTY_LIST_CONTEST: {
        **figures["votes"][PARTY_LIST_CONTEST], party: figures["votes"][PARTY_LIST_CONTEST][party]
        + 1}}}
    before = len(d.outbox.entries())
    with pytest.raises(ProtocolError) as err:
        hand_dec_protocol(d.rig.device, scanned, figures, slip)
    assert err.value.reason is Reason.DEC_FIGURES_MISMATCH and party in str(err.value)
    assert len(d.outbox.entries()) == before
    hand_dec_protocol(d.rig.device, scanned, figures, dict(figures))
    entry = d.outbox.entries()[-1]
    content = SignedMessage.loads(entry.signed).message.content
    assert isinstance(content, DecProtocol) and list(content.pages_png) == scanned
    store = cec_store(tmp_path / "cec.db")
    with ServerThread(Ingestor(registry, store)) as srv:
        sender = make_sender(d.outbox, TcpTransport, "127.0.0.1", srv.port,
                             registry.encryption_keys.public(), registry.signing_public, did)
        assert sender.run(deadline_s=time.time() + 20)
    assert all(e.state is OutboxState.DELIVERED for e in d.outbox.entries())
    view = ResultsApi(registry, store).station(STATION.number)
    assert view["dec_protocol"]["pages"] == pages
    diffs = view["discrepancies"]
    assert len(diffs) == 1 and diffs[0]["protocol"] - diffs[0]["machine"] == 5, diffs
    assert ResultsApi(registry, store).dec_page(STATION.number, 0) == scanned[0]
