"""Printed reports (firmware/reports.py, firmware/printout.py): rules, languages, determinism."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import printer_fixtures as fx
import pytest

from election.model import Language
from election.reject import RejectReason
from firmware import escpos, printout, reports
from firmware.reportdata import ReportError, ReportMode, Withdrawals


def test_zero_report_prints_from_zero_figures() -> None:
    zero = fx.data(ballots=0)
    assert zero.nonzero_figures() == []
    report = reports.zero_report(fx.election(), zero, Language.KY)
    assert report.copies == 1 and report.pages[0].shape[1] == escpos.DOTS_PER_LINE
    assert report.pages[0].shape[0] > 1000 and report.qr_texts == ()


@pytest.mark.parametrize("change", ["sheets", "returned", "marginal", "tally"])
def test_zero_report_is_refused_from_any_non_zero_figure(change: str) -> None:
    zero = fx.data(ballots=0)
    if change == "sheets" or change == "tally":
        some = fx.data(ballots=1)
        bad = dataclasses.replace(zero, sheets_cast=1, tally=some.tally)
    elif change == "returned":
        bad = dataclasses.replace(zero, returned=((RejectReason.NOT_A_BALLOT, 1),))
    else:
        bad = dataclasses.replace(zero, marginal_sheets=1)
        with pytest.raises(ReportError, match="1 sheets with marginal marks of 0"):
            reports.zero_report(fx.election(), bad, Language.RU)
        return
    with pytest.raises(ReportError, match="zero report refused"):
        reports.zero_report(fx.election(), bad, Language.RU)


def test_a_test_tally_never_prints_as_results_and_vice_versa() -> None:
    test = fx.data(mode=ReportMode.TEST)
    with pytest.raises(ReportError, match="from test mode"):
        reports.results_report(fx.election(), test, Language.KY)
    with pytest.raises(ReportError, match="official, not test"):
        reports.test_report(fx.election(), fx.data(), Language.KY)


def test_test_report_is_marked_test_top_and_bottom() -> None:
    page = reports.test_report(fx.election(), fx.data(mode=ReportMode.TEST), Language.RU).pages[0]
    banner = printout.render_block(printout.Banner(reports.label("test_banner", Language.RU)))
    h = banner.shape[0]
    assert np.array_equal(page[:h], banner)
    assert np.array_equal(escpos.trim_white(page)[-h:], escpos.trim_white(banner))


def test_inconsistent_data_is_refused() -> None:
    d = fx.data()
    with pytest.raises(ReportError, match="sheets cast but the contests count"):
        reports.results_report(fx.election(), dataclasses.replace(d, sheets_cast=5), Language.RU)
    with pytest.raises(ReportError, match="election hash"):
        reports.results_report(fx.election(), dataclasses.replace(d, election_hash="0" * 64),
                               Language.RU)
    with pytest.raises(ReportError, match="listed twice"):
        reports.results_report(fx.election(), dataclasses.replace(d, returned=(
            (RejectReason.STREAK, 1), (RejectReason.STREAK, 2))), Language.RU)
    with pytest.raises(ReportError, match="copies"):
        reports.results_report(fx.election(), d, Language.RU, copies=0)


def test_copies_differ_only_by_their_copy_line() -> None:
    report = reports.results_report(fx.election(), fx.data(), Language.RU, copies=3)
    assert report.copies == 3
    a, b = report.pages[0], report.pages[2]
    assert a.shape == b.shape and not np.array_equal(a, b)
    rows = np.flatnonzero((a != b).any(axis=1))
    assert rows.max() - rows.min() < 40  # one text line: "Экземпляр 1 из 3" / "3 из 3"


def test_same_data_gives_the_same_bytes() -> None:
    one = reports.results_report(fx.election(), fx.data(), Language.KY, 2, fx.key(fx.DEVICE))
    two = reports.results_report(fx.election(), fx.data(), Language.KY, 2, fx.key(fx.DEVICE))
    assert hashlib.sha256(one.escpos()).digest() == hashlib.sha256(two.escpos()).digest()
    other = reports.results_report(fx.election(), fx.data(seed=8), Language.KY, 2,
                                   fx.key(fx.DEVICE))
    assert other.escpos() != one.escpos()


def test_both_languages_render_with_their_own_names() -> None:
    e = fx.election()
    ky = reports.results_report(e, fx.data(), Language.KY).pages[0]
    ru = reports.results_report(e, fx.data(), Language.RU).pages[0]
    assert not np.array_equal(ky[:400], ru[:400])
    # Names come from the election model, spelt per language.
    green = next(p for p in e.party_list.parties if p.name.ky != p.name.ru)
    assert reports.option_name(e, "party-list", green.id, Language.KY).endswith(green.name.ky)
    assert reports.option_name(e, "party-list", green.id, Language.RU).endswith(green.name.ru)
    assert reports.option_name(e, "party-list", "against-all", Language.RU) == "Против всех"


@pytest.mark.parametrize(("kyrgyz", "plain"), [("ө", "о"), ("ү", "у"), ("ң", "н"),
                                                ("Ө", "О"), ("Ү", "У"), ("Ң", "Н")])
def test_kyrgyz_letters_print_as_their_own_glyphs(kyrgyz: str, plain: str) -> None:
    def ink(text: str) -> np.ndarray:
        return printout.render_block(printout.Line(text))

    missing = ink("\ue000")  # a private-use code point: the font's "no glyph" box
    assert ink(kyrgyz).any()
    assert not np.array_equal(ink(kyrgyz), ink(plain))
    assert not np.array_equal(ink(kyrgyz), missing)


def test_long_text_and_hashes_wrap_inside_the_paper() -> None:
    img = printout.layout([printout.KeyValue("Хэш", "f" * 64),
                           printout.Line("сөз " * 60), printout.Title("Ө" * 40)])
    assert img.shape[1] == escpos.DOTS_PER_LINE
    assert not img[:, :printout.MARGIN_DOTS - 1].any()
    assert not img[:, escpos.DOTS_PER_LINE - printout.MARGIN_DOTS + 1:].any()


def test_withdrawals_and_preferences_are_listed() -> None:
    e = fx.election()
    w = Withdrawals.of(e)
    assert not w.empty  # the default election carries withdrawals
    d = fx.data()
    plain = dataclasses.replace(d, withdrawals=Withdrawals())
    with_w = reports.results_report(e, d, Language.RU).pages[0]
    without = reports.results_report(e, plain, Language.RU).pages[0]
    extra_lines = len(w.positions) + len(w.candidates)
    assert with_w.shape[0] > without.shape[0] + 20 * extra_lines
    assert d.tally.contest("party-list").preferences  # non-zero preferences are printed


def test_audit_summary_must_match_the_report_head() -> None:
    d = fx.data()
    audit = reports.AuditSummary(entries=3, head_hash=d.audit_head_hash, first_time="a",
                                 last_time="b", checkpoints=1, by_kind=(("power-on", 1),))
    assert reports.audit_summary(fx.election(), d, audit, Language.KY).pages[0].any()
    with pytest.raises(ReportError, match="head hash"):
        reports.audit_summary(fx.election(), d, dataclasses.replace(audit, head_hash="x"),
                              Language.KY)


def test_report_files_are_written(tmp_path: Path) -> None:
    report = reports.zero_report(fx.election(), fx.data(ballots=0), Language.KY)
    png, raw = report.save(tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert escpos.same_paper(escpos.decode(raw.read_bytes()).pieces(), report.pages)


def test_report_preview_png_is_the_1_bit_picture_of_the_preview(tmp_path: Path) -> None:
    """The preview PNG is the grey picture converted to 1 bit, byte for byte (the bool
    preview written as a 1-bit image directly), and reads back as the preview."""
    import io

    from PIL import Image

    report = reports.results_report(fx.election(), fx.data(), Language.RU, copies=2)
    png, _raw = report.save(tmp_path)
    buffer = io.BytesIO()
    Image.fromarray(escpos.to_grey(report.preview())).convert("1").save(buffer, format="PNG")
    assert png.read_bytes() == buffer.getvalue()
    back = np.asarray(Image.open(png).convert("L")) == 0
    assert np.array_equal(back, report.preview())
