"""Tests for kybernetes.api.quantity, with tables ported from upstream's quantity_test.go."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from kybernetes.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ERR_FORMAT_WRONG,
    ERR_SUFFIX,
    Quantity,
    compare,
    format_quantity,
    milli_value,
    parse_quantity,
    serialize_quantity,
    value,
)


@pytest.mark.parametrize(("text", "expected", "fmt"), [
    ("0", Decimal(0), DECIMAL_SI),
    ("100m", Decimal("0.1"), DECIMAL_SI),
    ("1Gi", Decimal(2**30), BINARY_SI),
    ("1e3", Decimal(1000), DECIMAL_EXPONENT),
    ("1E3", Decimal(1000), DECIMAL_EXPONENT),
    ("0.5", Decimal("0.5"), DECIMAL_SI),
    ("1.5Ki", Decimal(1536), BINARY_SI),
    ("3Ei", Decimal(3 * 2**60), BINARY_SI),
    ("9Ei", Decimal(2**63 - 1), BINARY_SI),  # clamped to max int64, as upstream
    ("0.3Ki", Decimal("307.2"), BINARY_SI),
    ("0.0000000001", Decimal("0.000000001"), DECIMAL_SI),  # rounded up to nano
    ("-1.5", Decimal("-1.5"), DECIMAL_SI),
    ("1E", Decimal(10**18), DECIMAL_SI),
    (".5", Decimal("0.5"), DECIMAL_SI),
    ("12e6", Decimal(12_000_000), DECIMAL_EXPONENT),
    (" 1Mi ", Decimal(2**20), BINARY_SI),
])
def test_parse(text: str, expected: Decimal, fmt: str) -> None:
    q = Quantity.parse(text)
    assert q.value == expected
    assert parse_quantity(text) == expected
    assert q.format == fmt


def test_binary_fraction_below_one_becomes_decimal() -> None:
    assert Quantity.parse(".5Ki").format == BINARY_SI
    assert Quantity.parse("0.0001Ki").format == DECIMAL_SI


@pytest.mark.parametrize(("text", "message"), [
    ("", ERR_FORMAT_WRONG),
    ("abc", ERR_FORMAT_WRONG),
    ("1.2.3", ERR_FORMAT_WRONG),
    ("1 Gi", ERR_FORMAT_WRONG),
    ("1e3e", ERR_FORMAT_WRONG),
    ("5e", ERR_SUFFIX),
    ("1Kii", ERR_SUFFIX),
    ("1ki", ERR_SUFFIX),
    ("--1", ERR_SUFFIX),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        Quantity.parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "expected"), [
    # upstream TestQuantityParseEmit
    ("1Ki", "1Ki"), ("1Mi", "1Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"),
    (".001Ki", "1024m"), (".000001Ki", "1024u"), (".000000001Ki", "1024n"),
    (".000000000001Ki", "2n"),
    # the brief's examples and more
    ("1000Mi", "1000Mi"), ("0.5", "500m"), ("1.5", "1500m"), ("1.5Ki", "1536"),
    ("1.5Gi", "1536Mi"), ("1000m", "1"), ("0100m", "100m"), ("+1", "1"), ("1E3", "1e3"),
    ("0.001e0", "1e-3"), (".001e12", "1e9"), ("1000e-12", "1e-9"), ("300Mi", "300Mi"),
    ("307200Ki", "300Mi"), ("5000m", "5"), ("1.08", "1080m"), ("0.001T", "1G"), ("00", "0"),
    ("0Mi", "0"),
])
def test_canonical(text: str, expected: str) -> None:
    assert format_quantity(text) == expected
    q = Quantity.parse(text)
    assert q.canonical() == expected
    neg = Quantity.parse("-" + text.lstrip("+"))
    if not neg.is_zero():
        assert neg.canonical() == "-" + expected


@pytest.mark.parametrize(("text", "serialized"), [
    # upstream keeps the original text when its fast path allows (q.s)
    ("100m", "100m"), ("1Gi", "1Gi"), ("1e3", "1e3"), ("+1", "+1"), ("1E3", "1E3"),
    ("0100m", "0100m"), ("1.", "1."),
    ("1000m", "1"), ("0.5", "500m"), ("8Gi", "8Gi"), ("1024Mi", "1Gi"),
])
def test_serialize_keeps_upstream_retained_text(text: str, serialized: str) -> None:
    assert serialize_quantity(text) == serialized


@pytest.mark.parametrize(("text", "milli", "whole"), [
    ("100m", 100, 1), ("1", 1000, 1), ("1.5", 1500, 2), ("1n", 1, 1), ("1Ki", 1024000, 1024),
    ("0", 0, 0), ("-1.5", -1500, -2), ("1500u", 2, 1),
])
def test_milli_and_value_round_up(text: str, milli: int, whole: int) -> None:
    assert milli_value(text) == milli
    assert value(text) == whole


@pytest.mark.parametrize(("text", "scale", "expected"), [
    # upstream TestQuantityRoundUp
    ("9.01", -3, "9010m"), ("9.01", -2, "9010m"), ("9.01", -1, "9100m"), ("9.01", 0, "10"),
    ("9.01", 1, "10"), ("9.01", 2, "100"), ("-9.01", 0, "-10"), ("-9.01", -1, "-9100m"),
])
def test_round_up(text: str, scale: int, expected: str) -> None:
    assert Quantity.parse(text).round_up(scale).canonical() == expected


def test_numbers_and_formats() -> None:
    assert format_quantity(0.5) == "500m"
    assert format_quantity(2) == "2"
    assert format_quantity(Decimal("0.25")) == "250m"
    assert format_quantity(1536, BINARY_SI) == "1536"
    assert format_quantity(2**20, BINARY_SI) == "1Mi"
    assert format_quantity(Fraction(3, 2), DECIMAL_EXPONENT) == "1500e-3"
    assert format_quantity("1Gi", DECIMAL_SI) == "1073741824"


def test_compare_and_arithmetic() -> None:
    assert compare("1", "1000m") == 0
    assert compare("1Gi", "1G") == 1
    assert compare("500m", "1") == -1
    assert Quantity.parse("1Gi") == Quantity.parse("1024Mi")
    assert sorted([Quantity.parse("1"), Quantity.parse("100m")])[0].canonical() == "100m"
    assert (Quantity.parse("1") + Quantity.parse("500m")).canonical() == "1500m"
    assert (Quantity.parse("1Gi") - Quantity.parse("512Mi")).canonical() == "512Mi"


def test_non_string_inputs() -> None:
    assert parse_quantity(2) == Decimal(2)
    assert parse_quantity(0.25) == Decimal("0.25")
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity(True)
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity({"a": 1})


@pytest.mark.parametrize(("text", "expected"), [
    ("1e100001", "9223372036854775807"),  # capped at upstream's maxAllowed (int64)
    ("1e2000000", "9223372036854775807"),
    ("12345678901234567890123", "9223372036854775807"),
    ("1" * 1_000_000, "9223372036854775807"),
    ("1e-2000000", "1e-9"),  # below a nano unit: rounded up to one
    ("0." + "0" * 1_000_000 + "1", "1n"),
    ("1." + "0" * 1_000_000 + "1", "1000000001n"),
    ("1." + "0" * 1_000_000, "1"),
    ("0." + "1" * 100_000 + "Ki", "113777777778n"),
])
def test_extreme_quantities_are_bounded_as_upstream(text: str, expected: str) -> None:
    """Huge exponents and digit strings parse in linear time, capped as upstream."""
    assert str(Quantity.parse(text)) == expected


def test_exponent_beyond_int64_is_a_suffix_error() -> None:
    with pytest.raises(ValueError, match=ERR_SUFFIX):
        Quantity.parse("1e" + "9" * 5000)
