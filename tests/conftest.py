"""Test-wide settings.

Hypothesis: every property test is derandomised (the same examples on every run),
keeps no example database, and has no per-example deadline — timing is never
asserted in tests (``make bench`` measures speed), and a loaded CI machine must
not turn a slow example into a failure.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("pcos", derandomize=True, deadline=None, database=None)
settings.load_profile("pcos")
