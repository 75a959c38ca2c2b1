"""From opinion texts to vectors: content words, TF-IDF and LSA in one space with the plan.

Opinions and the initiatives' texts are fitted together, so that an opinion and the initiative
it speaks about are near each other in the same space and can be linked by cosine similarity.
"""

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.preprocessing import normalize

from evaluations.listening.tokenizer import morphemes

# Masking writes placeholders such as ［電話番号］ or ［氏名］: the bracket and its label go before
# analysis, so a placeholder never becomes a term, whatever label the masking uses.
PLACEHOLDER = re.compile(r"［[^［］\n]{1,20}］|\[[^\[\]\n]{1,20}\]")

# Normalized forms (SudachiPy) that carry no topic: light verbs, formal nouns, the wish and
# opinion verbs every opinion uses.
STOP_WORDS = frozenset(
    {
        "為る", "有る", "居る", "成る", "出来る", "思う", "考える", "感じる", "言う", "下さる",
        "頂く", "貰う", "呉れる", "欲しい", "良い", "無い", "事", "物", "為", "様", "方", "所",
        "時", "等", "願う", "お願い", "是非",
    }
)  # fmt: skip
_CONTENT_POS = {
    "名詞": {"普通名詞", "固有名詞"},
    "動詞": {"一般"},
    "形容詞": {"一般"},
    "形状詞": {"一般"},
}
_KANA_ONLY = re.compile(r"^[\u3041-\u309f\u30a0-\u30ffー]$")
_NO_LETTER = re.compile(r"^[\W\d_]+$")


def strip_placeholders(text: str) -> str:
    """The text without masking placeholders; a sentence break keeps words on each side apart."""
    return PLACEHOLDER.sub("。", text)


def _is_content(pos: tuple[str, ...]) -> bool:
    # 副詞可能 nouns (今後, 最近) and 非自立可能 ones (事, 方) are about time and grammar.
    return pos[1] in _CONTENT_POS.get(pos[0], ()) and pos[2] not in {"副詞可能", "非自立可能"}


def tokens(text: str) -> list[str]:
    """The content words of a text (nouns, verbs, adjectives, adjectival nouns), normalized."""
    words = []
    for morpheme in morphemes(strip_placeholders(unicodedata.normalize("NFKC", text))):
        word = morpheme.normalized.casefold()
        if not _is_content(morpheme.pos) or word in STOP_WORDS:
            continue
        if _KANA_ONLY.match(word) or _NO_LETTER.match(word):
            continue
        words.append(word)
    return words


def tokenise_all(
    texts: Sequence[str], progress: Callable[[int], None] | None = None
) -> list[list[str]]:
    """Each text's tokens, tokenising each distinct text once (campaigns repeat a text)."""
    seen: dict[str, list[str]] = {}
    result = []
    for index, text in enumerate(texts):
        words = seen.get(text)
        if words is None:
            words = seen[text] = tokens(text)
        result.append(words)
        if progress is not None and (index + 1) % 1000 == 0:
            progress(index + 1)
    return result


@dataclass(frozen=True)
class VectorSettings:
    """The vectoriser's and the linking's general choices; the benchmark varies them one by one."""

    bigrams: bool = True  # pairs of adjacent content words: 申請 + オンライン vs. either alone
    sublinear_tf: bool = True  # a word repeated in one long opinion counts less than linearly
    char_weight: float = 0.5  # share of character 2-3-grams: unknown compounds meet their parts
    components: int = 100  # LSA dimensions (fewer when the corpus is small)
    min_df: int = 2  # opinions' words seen once are dropped at scale; the plan's are all kept
    # Linking: the opinions most surely linked (largest lead of their best initiative over the
    # second) are added to that initiative's vector before linking again, so the plan's few words
    # meet the citizens' words for the same thing (pseudo-relevance feedback, Rocchio).
    feedback_share: float = 0.1  # share of the opinions added; 0 links once
    feedback_weight: float = 1.0  # weight of their mean against the initiative's own vector


@dataclass(frozen=True)
class Space:
    """Opinions and initiatives in one LSA space, rows L2-normalised (float32)."""

    opinions: np.ndarray
    initiatives: np.ndarray
    opinion_terms: sparse.csr_matrix  # the TF-IDF rows before LSA, L2-normalised: for linking
    initiative_terms: sparse.csr_matrix
    words: sparse.csr_matrix  # opinions x vocabulary: unigram counts, for the labels
    vocabulary: list[str]  # the unigram vocabulary of `words`
    features: int
    components: int


def _features(words: list[str], bigrams: bool) -> list[str]:
    if not bigrams:
        return words
    return words + [f"{a} {b}" for a, b in pairwise(words)]


def _keep_columns(counts: sparse.csr_matrix, n_opinions: int, min_df: int) -> np.ndarray:
    """Columns seen in at least min_df opinions or in any initiative text."""
    present = counts.copy()
    present.data[:] = 1
    opinion_df = np.asarray(present[:n_opinions].sum(axis=0)).ravel()
    plan_df = np.asarray(present[n_opinions:].sum(axis=0)).ravel()
    return np.flatnonzero((opinion_df >= min_df) | (plan_df > 0))


def _word_tfidf(
    token_lists: list[list[str]], n_opinions: int, settings: VectorSettings
) -> sparse.csr_matrix:
    counter = CountVectorizer(
        analyzer=lambda words: _features(words, settings.bigrams), dtype=np.float32
    )
    counts = counter.fit_transform(token_lists).tocsr()
    min_df = settings.min_df if n_opinions >= 1000 else 1
    counts = counts[:, _keep_columns(counts, n_opinions, min_df)]
    transformer = TfidfTransformer(sublinear_tf=settings.sublinear_tf)
    return transformer.fit_transform(counts).astype(np.float32)


def _char_tfidf(token_lists: list[list[str]], settings: VectorSettings) -> sparse.csr_matrix:
    vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 3),
        sublinear_tf=settings.sublinear_tf,
        min_df=1,
        dtype=np.float32,
    )
    return vectorizer.fit_transform([" ".join(words) for words in token_lists]).tocsr()


def _unigram_counts(token_lists: list[list[str]]) -> tuple[sparse.csr_matrix, list[str]]:
    if not any(token_lists):
        return sparse.csr_matrix((len(token_lists), 0), dtype=np.float32), []
    counter = CountVectorizer(analyzer=lambda words: words, dtype=np.float32)
    counts = counter.fit_transform(token_lists).tocsr()
    return counts, list(counter.get_feature_names_out())


def _reduce(matrix: sparse.csr_matrix, components: int, seed: int) -> np.ndarray:
    """LSA by truncated SVD; a corpus too small for it keeps its TF-IDF columns as they are."""
    rank = min(components, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if rank < 2:
        return matrix.toarray().astype(np.float32)
    svd = TruncatedSVD(n_components=rank, algorithm="randomized", n_iter=5, random_state=seed)
    return svd.fit_transform(matrix).astype(np.float32)


def build_space(
    opinion_tokens: list[list[str]],
    initiative_tokens: list[list[str]],
    *,
    seed: int,
    settings: VectorSettings,
) -> Space:
    """Vectorise opinions and initiatives together and reduce them to one LSA space."""
    token_lists = opinion_tokens + initiative_tokens
    n_opinions = len(opinion_tokens)
    if not any(token_lists):
        vectors = np.zeros((len(token_lists), 1), dtype=np.float32)
        terms = sparse.csr_matrix(vectors)
        words = sparse.csr_matrix((n_opinions, 0), dtype=np.float32)
        return Space(
            vectors[:n_opinions],
            vectors[n_opinions:],
            terms[:n_opinions],
            terms[n_opinions:],
            words,
            [],
            0,
            0,
        )
    matrix = _word_tfidf(token_lists, n_opinions, settings)
    if settings.char_weight > 0:
        matrix = sparse.hstack(
            [
                matrix * (1 - settings.char_weight),
                _char_tfidf(token_lists, settings) * settings.char_weight,
            ],
            format="csr",
        )
    matrix = normalize(matrix)
    reduced = normalize(_reduce(matrix, settings.components, seed))
    words, vocabulary = _unigram_counts(opinion_tokens)
    return Space(
        opinions=reduced[:n_opinions],
        initiatives=reduced[n_opinions:],
        opinion_terms=matrix[:n_opinions],
        initiative_terms=matrix[n_opinions:],
        words=words,
        vocabulary=vocabulary,
        features=matrix.shape[1],
        components=reduced.shape[1],
    )
