"""Variants of the product with one component switched off, so `verbatim eval --ablate` shows its worth."""

from __future__ import annotations

import dataclasses

from bot.eval_command import AnswererFactory, product_factory
from bot.settings import Settings
from retrieval.parameters import FEATURES


def ablations(settings: Settings) -> dict[str, AnswererFactory]:
    """Name -> the product built without that component."""
    ranking, index = settings.ranking, settings.index
    bm25_only = dict.fromkeys(FEATURES, 0.0) | {"sentence_bm25": 1.0}
    variants = {
        # Both weight tables: archives without embeddings rank by the lexical one.
        "ranking": dataclasses.replace(
            settings, ranking=dataclasses.replace(ranking, weights=bm25_only, lexical_weights=bm25_only)
        ),
        # No sentence joins the candidates for its paragraph's score (the paragraph's BM25 stays a feature).
        "paragraphs": dataclasses.replace(settings, ranking=dataclasses.replace(ranking, paragraphs=0)),
        "dedupe": dataclasses.replace(settings, ranking=dataclasses.replace(ranking, duplicate_similarity=1.01)),
        # Both rules: the model's probability threshold and the idf-coverage floor.
        "abstention": dataclasses.replace(
            settings, ranking=dataclasses.replace(ranking, abstain_threshold=0.0, evidence_floor=0.0)
        ),
        "cleaning": dataclasses.replace(settings, index=dataclasses.replace(index, clean=False)),
        # The packaged embedding model as it is, without the tensors fine-tuned on the tuning questions.
        "fine-tuning": dataclasses.replace(settings, index=dataclasses.replace(index, semantic_adapter="")),
    }
    return {name: product_factory(variant) for name, variant in variants.items()}
