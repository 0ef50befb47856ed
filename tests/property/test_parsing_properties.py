"""parse_numbers reads back what a spreadsheet writes: formatted numbers equal the plain numbers."""

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from riskcore.data.parsing import parse_numbers

amounts = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


def _grouped(value: float, thousands: str, decimal: str) -> str:
    text = f"{abs(value):,.2f}"  # 1,234,567.89
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


@given(st.lists(amounts, min_size=1, max_size=30),
       st.sampled_from([("$", "", ",", "."), ("", " €", ".", ","), ("USD ", "", ",", "."), ("", "", " ", ","),
                        ("£", "", "'", ".")]),
       st.booleans())
def test_formatted_money_parses_back(values, style, accounting):
    prefix, suffix, thousands, decimal = style
    numbers = [float(v) for v in values]
    cells = []
    for x in numbers:
        body = prefix + _grouped(x, thousands, decimal) + suffix
        cells.append((f"({body})" if accounting else f"-{body}") if x < 0 else body)
    # a column that shows its decimal mark only ambiguously is read with the file's mark
    got, bad = parse_numbers(pd.Series(cells, dtype=object), decimal)
    assert not bad.any(), cells
    np.testing.assert_allclose(got, numbers, rtol=0, atol=1e-6)


@given(st.lists(st.decimals(min_value=-1000, max_value=1000, places=1), min_size=1, max_size=30),
       st.sampled_from([(".", ""), (",", " ")]))
def test_percentages_parse_to_fractions(values, style):
    decimal, space = style
    cells = [f"{float(v):.1f}".replace(".", decimal) + space + "%" for v in values]
    got, bad = parse_numbers(pd.Series(cells, dtype=object), decimal)
    assert not bad.any()
    np.testing.assert_allclose(got, [float(v) / 100 for v in values], rtol=1e-12, atol=1e-12)
