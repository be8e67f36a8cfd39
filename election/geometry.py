"""Millimetre geometry shared by layouts, renderers, the simulator and the reader."""

from __future__ import annotations

from dataclasses import dataclass

MM_PER_INCH = 25.4


def px_per_mm(dpi: float) -> float:
    return dpi / MM_PER_INCH


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle on the sheet, in millimetres from the top-left corner."""

    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float

    @property
    def cx_mm(self) -> float:
        return self.x_mm + self.w_mm / 2

    @property
    def cy_mm(self) -> float:
        return self.y_mm + self.h_mm / 2

    @property
    def right_mm(self) -> float:
        return self.x_mm + self.w_mm

    @property
    def bottom_mm(self) -> float:
        return self.y_mm + self.h_mm

    def inset(self, d_mm: float) -> Rect:
        return Rect(self.x_mm + d_mm, self.y_mm + d_mm, self.w_mm - 2 * d_mm, self.h_mm - 2 * d_mm)

    def intersects(self, other: Rect) -> bool:
        return not (
            self.right_mm <= other.x_mm
            or other.right_mm <= self.x_mm
            or self.bottom_mm <= other.y_mm
            or other.bottom_mm <= self.y_mm
        )

    def to_json(self) -> dict[str, float]:
        return {
            "x_mm": round(self.x_mm, 3),
            "y_mm": round(self.y_mm, 3),
            "w_mm": round(self.w_mm, 3),
            "h_mm": round(self.h_mm, 3),
        }
