"""The answer policy: a table of tricky strings and property-based tests."""

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mathdistill.answers import ABS_TOL, REL_TOL, _decimals, compare, parse_fraction, parse_number

TABLE = [
    ("1,000", 1000), ("$5", 5), ("3/4", 0.75), ("12.50", 12.5), ("50%", 50), ("-2", -2),
    ("9 (apples)", 9), ("2 1/2", 2.5), ("-2 1/2", -2.5), ("1,234,567.89", 1234567.89), ("$1,250", 1250),
    ("-$3.50", -3.5), ("$-3.50", -3.5), ("−4", -4), ("3 ½", 3.5), ("¾", 0.75), (".5", 0.5), ("1.5e3", 1500),
    ("10 dollars.", 10), ("x = 7.", 7), ("ans=12", 12), ("**42**", 42), ("\\boxed{12}", 12), ("  8  ", 8),
    ("50 percent", 50), ("+3", 3), ("007", 7), ("12 (sq. ft)", 12), ("€3", 3), ("£2.5", 2.5),
    # not one number
    ("1,00", None), ("5 and 6", None), ("3:30", None), ("abc", None), ("", None), ("n/a", None),
    ("1/0", None), ("6 (cm); 15 (cm)", None), ("twelve", None), ("--5", None), ("1.2.3", None),
    ("$", None), ("inf", None), ("nan", None), ("1e999", None),
]


@pytest.mark.parametrize("text,value", TABLE)
def test_table(text, value):
    got = parse_number(text)
    if value is None:
        assert got is None, f"{text!r} should not parse, got {got}"
    else:
        assert got is not None and math.isclose(got, value, rel_tol=1e-12), f"{text!r} -> {got}"


@pytest.mark.parametrize("pred,gold,match,reason", [
    ("50%", 0.5, True, "match (percent read as fraction)"),
    ("50%", 50, True, "match"),
    (0.1 + 0.2, 0.3, True, "match"),
    ("0.3333", 1 / 3, True, "match"),
    ("33", 33.33, False, "rounding"),
    ("69.36114", 69.4, True, "match (gold is rounded)"),
    ("2.3317", 2.33, True, "match (gold is rounded)"),
    ("2.3", 2.33, False, "rounding"),
    ("12.4", 12, False, "rounding"),
    ("-5", 5, False, "sign flipped"),
    ("500", 5, False, "off by a factor of 100"),
    ("0.25", 4, False, "reciprocal"),
    ("banana", 4, False, "unparseable answer"),
    (None, 4, False, "no answer"),
    ("17", 4, False, "wrong value"),
])
def test_compare_says_why(pred, gold, match, reason):
    v = compare(pred, gold)
    assert (v.match, v.reason) == (match, reason)


def test_gold_must_be_a_number():
    with pytest.raises(ValueError, match="not a number"):
        compare("1", "abc")


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@given(st.integers(min_value=-10**15, max_value=10**15))
def test_integers_round_trip_with_and_without_commas(n):
    assert parse_number(str(n)) == n
    assert parse_number(f"{n:,}") == n
    assert parse_number(f"${n:,}" if n >= 0 else f"-${-n:,}") == n


@given(finite)
def test_float_repr_round_trips(x):
    assert parse_number(repr(x)) == x


@given(st.integers(-10**6, 10**6), st.integers(1, 10**6))
def test_fractions_are_exact(a, b):
    assert parse_fraction(f"{a}/{b}") == Fraction(a, b)


@given(finite, st.sampled_from(["", " apples", " (apples)", ".", " dollars."]))
def test_units_and_trailing_words_do_not_change_the_value(x, unit):
    text = f"{x:.6f}"
    assert parse_number(text + unit) == parse_number(text)


@given(finite)
def test_compare_is_reflexive_and_tolerance_is_documented(g):
    assert compare(g, g).match
    assume(not 1 <= _decimals(g) <= 3)  # rounded golds have their own rule, tested below
    eps = ABS_TOL + REL_TOL * abs(g)
    assert compare(g + 0.5 * eps, g).match
    assert not compare(g + 3 * eps, g).match


@given(st.integers(-500, 500), st.integers(1, 3), st.integers(1, 4))
def test_rounded_golds_match_longer_predictions_that_round_to_them(n, k, extra):
    gold = round(n / 10**k, k)
    assume(1 <= _decimals(gold) <= 3)
    k = _decimals(gold)
    just_inside = gold + 0.4 * 10**-k
    assert compare(f"{just_inside:.{k + extra}f}", gold).match
    assert not compare(f"{gold + 0.6 * 10**-k:.{k + extra}f}", gold).match


@given(st.text(max_size=300))
@settings(max_examples=500)
def test_never_crashes(text):
    value = parse_number(text)
    assert value is None or math.isfinite(value)
    compare(text, 1)
