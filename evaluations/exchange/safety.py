"""Cells that a spreadsheet would run: text beginning with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is a formula to Excel (CSV injection). Every CSV and XLSX the service
writes passes its text through ``neutralise`` (OWASP's rule: a leading apostrophe, which
Excel shows as plain text and does not display), and the importer takes it off again with
``restore``, so an export imported back gives the same text."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(value: object) -> object:
    """Text that a spreadsheet would read as a formula, made inert; other values as they
    are (numbers stay numbers: ``-5`` is a value, not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return QUOTE + value
    return value


def restore(text: str) -> str:
    """The text before ``neutralise``: a leading apostrophe before a formula start goes."""
    if text.startswith(QUOTE) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text
