"""A line whose quantity x unit price passes the decimal context's 28 digits is a 400 naming its
line_total (the live schema fuzz found it answered 500)."""

from decimal import Decimal

import pytest

from catalog.order_input import InputError, clean_order


def test_a_line_total_past_the_decimal_precision_names_the_field():
    raw = {
        "external_id": "o-1",
        "contact_id": 1,
        "lines": [
            {"product_id": 1, "quantity": Decimal("570094640.637"), "unit_price": Decimal("9019085530246445000")}
        ],
    }
    with pytest.raises(InputError) as refused:
        clean_order(raw)
    assert "lines[0].line_total" in refused.value.errors
