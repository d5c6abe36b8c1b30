"""Numbers from untrusted input, bounded before any arithmetic touches them.

`Decimal("1e1000000")` is cheap to build but `int()` of it, or rounding it to a column's scale,
runs for minutes; `1e400` overflows a float to infinity and `1e-999999999` underflows to 0.
Every number that comes from a request body, a form, a query string or an import file goes
through `parse_decimal` first, so those values are a clear error naming the field instead.
"""

from decimal import Decimal, InvalidOperation

# Numbers go to numeric(30, 6) columns: 24 integer digits, but SQLite keeps them as doubles, whose
# rounding pushes values near 10^24 past the column. One digit less is safe.
NUMBER_LIMIT = Decimal(10) ** 23
# The smallest magnitude accepted (besides 0): a double's smallest subnormal, so any number a
# JSON client can send is accepted (numeric columns then round it to their 6 decimal places),
# while text such as 1e-999999999, whose exponent would follow it into arithmetic, is refused.
SMALLEST_EXPONENT = -324
# Longer text is no number anyone types or sends: refused before Decimal reads it.
MAX_NUMBER_TEXT = 100


class NumberError(ValueError):
    """The value is not a usable number; str() is a message for the user."""


def parse_decimal(raw, *, limit: Decimal = NUMBER_LIMIT, smallest_exponent: int = SMALLEST_EXPONENT) -> Decimal:
    """`raw` (int, float, Decimal or text) as a finite Decimal with |value| < limit.

    Raises NumberError for booleans, non-numbers, NaN, infinities, values of magnitude `limit` or
    more and non-zero values smaller than 10**smallest_exponent.
    """
    if isinstance(raw, bool):
        raise NumberError("must be a number, not true/false")
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        # int.bit_length is cheap for any size; str() of a 5,000-digit int is not allowed by Python.
        if raw.bit_length() > 128:
            raise NumberError(f"must be between -{limit} and {limit}")
        value = Decimal(raw)
    elif isinstance(raw, float | str):
        text = repr(raw) if isinstance(raw, float) else raw.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise NumberError(f"must be a number of at most {MAX_NUMBER_TEXT} characters")
        try:
            value = Decimal(text)
        except (InvalidOperation, ValueError):
            raise NumberError(f"'{text[:40]}' is not a number") from None
    else:
        raise NumberError("must be a number")
    if not value.is_finite():
        raise NumberError("must be a finite number (not NaN or Infinity)")
    if not value:
        return Decimal(0)  # 0E-999999999 is zero, but its exponent would follow it into arithmetic
    if value and value.adjusted() >= limit.adjusted() + 1:
        raise NumberError(f"must be between -{limit} and {limit}")
    if abs(value) >= limit:
        raise NumberError(f"must be between -{limit} and {limit}")
    if value and value.adjusted() < smallest_exponent:
        raise NumberError(f"is too small (non-zero values must be at least 1e{smallest_exponent})")
    return value


def as_json_number(value: Decimal) -> int | float:
    """A bounded Decimal as the int or float a JSON document stores (only after parse_decimal)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)
