"""The numpy decode step's own layer norm and exact GELU (decode.py's numpy layout)."""

from __future__ import annotations

import numpy as np


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    centred = x - x.mean()
    centred *= 1.0 / np.sqrt(np.dot(centred, centred) / centred.size + eps)
    centred *= weight
    centred += bias
    return centred


# erf(x) = 1 - t (a1 + t (a2 + ...)) exp(-x^2), t = 1 / (1 + p |x|): within 1.5e-7 of erf
# (Abramowitz and Stegun 7.1.26), about fp32's own rounding
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(
    np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU with the exact erf form (what `F.gelu` computes), in numpy."""
    z = np.abs(x) * np.float32(0.5**0.5)
    t = 1.0 / (1.0 + _ERF_P * z)
    poly = _ERF_A[0]
    for a in _ERF_A[1:]:
        poly = poly * t + a
    erf = 1.0 - poly * t * np.exp(-z * z)  # erf(|x| / sqrt 2)
    np.copysign(erf, x, out=erf)
    erf += 1.0
    erf *= x
    erf *= np.float32(0.5)
    return erf
