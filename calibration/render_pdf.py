"""Layout -> print-ready vector PDF for the printing house.

What the printer gets, and why
------------------------------
* **One page, exactly the paper size** (``paper_w_mm`` x ``paper_h_mm``; MediaBox =
  TrimBox = BleedBox). Nothing bleeds: the stripes stop 3 mm short of every edge,
  so the sheet is printed and cut as is, without crop marks.
* **Vector geometry at the layout's exact mm positions.** Every rectangle of the
  layout (stripes, timing marks, code cells, security lines, rules, box borders)
  is a filled vector path, never a stroke, so no line-width or cap convention can
  move an edge. A target's border is the ring between the box rectangle and the
  box inset by ``box_border_mm``, filled with the even-odd rule: the border lies
  *inside* the box rectangle, as in ``calibration.render_raster``. Runs of
  adjacent black code cells are merged into one rectangle so that no hairline
  seam appears between them in a viewer or on a plate.
* **Text in the shipped DejaVu fonts, embedded** (subset by reportlab), fitted
  like the raster renderer: a label wider than its ``TextBox`` is shrunk, down
  to ``MIN_TEXT_SCALE`` of its nominal size, then cut with an ellipsis. Text
  never spills out of its box, so it never reaches a voting square. The
  baseline is placed like the raster renderer's (cap height centred in the box).
* **Inks.**

  - Pure black is **K = 100 % on the black plate only** (timing marks, code cells,
    box borders, text). A rich black (K plus C/M/Y) would put four plates on
    every edge the scanner measures; any plate misregistration then widens the
    0.3 mm box borders and the 1.9 mm code cells and leaves coloured fringes that
    the reader, which looks at colour before binarising, could take for stripe
    ink. Carbon K also stays dark for an infrared or a monochrome scanner, where
    CMY inks would vanish.
  - Grey rules are K tints (``grey`` 150 -> 41 % K).
  - The side stripes and the protective-paint band are **spot colours**
    (``/Separation`` colour spaces), so the printer loads the special inks on
    their own units and the plates carry nothing else:
    ``PCOS Stripe Blue`` (district), ``PCOS Stripe Pink`` (local) and
    ``PCOS ProtectivePaint``. Each has a CMYK alternate computed from the
    layout's nominal sRGB (``cmyk_from_srgb``), which is what a viewer or a
    digital proofing press shows.

* **Deterministic.** reportlab's ``invariant`` mode fixes the creation date and
  the document id, and everything else is a pure function of the layout, so the
  same layout always gives byte-identical PDF bytes (with the same reportlab).
* **Metadata** names the election id, kind, contest, language, election hash and
  layout hash, so a file on the printing house's server can be matched to its
  layout without opening it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

from reportlab.lib.colors import CMYKColor, CMYKColorSep
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import FILL_EVEN_ODD, Canvas

from calibration.fonts import font_path, pil_font
from calibration.render_raster import MIN_TEXT_SCALE
from election.geometry import Rect
from election.layout import STRIPE_SRGB, BallotLayout, TextBox
from election.model import BallotKind

FONT_NAMES = {False: "PCOS-DejaVuSans", True: "PCOS-DejaVuSans-Bold"}
ELLIPSIS = "…"

# Cap height as a fraction of the ascent, as in ``render_raster._draw_text``.
_CAP_OF_ASCENT = 0.72


@dataclass(frozen=True)
class SpotInk:
    """A named spot colour and the sRGB it stands for on screen and in proofs."""

    name: str
    srgb: tuple[int, int, int]

    def colour(self) -> CMYKColorSep:
        c, m, y, k = cmyk_from_srgb(self.srgb)
        return CMYKColorSep(c, m, y, k, spotName=self.name, density=1)


STRIPE_INK_NAMES = {
    BallotKind.DISTRICT: "PCOS Stripe Blue",
    BallotKind.LOCAL: "PCOS Stripe Pink",
}
PROTECTIVE_PAINT_NAME = "PCOS ProtectivePaint"

BLACK = CMYKColor(0, 0, 0, 1)
WHITE = CMYKColor(0, 0, 0, 0)


def cmyk_from_srgb(srgb: tuple[int, int, int]) -> tuple[float, float, float, float]:
    """The CMYK alternate of an sRGB colour: full grey-component replacement, whole percents.

    ``k = 1 - max(rgb)``, ``c = (1 - r - k) / (1 - k)`` and so on. A viewer
    converts back as ``(1 - c)(1 - k)``, which returns the sRGB within one
    percent, so the proof looks like the ballot the scanner was calibrated on.
    The printing house uses the named spot ink itself, not this alternate.
    """
    r, g, b = (v / 255.0 for v in srgb)
    k = 1.0 - max(r, g, b)
    if k >= 1.0:
        return 0.0, 0.0, 0.0, 1.0
    c, m, y = ((1.0 - v - k) / (1.0 - k) for v in (r, g, b))
    return tuple(round(v, 2) for v in (c, m, y, k))  # type: ignore[return-value]


def stripe_ink(layout: BallotLayout) -> SpotInk | None:
    """The spot ink of the layout's side stripes (None for the all-white party list).

    The ink is named after the stripe *colour* (a misprint with another kind's
    stripes, as a test deck's wrong-stripe sheet, gets that kind's ink): a
    separation is identified by its name, so one name must never stand for two
    colours in a document.
    """
    if not layout.stripes:
        return None
    srgb = layout.stripes[0].srgb
    kind = next((k for k, c in STRIPE_SRGB.items() if c == srgb), layout.kind)
    name = STRIPE_INK_NAMES.get(kind, f"PCOS Stripe {kind.value}")
    return SpotInk(name, srgb)


def protective_paint_ink(layout: BallotLayout) -> SpotInk:
    return SpotInk(PROTECTIVE_PAINT_NAME, layout.security.srgb)


@cache
def _register_font(bold: bool) -> str:
    """Register a shipped DejaVu face with reportlab once; return its reportlab name."""
    name = FONT_NAMES[bold]
    pdfmetrics.registerFont(TTFont(name, str(font_path(bold))))
    return name


def pdf_font(bold: bool) -> str:
    """The reportlab name of a shipped DejaVu face, registered on first use."""
    return _register_font(bold)


@cache
def _ascent_em(bold: bool) -> float:
    """The ascent FreeType reports (hhea), per em: the raster renderer's vertical reference."""
    size = 1000
    ascent, _descent = pil_font(bold, size).getmetrics()
    return ascent / size


@dataclass(frozen=True)
class FittedText:
    """A text line fitted into its box: what to draw, at what size and where (mm, top-left)."""

    text: str
    font: str
    size_mm: float
    x_mm: float
    baseline_mm: float
    width_mm: float


def fit_text(tb: TextBox) -> FittedText | None:
    """Shrink ``tb.text`` to fit ``tb.rect`` (down to MIN_TEXT_SCALE), then ellipsise.

    Mirrors ``render_raster._draw_text`` in continuous units instead of pixels.
    """
    if not tb.text:
        return None
    font = _register_font(tb.bold)
    size = tb.size_mm
    text = tb.text

    def width(s: str, size_mm: float) -> float:
        return float(pdfmetrics.stringWidth(s, font, size_mm))

    length = width(text, size)
    if length > tb.rect.w_mm:
        size = max(size * tb.rect.w_mm / length, tb.size_mm * MIN_TEXT_SCALE)
        while width(text, size) > tb.rect.w_mm and len(text) > 1:
            text = text[:-2].rstrip() + ELLIPSIS
        length = width(text, size)
    if tb.align == "right":
        x = tb.rect.right_mm - length
    elif tb.align == "center":
        x = tb.rect.cx_mm - length / 2
    else:
        x = tb.rect.x_mm
    cap = _ascent_em(tb.bold) * size * _CAP_OF_ASCENT
    return FittedText(text, font, size, x, tb.rect.cy_mm + cap / 2, length)


class _Page:
    """A canvas that takes layout coordinates (mm from the top-left corner)."""

    def __init__(self, canvas: Canvas, paper_h_mm: float) -> None:
        self.c = canvas
        self.h = paper_h_mm

    def fill_rect(self, r: Rect, colour: CMYKColor) -> None:
        self.c.setFillColor(colour)
        self.c.rect(r.x_mm * mm, (self.h - r.bottom_mm) * mm, r.w_mm * mm, r.h_mm * mm,
                    stroke=0, fill=1)

    def fill_ring(self, outer: Rect, inner: Rect, colour: CMYKColor) -> None:
        """Fill ``outer`` minus ``inner`` (a box border drawn inside the box)."""
        self.c.setFillColor(colour)
        path = self.c.beginPath()
        for r in (outer, inner):
            path.rect(r.x_mm * mm, (self.h - r.bottom_mm) * mm, r.w_mm * mm, r.h_mm * mm)
        self.c.drawPath(path, stroke=0, fill=1, fillMode=FILL_EVEN_ODD)

    def text(self, ft: FittedText) -> None:
        self.c.setFillColor(BLACK)
        self.c.setFont(ft.font, ft.size_mm * mm)
        self.c.drawString(ft.x_mm * mm, (self.h - ft.baseline_mm) * mm, ft.text)


def grey_of(srgb: tuple[int, int, int]) -> CMYKColor:
    """The K tint an office copier makes of an sRGB colour (Rec. 601 luma)."""
    r, g, b = srgb
    return CMYKColor(0, 0, 0, round(1.0 - (0.299 * r + 0.587 * g + 0.114 * b) / 255.0, 2))


def draw_layout(canvas: Canvas, layout: BallotLayout, grey_copy: bool = False) -> None:
    """Draw a layout on the current page of ``canvas`` (mm from the top-left corner).

    ``grey_copy`` draws what a grey office copy of the ballot carries: the
    stripes as K tints and no protective paint (a copier's background
    suppression drops that pale tint); used for a test deck's photocopy sheet.
    """
    page = _Page(canvas, layout.paper_h_mm)

    for tb in layout.texts:
        fitted = fit_text(tb)
        if fitted is not None:
            page.text(fitted)
    for rule in layout.rules:
        grey = CMYKColor(0, 0, 0, round(1.0 - rule.grey / 255.0, 2))
        page.fill_rect(rule.rect, grey)
    ink = stripe_ink(layout)
    if ink is not None:
        colour = grey_of(ink.srgb) if grey_copy else ink.colour()
        for stripe in layout.stripes:
            page.fill_rect(stripe.rect, colour)
    for mark in (*layout.timing.left, *layout.timing.right):
        page.fill_rect(mark, BLACK)
    code = layout.code
    for copy in range(len(code.copies)):
        for rect in code.black_rects(copy):
            page.fill_rect(rect, BLACK)
    if not grey_copy:
        paint = protective_paint_ink(layout).colour()
        for rect in layout.security.line_rects():
            page.fill_rect(rect, paint)
    for t in layout.targets:
        page.fill_ring(t.box, t.box.inset(layout.box_border_mm), BLACK)


def document_title(layout: BallotLayout, election_id: str) -> str:
    return (f"PCOS-KG ballot {election_id} {layout.kind.value} {layout.contest} "
            f"{layout.language.value}")


def document_subject(layout: BallotLayout, election_id: str) -> str:
    return (f"election={election_id}; kind={layout.kind.value}; contest={layout.contest}; "
            f"contest_number={layout.contest_number}; language={layout.language.value}; "
            f"layout_version={layout.layout_version}; election_hash={layout.election_hash}; "
            f"layout_hash={layout.layout_hash}")


def render_pdf(layout: BallotLayout, election_id: str | None = None) -> bytes:
    """Render a ballot layout to a one-page, print-ready vector PDF (bytes).

    ``election_id`` goes into the metadata; by default it is read from the
    human-readable code line, which ``election.layout`` starts with the id.
    """
    if election_id is None:
        election_id = layout.code.text.split(" · ")[0]
    buf = io.BytesIO()
    size = (layout.paper_w_mm * mm, layout.paper_h_mm * mm)
    box = (0, 0, *size)
    # The initial font is a shipped one, so that no unembedded Helvetica is referenced.
    canvas = Canvas(buf, pagesize=size, invariant=1, pageCompression=1,
                    trimBox=box, bleedBox=box, initialFontName=_register_font(False),
                    initialFontSize=10)
    canvas.setTitle(document_title(layout, election_id))
    canvas.setSubject(document_subject(layout, election_id))
    canvas.setAuthor("PCOS-KG")
    canvas.setCreator("PCOS-KG calibration.render_pdf")
    canvas.setKeywords(f"ballot, {layout.kind.value}, {layout.contest}, "
                       f"{layout.language.value}, layout_hash={layout.layout_hash}")
    draw_layout(canvas, layout)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()
