"""The report's QR matrices are exactly pyqrcode's (the numpy mask choice is a speed-up
of the same algorithm, not another encoder)."""

from __future__ import annotations

import numpy as np
import pyqrcode
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.printout import _ALNUM, qr_matrix


def pyqrcode_matrix(text: str, error: str) -> np.ndarray:
    mode = "alphanumeric" if set(text) <= _ALNUM else "binary"
    return np.array(pyqrcode.create(text, error=error, mode=mode).code, dtype=bool)


@settings(max_examples=25, deadline=None)
@given(text=st.one_of(st.text(alphabet=sorted(_ALNUM), min_size=1, max_size=500),
                      st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                              min_size=1, max_size=300)),
       error=st.sampled_from("LMQH"))
def test_qr_matrix_is_pyqrcodes_matrix(text: str, error: str) -> None:
    assert np.array_equal(qr_matrix(text, error), pyqrcode_matrix(text, error))


def test_quick_results_texts_give_pyqrcodes_matrices() -> None:
    """Texts shaped like the results report's codes (long alphanumeric parts)."""
    rng = np.random.default_rng(7)
    alphabet = np.array(sorted(_ALNUM))
    for size in (60, 230, 450, 460):
        text = "PCOS1:" + "".join(rng.choice(alphabet, size))
        assert np.array_equal(qr_matrix(text), pyqrcode_matrix(text, "M"))


def test_non_ascii_text_still_encodes_as_pyqrcode_does() -> None:
    text = "Caf\u00e9 \u00b12021"  # Latin-1, not ASCII: pyqrcode's own path
    assert np.array_equal(qr_matrix(text, "M"), pyqrcode_matrix(text, "M"))
