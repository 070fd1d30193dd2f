"""What the training plots share: their colours, the size of their series and the smoothing
weights of the loss."""

from __future__ import annotations

SERIES_CAPACITY = 1024  # buckets kept per series; the figure reduces them to its width

RAW_COLOR = (110, 110, 130)
SMOOTH_COLOR = (80, 200, 255)
VAL_COLOR = (255, 170, 0)
REFERENCE_COLOR = (220, 80, 80)
LR_COLOR = (150, 220, 120)
NOW_COLOR = (230, 230, 230)
RAW, SMOOTH, VAL, REFERENCE, LR, NOW = (
    "rgb({},{},{})".format(*color)
    for color in (
        RAW_COLOR,
        SMOOTH_COLOR,
        VAL_COLOR,
        REFERENCE_COLOR,
        LR_COLOR,
        NOW_COLOR,
    )
)


SMOOTHING_WEIGHTS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)  # 0: the raw loss, as TensorBoard's slider


def smoothing_label(weight: float) -> str:
    return "raw" if weight == 0 else f"smoothed {weight:g}"
