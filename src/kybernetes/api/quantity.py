"""Kubernetes resource quantities (`100m`, `1Gi`, `1e3`, `0.5`): apimachinery's Quantity.

A quantity is parsed exactly as upstream's `ParseQuantity` does: a signed decimal number
followed by a binary-SI (`Ki`..`Ei`), decimal-SI (`n`..`E`) or exponent (`e3`) suffix. The
value is kept exact (rounded up to nano units, as upstream), with the format the suffix
implies. `str(q)` is what upstream serialises: the original text when upstream keeps it,
otherwise the canonical form of `CanonicalizeBytes` (`0.5` -> `500m`, `1024Mi` -> `1Gi`,
`1000Mi` stays `1000Mi`, `1.5Ki` -> `1536`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import total_ordering
from typing import Any

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_MAX_INT64 = (1 << 63) - 1
_DEC_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
                 "E": 18}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIXES.items()}
_BIN_BY_EXP = {v: k for k, v in _BIN_SUFFIXES.items()}
_NANO = Fraction(1, 10**9)


class QuantityError(ValueError):
    """A string that is not a quantity; the message is upstream's error text."""


_PARTS = re.compile(r"([+-]?)0*([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")


def _split(text: str) -> tuple[bool, str, str, str]:
    """Upstream's `parseQuantityString`: (positive, num, denom, suffix); one regular
    expression, so linear in C however long the text."""
    match = _PARTS.fullmatch(text)
    if match is None:
        raise QuantityError(ERR_FORMAT_WRONG)
    sign, num, denom, suffix = match.groups()
    return sign != "-", num or "0", denom or "", suffix


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) for a suffix, as upstream's suffixer."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        body = suffix[1:]
        digits = body[1:] if body[:1] in ("+", "-") else body
        if not digits or not digits.isdigit() or not digits.isascii() or \
                len(digits.lstrip("0")) > _INT_DIGITS:
            raise QuantityError(ERR_SUFFIX)
        parsed = int(body)
        if not -(1 << 63) <= parsed <= _MAX_INT64:
            raise QuantityError(ERR_SUFFIX)
        exponent = (parsed + (1 << 31)) % (1 << 32) - (1 << 31)  # Go's int32() truncation
        return 10, exponent, DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def _round_up(value: Fraction, unit: Fraction) -> Fraction:
    """Round away from zero to a multiple of `unit` (inf.RoundUp)."""
    steps = value / unit
    if steps.denominator == 1:
        return value
    whole = int(steps)  # truncates toward zero
    return (whole + (1 if value > 0 else -1)) * unit


@total_ordering
@dataclass(frozen=True, eq=False)
class Quantity:
    """A parsed quantity: its exact value, its format, and the text upstream would keep."""

    amount: Fraction
    format: str = DECIMAL_SI
    text: str | None = None

    @classmethod
    def parse(cls, value: Any) -> Quantity:
        """Parse a quantity string (or a JSON number, as upstream's UnmarshalJSON accepts)."""
        if isinstance(value, Quantity):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise QuantityError(ERR_FORMAT_WRONG)
        text = value.strip() if isinstance(value, str) else _number_text(value)
        return _parse(text)

    @classmethod
    def from_value(cls, value: Fraction | Decimal | int, fmt: str = DECIMAL_SI) -> Quantity:
        """A quantity holding `value` exactly, formatted per `fmt`."""
        return cls(Fraction(value), fmt)

    @property
    def value(self) -> Decimal:
        """The exact value as a Decimal (always representable: it is a multiple of 1e-9)."""
        return _to_decimal(self.amount)

    def is_zero(self) -> bool:
        return self.amount == 0

    def sign(self) -> int:
        return (self.amount > 0) - (self.amount < 0)

    def scaled_value(self, scale: int) -> int:
        """The value in units of 10**scale, rounded away from zero (upstream ScaledValue)."""
        return int(_round_up(self.amount / Fraction(10) ** scale, Fraction(1)))

    def int_value(self) -> int:
        """Upstream `Value()`: whole units, rounded up."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        """Upstream `MilliValue()`: thousandths, rounded up."""
        return self.scaled_value(-3)

    def round_up(self, scale: int) -> Quantity:
        """Upstream `RoundUp(scale)`; keeps the retained text when no rounding happens."""
        unit = Fraction(10) ** scale
        rounded = _round_up(self.amount, unit)
        if rounded == self.amount:
            return self
        return Quantity(rounded, self.format)

    def canonical(self) -> str:
        """Upstream `CanonicalizeBytes`: the canonical text, ignoring any retained text."""
        return _canonical(self.amount, self.format)

    def __str__(self) -> str:
        return self.text if self.text is not None else self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self.amount == other.amount
        return NotImplemented

    def __lt__(self, other: Quantity) -> bool:
        return self.amount < other.amount

    def __hash__(self) -> int:
        return hash(self.amount)

    def __add__(self, other: Quantity) -> Quantity:
        fmt = other.format if self.amount == 0 else self.format
        return Quantity(self.amount + other.amount, fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        fmt = other.format if self.amount == 0 else self.format
        return Quantity(self.amount - other.amount, fmt)


def _number_text(value: int | float | Decimal) -> str:
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _to_decimal(value: Fraction) -> Decimal:
    if value.denominator == 1:
        return Decimal(value.numerator)
    scaled = value * 10**9
    if scaled.denominator == 1:
        # Built from a string, so exact whatever the context precision.
        return Decimal(f"{scaled.numerator}E-9")
    with localcontext() as ctx:
        ctx.prec = 60
        return Decimal(value.numerator) / Decimal(value.denominator)


# Quantities are immutable and the same few strings (`100m`, `500Mi`) recur in every pod:
# each distinct text is parsed once.
@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Quantity:
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    if text == "0":
        return Quantity(Fraction(0), DECIMAL_SI, "0")
    positive, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    if base == 10:
        amount = _decimal_amount(num, denom, exponent)
    else:
        amount = _binary_amount(num, denom, exponent)
    if not positive:
        amount = -amount
    retained = _retained(text, num, denom, exponent, fmt)
    if amount.denominator != 1 and (amount / _NANO).denominator != 1:
        amount = _round_up(amount, _NANO)
    if abs(amount) > _MAX_INT64:
        # Upstream caps every quantity at the largest int64 (`maxAllowed`).
        amount = Fraction(_MAX_INT64 if amount > 0 else -_MAX_INT64)
    if fmt == BINARY_SI and 0 < abs(amount) < 1:
        fmt = DECIMAL_SI
    return Quantity(amount, fmt, retained)


# Digits that can matter: 19 before the point (the int64 cap) and 9 after (nano units).
_INT_DIGITS = 19
_NANO_DIGITS = 9


def _decimal_amount(num: str, denom: str, exponent: int) -> Fraction:
    """`num.denom * 10**exponent`, in time linear in the text whatever the exponent: a
    value past the int64 cap is capped, one below a nano unit becomes one nano unit (it
    is rounded up), and digits below nano precision only decide that rounding."""
    digits = (num + denom).lstrip("0")
    if not digits:
        return Fraction(0)
    scale = exponent - len(denom)
    if len(digits) + scale > _INT_DIGITS:
        return Fraction(_MAX_INT64 + 1)
    if len(digits) + scale < -_NANO_DIGITS:
        return _NANO
    if scale >= -_NANO_DIGITS:
        return Fraction(int(digits)) * Fraction(10) ** scale
    kept = len(digits) + scale + _NANO_DIGITS
    head, tail = digits[:kept], digits[kept:]
    amount = Fraction(int(head or "0")) * _NANO
    return amount + _NANO if tail.strip("0") else amount


def _binary_amount(num: str, denom: str, exponent: int) -> Fraction:
    """`num.denom * 2**exponent` (exponent at most 60), bounded as `_decimal_amount`."""
    if len(num) > _INT_DIGITS + 1:
        return Fraction(_MAX_INT64 + 1)
    fraction_digits = _INT_DIGITS + _NANO_DIGITS + 3
    head, tail = denom[:fraction_digits], denom[fraction_digits:]
    amount = Fraction(int(num + head), 10 ** len(head)) * (1 << exponent)
    if tail.strip("0"):
        # The cut digits only push the value up past a nano boundary.
        amount += Fraction(1, 10 ** (fraction_digits + 1))
    return amount


def _retained(text: str, num: str, denom: str, exponent: int, fmt: str) -> str | None:
    """Whether upstream's int64 fast path keeps the original string (`q.s`)."""
    if fmt == BINARY_SI:
        if denom or exponent < 0:
            return None
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        if precision < 0:
            return None
        value = int(num)
        if value * (1 << exponent) > _MAX_INT64:
            return None
        return text if exponent % 10 == 0 and value & 7 != 0 else None
    precision = 18 - (len(num) + len(denom))
    scale = exponent - len(denom)
    if precision < 0 or scale < -9:
        return None
    shifted = num + denom
    if scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
        return text
    return None


def _canonical(amount: Fraction, fmt: str) -> str:
    if amount == 0:
        return "0"
    if (amount / _NANO).denominator != 1:
        amount = _round_up(amount, _NANO)
    if fmt == BINARY_SI:
        if -1024 < amount < 1024 or amount.denominator != 1:
            fmt = DECIMAL_SI
        else:
            number = amount.numerator
            times = 0
            while number % 1024 == 0:
                number //= 1024
                times += 1
            return f"{number}{_BIN_BY_EXP.get(times * 10, '')}"
    if fmt not in (DECIMAL_SI, DECIMAL_EXPONENT):
        fmt = DECIMAL_EXPONENT
    # amount = mantissa * 10**exponent, mantissa without trailing zeros
    den = amount.denominator
    exponent = 0
    mantissa = amount.numerator
    while den != 1:
        mantissa *= 10
        exponent -= 1
        if mantissa % den == 0:
            mantissa //= den
            den = 1
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    aligned = exponent - exponent % 3  # floor to a multiple of three
    mantissa *= 10 ** (exponent - aligned)
    if fmt == DECIMAL_SI:
        return f"{mantissa}{_DEC_BY_EXP.get(aligned, '')}"
    return f"{mantissa}e{aligned}" if aligned else str(mantissa)


def parse_quantity(value: Any) -> Decimal:
    """The exact value of a quantity; raises ValueError (QuantityError) with upstream's text."""
    return Quantity.parse(value).value


def milli_value(value: Any) -> int:
    """Upstream `MilliValue()` of a quantity string: thousandths, rounded up."""
    return Quantity.parse(value).milli_value()


def value(value: Any) -> int:
    """Upstream `Value()` of a quantity string: whole units, rounded up."""
    return Quantity.parse(value).int_value()


def format_quantity(value: Any, fmt: str | None = None) -> str:
    """The canonical text (`CanonicalizeBytes`) of a quantity string, Quantity or number.

    Strings keep their own format (`1000Mi` stays, `0.5` becomes `500m`); plain numbers
    (int, Decimal, Fraction) are formatted as `fmt` (DecimalSI unless given).
    """
    if isinstance(value, Quantity):
        q = value
    elif isinstance(value, str):
        q = Quantity.parse(value)
    elif isinstance(value, (int, Decimal, Fraction)) and not isinstance(value, bool):
        q = Quantity(Fraction(value), fmt or DECIMAL_SI)
        return q.canonical()
    else:
        q = Quantity.parse(value)
    if fmt is not None:
        q = Quantity(q.amount, fmt)
    return q.canonical()


def serialize_quantity(value: Any) -> str:
    """What upstream writes back for a quantity it decoded (`String()`: retained or canonical)."""
    return str(Quantity.parse(value))


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 as quantity `a` is less than, equal to or greater than `b`."""
    qa, qb = Quantity.parse(a).amount, Quantity.parse(b).amount
    return (qa > qb) - (qa < qb)
