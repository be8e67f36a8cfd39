"""The audit log: every edit, deletion or reordering is found; checkpoints are signed."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from firmware import audit
from firmware.audit import EventType, verify_chain
from firmware.crypto import key_from_seed

KEY = key_from_seed(b"a" * 32)
OTHER = key_from_seed(b"b" * 32)
T0 = dt.datetime(2021, 11, 28, 8, tzinfo=dt.UTC)


def _log(n: int = 12) -> list[dict[str, Any]]:
    head = None
    out = []
    for i in range(n):
        if i % 4 == 3:
            head = audit.make_checkpoint(head, KEY, "KG-1", "polls", T0)
        else:
            head = audit.make_event(head, EventType.SHEET_CAST, {"sheet": f"s{i}"}, T0)
        out.append(head)
    return out


def test_an_untouched_log_verifies() -> None:
    rep = verify_chain(_log(), KEY.public_key())
    assert rep.ok, rep.problems
    assert rep.checkpoints == 3 and rep.events == 12


@pytest.mark.parametrize("i", range(12))
def test_editing_any_event_is_found(i: int) -> None:
    log = _log()
    log[i] = copy.deepcopy(log[i])
    log[i]["data"]["sheet" if "sheet" in log[i]["data"] else "reason"] = "forged"
    rep = verify_chain(log, KEY.public_key())
    assert not rep.ok and any(f"event {i + 1}" in p for p in rep.problems)


@pytest.mark.parametrize("i", range(12))
def test_deleting_any_event_is_found(i: int) -> None:
    """In the middle by the chain; at the end against the head printed on a report."""
    log = _log()
    head = log[-1]["hash"]
    del log[i]
    assert not verify_chain(log, KEY.public_key(), expect_head=head).ok
    if i < 11:
        assert not verify_chain(log, KEY.public_key()).ok


@pytest.mark.parametrize("i", range(11))
def test_swapping_neighbours_is_found(i: int) -> None:
    log = _log()
    log[i], log[i + 1] = log[i + 1], log[i]
    assert not verify_chain(log, KEY.public_key()).ok


def test_rewriting_the_chain_after_an_edit_breaks_the_checkpoint_signature() -> None:
    """A forger who recomputes every hash still cannot sign the next checkpoint."""
    log = _log(8)
    log[1]["data"]["sheet"] = "forged"
    prev = log[0]["hash"]
    for ev in log[1:]:
        ev["prev"] = prev
        if ev["type"] == "checkpoint":
            ev["data"]["covers_hash"] = prev
        ev["hash"] = audit.event_hash(ev)
        prev = ev["hash"]
    rep = verify_chain(log, KEY.public_key())
    assert not rep.ok and any("does not verify" in p for p in rep.problems)


def test_checkpoints_under_another_key_do_not_verify() -> None:
    rep = verify_chain(_log(), OTHER.public_key())
    assert not rep.ok and sum("does not verify" in p for p in rep.problems) == 3


def test_without_a_key_the_report_says_signatures_were_not_checked() -> None:
    rep = verify_chain(_log())
    assert not rep.ok and "not checked" in rep.problems[-1]


def test_compare_media() -> None:
    a = _log()
    assert audit.compare_media(a, list(a)) == []
    assert audit.compare_media(a, a[:-1])
