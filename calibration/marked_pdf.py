"""A marked test deck as one print-ready vector PDF: a cover, then one page per sheet.

Each ballot page is the print-ready ballot of :mod:`calibration.render_pdf`
(same geometry, fonts and inks, drawn by :func:`calibration.render_pdf.draw_layout`)
with the deck's marks drawn on it as vector shapes in a dark blue process ink,
so a printing house (or a colour printer, for a dry run) prints the deck and
the test engineers feed it to a real device:

* a **cross**: two 0.5 mm strokes with round caps corner to corner, ending
  ``CROSS_INSET_MM`` inside the box, so they lie wholly inside the box
  (about 40 % of the interior, far above the 8 % that makes a mark definite);
* a **fill**: the box interior filled, ``FILL_INSET_MM`` clear of the border.

No mark reaches a neighbour's zones: marks stay inside their own box.

Sheets that are not good ballots are drawn as what they are: a grey copy
(K tints, no protective paint), a fit-to-page print (the whole ballot scaled
about the page centre onto the same paper), a wrong-stripe misprint or a
ballot of another election (their layouts), a blank page, a page of text. A
double feed is two pages, fed together. Every page has an outline entry
(bookmark) naming its deck sheet; the ballot face itself carries nothing
else, since every part of it is read by the device.

The bytes are deterministic (reportlab's invariant mode), like the ballots.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from reportlab.lib.colors import CMYKColor
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from calibration.render_pdf import BLACK, draw_layout, pdf_font
from election.geometry import Rect
from election.layout import BallotLayout

A4_MM = (210.0, 297.0)
MARK_INK = CMYKColor(0.85, 0.65, 0.0, 0.25)  # a dark blue, like a ballpoint
MARK_GREY = CMYKColor(0, 0, 0, 0.75)  # the same mark on a grey copy
STROKE_MM = 0.5
CROSS_INSET_MM = 0.9
FILL_INSET_MM = 0.6
FIT_TO_PAGE_SCALE = 0.95
MIN_COVER_SIZE_MM = 1.4


class MarkShape(StrEnum):
    """How a deck mark is drawn (in the PDF, and in the simulated scans)."""

    CROSS = "cross"
    FILL = "fill"


class PageStyle(StrEnum):
    NORMAL = "normal"
    GREY_COPY = "grey-copy"  # a photocopy
    FIT_TO_PAGE = "fit-to-page"  # printed scaled onto the same paper


@dataclass(frozen=True)
class VectorMark:
    box: Rect
    shape: MarkShape


@dataclass(frozen=True)
class DeckPage:
    """One physical sheet of the deck.

    ``layout`` None: no ballot (a blank sheet, or ``text_lines`` as a document).
    ``outline``: the bookmark text naming the deck sheet.
    """

    outline: str
    layout: BallotLayout | None
    marks: tuple[VectorMark, ...] = ()
    style: PageStyle = PageStyle.NORMAL
    text_lines: tuple[str, ...] = ()


def _y(h_mm: float, y_mm: float) -> float:
    return (h_mm - y_mm) * mm


def draw_mark(canvas: Canvas, paper_h_mm: float, mark: VectorMark, grey: bool = False) -> None:
    """One mark as vector shapes (layout mm from the top-left corner)."""
    ink = MARK_GREY if grey else MARK_INK
    b = mark.box
    if mark.shape is MarkShape.FILL:
        r = b.inset(FILL_INSET_MM)
        canvas.setFillColor(ink)
        canvas.rect(r.x_mm * mm, _y(paper_h_mm, r.bottom_mm), r.w_mm * mm, r.h_mm * mm,
                    stroke=0, fill=1)
        return
    r = b.inset(CROSS_INSET_MM)
    canvas.setStrokeColor(ink)
    canvas.setLineWidth(STROKE_MM * mm)
    canvas.setLineCap(1)
    canvas.line(r.x_mm * mm, _y(paper_h_mm, r.y_mm), r.right_mm * mm,
                _y(paper_h_mm, r.bottom_mm))
    canvas.line(r.right_mm * mm, _y(paper_h_mm, r.y_mm), r.x_mm * mm,
                _y(paper_h_mm, r.bottom_mm))


def _ballot_page(canvas: Canvas, page: DeckPage) -> None:
    layout = page.layout
    assert layout is not None
    grey = page.style is PageStyle.GREY_COPY
    canvas.saveState()
    if page.style is PageStyle.FIT_TO_PAGE:
        w, h = layout.paper_w_mm * mm, layout.paper_h_mm * mm
        s = FIT_TO_PAGE_SCALE
        canvas.translate((1 - s) * w / 2, (1 - s) * h / 2)
        canvas.scale(s, s)
    draw_layout(canvas, layout, grey_copy=grey)
    for mark in page.marks:
        draw_mark(canvas, layout.paper_h_mm, mark, grey)
    canvas.restoreState()


def _text_page(canvas: Canvas, lines: Sequence[str], h_mm: float) -> None:
    canvas.setFillColor(BLACK)
    y = 25.0
    for i, line in enumerate(lines):
        size = 4.5 if i == 0 else 3.0
        canvas.setFont(pdf_font(i == 0), size * mm)
        canvas.drawString(25 * mm, _y(h_mm, y), line)
        y += 12.0 if i == 0 else 5.5
        if y > h_mm - 25:
            break


def wrap_line(line: str, font: str, size_mm: float, width_mm: float) -> list[str]:
    """Split ``line`` at spaces so that each piece fits ``width_mm`` (continuations indented)."""
    lead = line[: len(line) - len(line.lstrip())]
    out: list[str] = []
    current = lead
    for word in line.lstrip().split(" "):
        trial = f"{current} {word}" if current.strip() else current + word
        if current.strip() and pdfmetrics.stringWidth(trial, font, size_mm) > width_mm:
            out.append(current)
            current = lead + "    " + word
        else:
            current = trial
    out.append(current)
    return out


def _cover_layout(lines: Sequence[str], font: str, w_mm: float, rows_mm: float
                  ) -> tuple[float, int, list[str]]:
    """The largest type size (and column count) at which the wrapped lines fit the page."""
    size = 2.6
    while True:  # ends: the size shrinks to MIN_COVER_SIZE_MM
        per_col = int(rows_mm / (size * 1.3))
        for columns in (1, 2):
            col_w = (w_mm - 30) / columns - 3
            wrapped = [piece for line in lines for piece in wrap_line(line, font, size, col_w)]
            fits = len(wrapped) <= columns * per_col
            if fits or (columns == 2 and size <= MIN_COVER_SIZE_MM):  # else: cut, smallest
                return size, columns, wrapped[: columns * per_col]
        size -= 0.2


def _cover(canvas: Canvas, title: str, lines: Sequence[str]) -> None:
    """The cover: a title, then the lines wrapped, in one or two columns (smaller if needed)."""
    w, h = A4_MM
    canvas.setFillColor(BLACK)
    canvas.setFont(pdf_font(True), 5.0 * mm)
    canvas.drawString(15 * mm, _y(h, 20), title)
    top, bottom = 30.0, h - 12.0
    regular = pdf_font(False)
    size, columns, wrapped = _cover_layout(lines, regular, w, bottom - top)
    per_col = int((bottom - top) / (size * 1.3))
    col_w = (w - 30) / columns
    for i, line in enumerate(wrapped):
        col, row = divmod(i, per_col)
        canvas.setFont(regular, size * mm)
        canvas.drawString((15 + col * col_w) * mm, _y(h, top + row * size * 1.3), line)


def render_deck_pdf(pages: Sequence[DeckPage], cover_title: str, cover_lines: Sequence[str],
                    subject: str = "") -> bytes:
    """The cover page, then one page per physical sheet, in feed order (PDF bytes)."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(A4_MM[0] * mm, A4_MM[1] * mm), invariant=1,
                    pageCompression=1, initialFontName=pdf_font(False),
                    initialFontSize=10)
    canvas.setTitle(cover_title)
    canvas.setSubject(subject)
    canvas.setAuthor("PCOS-KG")
    canvas.setCreator("PCOS-KG calibration.marked_pdf")
    canvas.bookmarkPage("cover")
    canvas.addOutlineEntry("cover", "cover", level=0)
    _cover(canvas, cover_title, cover_lines)
    canvas.showPage()
    for n, page in enumerate(pages):
        w_mm, h_mm = ((page.layout.paper_w_mm, page.layout.paper_h_mm)
                      if page.layout is not None else A4_MM)
        canvas.setPageSize((w_mm * mm, h_mm * mm))
        key = f"sheet-{n}"
        canvas.bookmarkPage(key)
        canvas.addOutlineEntry(page.outline, key, level=0)
        if page.layout is not None:
            _ballot_page(canvas, page)
        elif page.text_lines:
            _text_page(canvas, page.text_lines, h_mm)
        canvas.showPage()
    canvas.save()
    return buf.getvalue()
