"""The print-ready vector PDF: page size, determinism, fonts, text, spot colours, geometry."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from pypdf.generic import ContentStream

from calibration.render_pdf import (
    PROTECTIVE_PAINT_NAME,
    STRIPE_INK_NAMES,
    cmyk_from_srgb,
    fit_text,
    render_pdf,
)
from calibration.render_raster import MIN_TEXT_SCALE
from election.default import default_election
from election.geometry import Rect
from election.layout import BallotLayout, TextBox, ballot_layout
from election.model import BallotKind, Language

PT_PER_MM = 72.0 / 25.4
REPO = Path(__file__).resolve().parents[1]


def _samples() -> list[tuple[BallotKind, int | str | None]]:
    e = default_election()
    biggest = max(e.districts, key=lambda d: len(d.candidates))
    return [(BallotKind.PARTY_LIST, None), (BallotKind.DISTRICT, biggest.number),
            (BallotKind.LOCAL, e.councils[-1].id)]


SAMPLES = _samples()
SAMPLE_IDS = [k.value for k, _ in SAMPLES]
_cache: dict[tuple[BallotKind, int | str | None, Language], tuple[BallotLayout, bytes]] = {}


def _pdf(kind: BallotKind, contest: int | str | None,
         lang: Language = Language.KY) -> tuple[BallotLayout, bytes]:
    """Layout and PDF bytes, rendered once per test session."""
    key = (kind, contest, lang)
    if key not in _cache:
        layout = ballot_layout(default_election(), kind, contest, lang)
        _cache[key] = (layout, render_pdf(layout))
    return _cache[key]


def _reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def _resources(data: bytes) -> Any:
    """The page's resource dictionary (typed Any: pypdf's objects are loosely typed)."""
    return _reader(data).pages[0]["/Resources"].get_object()


# --------------------------------------------------------------------------- file and page


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
def test_pdf_is_one_page_of_exactly_the_paper_size(kind: BallotKind,
                                                   contest: int | str | None) -> None:
    layout, data = _pdf(kind, contest)
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    reader = _reader(data)
    assert len(reader.pages) == 1
    page = reader.pages[0]
    for box in (page.mediabox, page.trimbox, page.bleedbox):
        assert float(box.left) == 0 and float(box.bottom) == 0
        assert float(box.width) / PT_PER_MM == pytest.approx(layout.paper_w_mm, abs=0.01)
        assert float(box.height) / PT_PER_MM == pytest.approx(layout.paper_h_mm, abs=0.01)


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
def test_same_layout_gives_byte_identical_pdf(kind: BallotKind, contest: int | str | None) -> None:
    layout, first = _pdf(kind, contest)
    other = ballot_layout(default_election(), BallotKind.PARTY_LIST, None, Language.RU)
    render_pdf(other)  # rendering something else in between changes nothing
    assert render_pdf(layout) == first
    assert render_pdf(ballot_layout(default_election(), kind, contest, Language.KY)) == first


def test_pdf_bytes_do_not_depend_on_the_process() -> None:
    layout, data = _pdf(*SAMPLES[1])
    code = (
        "import hashlib, sys\n"
        "from calibration.render_pdf import render_pdf\n"
        "from election.default import default_election\n"
        "from election.layout import ballot_layout\n"
        "from election.model import BallotKind, Language\n"
        f"lay = ballot_layout(default_election(), BallotKind.DISTRICT, {layout.contest_number},"
        " Language.KY)\n"
        "sys.stdout.write(hashlib.sha256(render_pdf(lay)).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout == hashlib.sha256(data).hexdigest()


def test_metadata_names_the_ballot() -> None:
    e = default_election()
    for kind, contest in SAMPLES:
        layout, data = _pdf(kind, contest)
        meta = _reader(data).metadata
        assert meta is not None
        title, subject = meta.title or "", meta.subject or ""
        for part in (e.election_id, kind.value, layout.contest, layout.language.value):
            assert part in title and part in subject
        assert layout.layout_hash in subject and layout.election_hash in subject
        assert b"D:20000101000000" in data  # reportlab's invariant date, not the clock


# --------------------------------------------------------------------------- fonts and text


def test_dejavu_is_embedded_and_no_other_font_is_used() -> None:
    _layout, data = _pdf(*SAMPLES[0])
    fonts = _resources(data)["/Font"]
    names = []
    for ref in fonts.values():
        font = ref.get_object()
        names.append(str(font["/BaseFont"]))
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor  # the TrueType program itself is in the file
    assert names and all("DejaVuSans" in n for n in names)
    assert any("Bold" in n for n in names)


@pytest.mark.parametrize("lang", list(Language), ids=[x.value for x in Language])
def test_text_extraction_returns_the_cyrillic_party_names(lang: Language) -> None:
    e = default_election()
    _layout, data = _pdf(BallotKind.PARTY_LIST, None, lang)
    text = _reader(data).pages[0].extract_text()
    for party in e.party_list.parties:
        assert party.name.get(lang) in text, party.id
    assert any("\u0400" <= ch <= "\u04ff" for ch in text)


def test_kyrgyz_letters_survive_into_the_pdf_text() -> None:
    e = default_election()
    district = e.district(SAMPLES[1][1])  # type: ignore[arg-type]
    _layout, data = _pdf(*SAMPLES[1], Language.KY)
    text = _reader(data).pages[0].extract_text()
    assert district.candidates[0].name.surname.ky in text
    assert any(ch in text for ch in "өүң")


def test_fitted_text_never_leaves_its_box() -> None:
    for kind, contest in SAMPLES:
        for lang in Language:
            layout, _data = _pdf(kind, contest, lang)
            for tb in layout.texts:
                fitted = fit_text(tb)
                if fitted is None:
                    continue
                assert fitted.width_mm <= tb.rect.w_mm + 1e-6, tb.text
                assert tb.rect.x_mm - 1e-6 <= fitted.x_mm
                assert fitted.x_mm + fitted.width_mm <= tb.rect.right_mm + 1e-6
                assert fitted.size_mm >= tb.size_mm * MIN_TEXT_SCALE - 1e-9
                assert tb.rect.y_mm < fitted.baseline_mm < tb.rect.bottom_mm


def test_overlong_text_is_shrunk_then_ellipsised() -> None:
    tb = TextBox(Rect(0.0, 0.0, 30.0, 5.0), "Кыргыз Республикасынын Жогорку Кеңеши " * 4, 3.6)
    fitted = fit_text(tb)
    assert fitted is not None
    assert fitted.size_mm == pytest.approx(3.6 * MIN_TEXT_SCALE)
    assert fitted.text.endswith("…") and fitted.width_mm <= 30.0
    short = fit_text(TextBox(Rect(0.0, 0.0, 30.0, 5.0), "Өңүү", 3.6, align="right"))
    assert short is not None and short.text == "Өңүү" and short.size_mm == 3.6
    assert short.x_mm + short.width_mm == pytest.approx(30.0)
    assert fit_text(TextBox(Rect(0.0, 0.0, 30.0, 5.0), "", 3.6)) is None


# --------------------------------------------------------------------------- inks


def _eval_tint_transform(program: bytes, tint: float) -> list[float]:
    """Run a PostScript calculator function (the subset reportlab writes) on one input."""
    stack = [tint]
    for token in program.decode("ascii").strip("{} \n").split():
        if token == "dup":
            stack.append(stack[-1])
        elif token == "exch":
            stack[-1], stack[-2] = stack[-2], stack[-1]
        elif token == "mul":
            b = stack.pop()
            stack.append(stack.pop() * b)
        elif token == "pop":
            stack.pop()
        else:
            stack.append(float(token))
    return stack


def _separations(data: bytes) -> dict[str, list[float]]:
    """Spot-colour name -> its CMYK alternate at full tint (from the tint transform)."""
    spaces = _resources(data).get("/ColorSpace", {})
    out = {}
    for value in spaces.values():
        cs = value.get_object()
        assert cs[0] == "/Separation" and cs[2] == "/DeviceCMYK"
        fn = cs[3].get_object()
        out[str(cs[1])[1:]] = _eval_tint_transform(fn.get_data(), 1.0)
    return out


def test_spot_colours_by_kind() -> None:
    seps = {kind: _separations(_pdf(kind, contest)[1]) for kind, contest in SAMPLES}
    blue, pink = STRIPE_INK_NAMES[BallotKind.DISTRICT], STRIPE_INK_NAMES[BallotKind.LOCAL]
    assert set(seps[BallotKind.PARTY_LIST]) == {PROTECTIVE_PAINT_NAME}
    assert set(seps[BallotKind.DISTRICT]) == {blue, PROTECTIVE_PAINT_NAME}
    assert set(seps[BallotKind.LOCAL]) == {pink, PROTECTIVE_PAINT_NAME}
    layout = _pdf(*SAMPLES[1])[0]
    assert layout.stripe_srgb is not None
    assert seps[BallotKind.DISTRICT][blue] == pytest.approx(cmyk_from_srgb(layout.stripe_srgb))
    assert seps[BallotKind.DISTRICT][PROTECTIVE_PAINT_NAME] == pytest.approx(
        cmyk_from_srgb(layout.security.srgb))


@pytest.mark.parametrize("srgb", [(110, 160, 225), (240, 160, 200), (245, 200, 130),
                                  (0, 0, 0), (255, 255, 255)])
def test_cmyk_alternate_matches_the_srgb(srgb: tuple[int, int, int]) -> None:
    c, m, y, k = cmyk_from_srgb(srgb)
    assert all(0.0 <= v <= 1.0 for v in (c, m, y, k))
    back = [255 * (1 - v) * (1 - k) for v in (c, m, y)]
    assert back == pytest.approx(list(srgb), abs=3.0)
    assert min(c, m, y) == 0.0 or k == 1.0  # full grey-component replacement


# --------------------------------------------------------------------------- geometry


def _filled_rects_pt(data: bytes) -> list[tuple[float, float, float, float]]:
    reader = _reader(data)
    page = reader.pages[0]
    ops = ContentStream(page.get_contents(), reader).operations
    return [tuple(float(v) for v in operands) for operands, op in ops  # type: ignore[misc]
            if op == b"re"]


def _pdf_rect(r: Rect, paper_h_mm: float) -> tuple[float, float, float, float]:
    """A layout rectangle (top-left origin, mm) in PDF user space (bottom-left origin, pt)."""
    return (r.x_mm * PT_PER_MM, (paper_h_mm - r.bottom_mm) * PT_PER_MM,
            r.w_mm * PT_PER_MM, r.h_mm * PT_PER_MM)


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
def test_geometry_sits_at_the_layout_mm_positions(kind: BallotKind,
                                                  contest: int | str | None) -> None:
    layout, data = _pdf(kind, contest)
    rects = _filled_rects_pt(data)

    def present(r: Rect) -> bool:
        want = _pdf_rect(r, layout.paper_h_mm)
        return any(all(abs(a - b) < 0.01 for a, b in zip(got, want, strict=True))
                   for got in rects)

    for t in layout.targets:
        assert present(t.box), t.id  # the outer edge of the border
        assert present(t.box.inset(layout.box_border_mm)), t.id  # its inner edge
    for mark in (*layout.timing.left, *layout.timing.right):
        assert present(mark)
    for stripe in layout.stripes:
        assert present(stripe.rect)
    for copy in range(len(layout.code.copies)):
        assert present(layout.code.cell_rect(copy, 0))  # the start guard begins with a 1
