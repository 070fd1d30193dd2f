"""The sampling settings form: typed values checked with SamplingConfig's bounds, errors on the
form's notice line, every setting applied at once."""

from __future__ import annotations

import pytest

from core import SamplingConfig, UserError
from tui.studio.screens.sampling_form import SamplingForm, parse_settings, typed_values
from tui.studio.widgets.common.notice import NoticeLine

GOOD = {
    "temperature": "0.7",
    "top_k": "12",
    "top_p": "0.9",
    "min_p": "0.05",
    "repetition_penalty": "1.3",
    "seed": "42",
}


def test_typed_values_become_a_sampling_config_and_a_seed():
    sampling, seed = parse_settings(GOOD, SamplingConfig(max_new_tokens=7))
    assert sampling == SamplingConfig(
        temperature=0.7, top_k=12, top_p=0.9, min_p=0.05, repetition_penalty=1.3, max_new_tokens=7
    )
    assert seed == 42


@pytest.mark.parametrize("off", ["", "0", "off"])
def test_top_k_blank_or_zero_is_off(off):
    sampling, _ = parse_settings({**GOOD, "top_k": off}, SamplingConfig())
    assert sampling.top_k is None


def test_the_form_shows_the_settings_in_effect_as_they_parse_back():
    sampling = SamplingConfig(temperature=1.25, top_k=None, top_p=0.95, repetition_penalty=1.1)
    assert parse_settings(typed_values(sampling, 9), sampling) == (sampling, 9)


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        ("temperature", "-1", "temperature must be >= 0 (0 is greedy), got -1.0"),
        ("temperature", "nan", "temperature must be >= 0 (0 is greedy), got nan"),
        ("temperature", "inf", "temperature must be >= 0 (0 is greedy), got inf"),
        ("temperature", "warm", "temperature must be a number, got 'warm'"),
        ("top_p", "2", "top-p must be in (0, 1], got 2.0"),
        ("top_p", "0", "top-p must be in (0, 1], got 0.0"),
        ("top_p", "nan", "top-p must be in (0, 1], got nan"),
        ("min_p", "1", "min-p must be in [0, 1), got 1.0"),
        ("top_k", "-3", "top-k must be an integer >= 1, got -3"),
        ("top_k", "2.5", "top-k must be a whole number, got '2.5'"),
        ("repetition_penalty", "0", "repetition penalty must be > 0 (1 is off), got 0.0"),
        ("seed", "-1", "seed must be an integer from 0 to"),
        ("seed", "1e3", "seed must be a whole number, got '1e3'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_field(field, typed, said):
    with pytest.raises(UserError) as raised:
        parse_settings({**GOOD, field: typed}, SamplingConfig())
    assert str(raised.value).startswith(said) and "\n" not in str(raised.value)


async def test_enter_with_a_bad_value_keeps_the_form_open_and_says_why(tiny_app):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        answers = []
        tiny_app.push_screen(SamplingForm(SamplingConfig(), 0), answers.append)
        await pilot.pause()
        form = tiny_app.screen
        form.query_one("#set-top_p").value = "2"
        await pilot.press("enter")
        assert tiny_app.screen is form and answers == []
        assert form.query_one(NoticeLine).message == "top-p must be in (0, 1], got 2.0"
        await pilot.press("escape")
        assert answers == [None] and tiny_app.screen is not form


async def test_up_and_down_move_between_fields_and_enter_applies_them_all(tiny_app):
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        answers = []
        tiny_app.push_screen(SamplingForm(SamplingConfig(), 0), answers.append)
        await pilot.pause()
        await pilot.press("down", "down", *"0.5", "down", *"0.05", "up", "up", "up", *"1.2")
        await pilot.press("enter")
        sampling, seed = answers[0]
        assert (sampling.temperature, sampling.top_p, sampling.min_p) == (1.2, 0.5, 0.05)
        assert seed == 0 and sampling.top_k == SamplingConfig().top_k
