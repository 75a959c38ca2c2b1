"""Japanese morphological analysis with SudachiPy and its core dictionary.

SudachiPy was chosen over Janome: its analyser is compiled (Rust) where Janome is pure Python,
which matters at 100,000 opinions; its dictionary is maintained and dated (``sudachidict-core``);
it normalises spelling variants (ＤＸ → DX, ほしい → 欲しい) so that one idea counts as one term;
its long split mode keeps the compound nouns a plan is written in (行政手続,
マイナンバーカード) whole; and its part-of-speech tags name people and places, which the
masking of personal data uses.
"""

import threading
from dataclasses import dataclass
from functools import cache

from sudachipy import Dictionary, SplitMode

_local = threading.local()


@dataclass(frozen=True, slots=True)
class Morpheme:
    surface: str
    normalized: str
    pos: tuple[str, ...]
    begin: int
    end: int


@cache
def _dictionary() -> Dictionary:
    return Dictionary(dict="core")


def _tokenizer():
    # A tokenizer is not safe to share between threads; the dictionary is.
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        tokenizer = _local.tokenizer = _dictionary().tokenizer(mode=SplitMode.C)
    return tokenizer


def morphemes(text: str) -> list[Morpheme]:
    """The text's morphemes in the long (C) split mode, with their character offsets."""
    return [
        Morpheme(
            surface=m.surface(),
            normalized=m.normalized_form(),
            pos=tuple(m.part_of_speech()),
            begin=m.begin(),
            end=m.end(),
        )
        for m in _tokenizer().tokenize(text)
    ]


def dictionary_version() -> str:
    """The analyser and dictionary versions, recorded with each analysis."""
    from importlib.metadata import version

    return f"sudachipy {version('sudachipy')}, sudachidict-core {version('sudachidict-core')}"
