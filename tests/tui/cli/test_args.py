"""The CLI's number parsers: one family, one message style, no NaN or infinity."""

from __future__ import annotations

import argparse

import pytest

from tui.cli.args import non_negative_float, non_negative_int, positive_float, positive_int


@pytest.mark.parametrize(
    "parse, text, value",
    [
        (positive_int, "3", 3),
        (non_negative_int, "0", 0),
        (positive_float, "0.5", 0.5),
        (non_negative_float, "0", 0.0),
    ],
)
def test_number_parsers_accept_their_range(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (positive_int, "0", "must be a positive integer, got 0"),
        (positive_int, "1.5", "expected a whole number, got '1.5'"),
        (non_negative_int, "-1", "must be >= 0, got -1"),
        (positive_float, "0", "must be a positive number, got 0"),
        (positive_float, "nan", "must be a positive number, got nan"),
        (positive_float, "fast", "expected a number, got 'fast'"),
        (non_negative_float, "-0.1", "must be a number >= 0, got -0.1"),
        (non_negative_float, "inf", "must be a number >= 0, got inf"),
    ],
)
def test_number_parsers_say_what_they_expected(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        parse(text)
