"""Decimals as people write them: exact, without trailing zeros (``80.9``, not ``80.9000``)."""

from decimal import Decimal


def plain_decimal(value: Decimal | int | float | str) -> str:
    """``Decimal("80.9000")`` -> ``"80.9"``; ``Decimal("1E+2")`` -> ``"100"``."""
    return f"{Decimal(value).normalize():f}"
