"""Shared domain: election definition, ballot layout geometry, validity rules, tally.

Pure Python: no OpenCV, no I/O beyond reading a definition file on request.
"""
