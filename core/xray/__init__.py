"""The inspection computations the studio shows: shapes, attention stages, the probe, the tapes,
the training X-ray, sizing and the ranked candidates. They read the real model through hooks."""
