"""Performance and accuracy benchmarks, run by ``pcos bench NAME`` and ``make bench``.

Figures are printed, never asserted in unit tests. Speed benchmarks pin the
process to one CPU and set OpenCV to one thread, so they measure one core.
"""
