"""Tunable parameters of the core, passed in by the caller (the core reads no files or environment)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Kinds of answer a question can ask for (retrieval/features.py reads them from its wording).
ANSWER_KINDS: tuple[str, ...] = ("number", "date", "reason", "place", "person")
# Features read from a candidate's article rather than from the sentence alone (retrieval/context.py).
CONTEXT_FEATURES: tuple[str, ...] = (
    "semantic",
    "semantic_rank",
    "article_semantic",
    "paragraph_semantic",
    "token_maxsim",
    "neighbour_semantic",
    "neighbour_coverage",
    "soft_coverage",
    *(f"in_article_{kind}_{name}" for name in ("semantic", "bm25", "coverage") for kind in ("rank", "gap")),
)
# The ones computed from sentence embeddings: zero when the index has none (the lexical weights apply then).
EMBEDDING_FEATURES: tuple[str, ...] = (
    "semantic",
    "semantic_rank",
    "article_semantic",
    "paragraph_semantic",
    "token_maxsim",
    "neighbour_semantic",
    "soft_coverage",
    "in_article_rank_semantic",
    "in_article_gap_semantic",
)
# Features compared among the candidates of one article (retrieval/context.py `within_article`).
WITHIN_ARTICLE: dict[str, str] = {"semantic": "semantic", "bm25": "sentence_bm25", "coverage": "coverage"}
# Names of the ranking features, in the order the ranker combines them (see retrieval/features.py).
FEATURES: tuple[str, ...] = (
    "sentence_bm25",
    "paragraph_bm25",
    "article_bm25",
    "sentence_bm25_raw",
    "paragraph_bm25_raw",
    "article_bm25_raw",
    "sentence_rank",
    "char_ngrams",
    "coverage",
    "idf_coverage",
    "bigrams",
    "idf_bigrams",
    "phrase",
    "proximity",
    "names",
    "numbers",
    "answer_type",
    *(f"answer_{kind}" for kind in ANSWER_KINDS),
    "novelty",
    "length",
    "position",
    *CONTEXT_FEATURES,
)


@dataclass(frozen=True)
class IndexParameters:
    """What the index depends on besides the articles; a change triggers a rebuild."""

    engine: str = "auto"  # "auto", "rank-bm25" or "bm25s"
    k1: float = 1.2
    b: float = 0.75
    auto_threshold: int = 50_000  # sentences from which "auto" picks the fast engine
    max_sentence_chars: int = 400  # longer sentences are split at clause boundaries
    # Repair defects (headings, captions, boilerplate, drop caps, glued words); off only to measure its worth.
    clean: bool = True
    semantic: bool = True  # embed sentences (MiniLM) for the "semantic" ranking feature
    # Fine-tuned tensors that replace the model's (a safetensors file; "": the packaged model as it is).
    semantic_adapter: str = ""
    semantic_max_sentences: int = 20_000  # embedding costs 15-30 ms a sentence on a CPU core: larger go lexical
    # Dimensions kept of each word piece's contextual vector, for the "token_maxsim" feature (0: none stored).
    token_dimensions: int = 128


@dataclass(frozen=True)
class RankingParameters:
    """How candidates are gathered, ranked, de-duplicated and judged."""

    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FEATURES, 0.0) | {"sentence_bm25": 1.0})
    # Used when the index has no sentence embeddings (semantic off, model missing, corpus too large).
    lexical_weights: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(FEATURES, 0.0) | {"sentence_bm25": 1.0}
    )
    candidates: int = 100  # sentences re-ranked per question
    paragraphs: int = 20  # best paragraphs whose sentences join the candidates
    # Sentences closest to the question by embedding cosine that join the candidates (indexes with embeddings):
    # a paraphrase sharing no word with the question ("UAVs" for "drones") is otherwise never a candidate.
    semantic_candidates: int = 20
    # Abstain when the abstention model's probability that the articles answer is below this (0: never),
    abstain_threshold: float = 0.0
    # or when the best quote carries less than this share of the question's idf weight (0: never).
    evidence_floor: float = 0.0
    # The abstention model: feature = weight and "bias" (retrieval/abstention.py); empty: it never abstains.
    abstention: dict[str, float] = field(default_factory=dict)
    lexical_abstention: dict[str, float] = field(default_factory=dict)  # for indexes without embeddings
    duplicate_similarity: float = 0.6  # token-set Jaccard from which two quotes are one claim
    # A quote is labelled high / medium confidence from these chances of being right (`quote_chances`) on; the
    # cuts come from `verbatim tune` (untuned: 1.0, every quote low).
    confidence_high: float = 1.0
    confidence_medium: float = 1.0
    lexical_confidence_high: float = 1.0  # the same for indexes without embeddings (the lexical models)
    lexical_confidence_medium: float = 1.0
