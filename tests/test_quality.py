"""The quality gate: the product's answers measured against floors set from what was measured (README)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.settings import Settings
from retrieval.answerer import Answerer
from retrieval.evaluation import Metrics, evaluate, expectation
from retrieval.models import Confidence
from retrieval.pipeline import open_answerer
from retrieval.questions import load_questions
from retrieval.squad import expectations, load_squad
from tests.conftest import ROOT, SEEDS, SHARED

QUESTIONS = ROOT / "tests" / "questions" / "seeds.jsonl"
SQUAD = SHARED / "squad" / "squad-dev-tune.json"
SQUAD_TITLES = 3  # a few whole SQuAD articles: quick, and every paragraph of them competes

# Floors: the values measured with the shipped settings (README, "Answer quality"), less a small margin.
# Measured 2026-12-04 with the model fine-tuned on SQuAD and the seeds' tune split (config/minilm-tuned.safetensors)
# and `verbatim tune` re-run: tune 0.861 / 0.918 / 0.890 (questions the model was trained on: a regression gate,
# not a quality claim), abstention recall 0.241 (7 of 29), wrongly abstained 0.038 (6 of 158); holdout
# 0.778 / 0.861 / 0.815, abstention recall 0.333 (5 of 15), wrongly abstained 0.083 (6 of 72).
# The floors allow one answerable question less, abstention recall none. The wrongly-abstained ceilings are our
# 5 % on tune and, on holdout, what was measured: 6 of 72 is over the 5 % budget (README, "Where this falls
# short"), and the ceiling keeps it from growing.
SEED_FLOORS = {
    "tune": {"hit_at_1": 0.85, "hit_at_3": 0.91, "mrr_at_5": 0.88, "abstention_recall": 0.24},
    "holdout": {"hit_at_1": 0.76, "hit_at_3": 0.84, "mrr_at_5": 0.80, "abstention_recall": 0.33},
}
# The lexical path (archives over semantic_max_sentences, or the model missing): its own weights and abstention.
# Measured: tune 0.709 / 0.797 / 0.759, wrongly abstained 7/158; holdout 0.653 / 0.778 / 0.723, 5 of 72.
LEXICAL_FLOORS = {
    "tune": {"hit_at_1": 0.70, "hit_at_3": 0.79, "mrr_at_5": 0.75},
    "holdout": {"hit_at_1": 0.63, "hit_at_3": 0.76, "mrr_at_5": 0.71},
}
SEED_CEILINGS = {"tune": {"wrongly_abstained": 0.05}, "holdout": {"wrongly_abstained": 0.084}}
# Confidence labels on the top quote of every question answered (an unanswerable one answered counts as wrong).
# Measured 2026-12-04: tune high 80/87 right, medium 30/33, low 26/54; holdout high 32/37, medium 13/15, low 11/24.
# The floors allow one right quote less in each label.
CONFIDENCE_FLOORS = {
    "tune": {Confidence.HIGH: 0.90, Confidence.MEDIUM: 0.87},
    "holdout": {Confidence.HIGH: 0.83, Confidence.MEDIUM: 0.80},
}
# Measured on the first 3 titles (832 questions; a smaller haystack than the whole tuning half; 2026-12-04):
# P@1 0.880, MRR@5 0.923, R@5 0.976, with the shipped adapter, which was trained on these questions (a regression
# gate, not a quality claim; the cross-validated numbers are in the README).
SQUAD_FLOORS = {"hit_at_1": 0.87, "mrr_at_5": 0.91, "hit_at_5": 0.97}


def _check(metrics: Metrics, floors: dict[str, float]) -> None:
    measured = {name: getattr(metrics, name) for name in floors}
    below = {name: value for name, value in measured.items() if value is None or value < floors[name]}
    assert not below, f"below the floors {floors}: {below}"


@pytest.mark.parametrize("split", ["tune", "holdout"])
def test_seed_questions_meet_the_floors(answerer: Answerer, split: str) -> None:
    texts = {article.source: article.text for article in answerer.index.articles}
    cases = [expectation(q) for q in load_questions(QUESTIONS, texts) if q.split == split]
    dates = {article.source: article.date for article in answerer.index.articles}
    metrics = evaluate("product", answerer, cases, dates).metrics
    print(split, metrics)
    _check(metrics, SEED_FLOORS[split])
    assert metrics.right_date == 1.0  # every quote carries its article's date
    ceiling = SEED_CEILINGS[split]["wrongly_abstained"]
    assert metrics.wrongly_abstained is not None and metrics.wrongly_abstained <= ceiling


@pytest.mark.parametrize("split", ["tune", "holdout"])
def test_seed_questions_meet_the_floors_without_embeddings(settings: Settings, split: str, tmp_path: Path) -> None:
    index = dataclasses.replace(settings.index, semantic=False)
    answerer = open_answerer(SEEDS, tmp_path, index, settings.ranking)  # its own index: the shared one stays
    assert answerer.scorer is None  # the lexical weights and abstention model apply
    texts = {article.source: article.text for article in answerer.index.articles}
    cases = [expectation(q) for q in load_questions(QUESTIONS, texts) if q.split == split]
    metrics = evaluate("product", answerer, cases).metrics
    print(split, metrics)
    _check(metrics, LEXICAL_FLOORS[split])
    ceiling = SEED_CEILINGS[split]["wrongly_abstained"]
    assert metrics.wrongly_abstained is not None and metrics.wrongly_abstained <= ceiling


@pytest.mark.parametrize("split", ["tune", "holdout"])
def test_confidence_labels_keep_their_promise_on_the_seed_questions(answerer: Answerer, split: str) -> None:
    # High and medium were cut on the tuning questions to be right 90 % and 60 % of the time (README).
    texts = {article.source: article.text for article in answerer.index.articles}
    cases = [expectation(q) for q in load_questions(QUESTIONS, texts) if q.split == split]
    right: dict[Confidence, list[bool]] = {label: [] for label in Confidence}
    for case in cases:
        answer = answerer.answer(case.question, top_k=1)
        if answer.quotes:
            top = answer.quotes[0]
            right[top.confidence].append(not case.unanswerable and case.is_right(top))
    shares = {label: sum(found) / len(found) for label, found in right.items() if found}
    print(split, {label.value: f"{sum(found)}/{len(found)}" for label, found in right.items()})
    for label, floor in CONFIDENCE_FLOORS[split].items():
        assert shares.get(label, 0.0) >= floor, (label, shares)
    # Each label keeps its own promise (the floors); low must be the least reliable. Medium may beat high on a few
    # dozen quotes (tune 16/17 against 48/53 once): its promise is "at least 60 %", not "less than high".
    assert shares[Confidence.LOW] < min(shares[Confidence.MEDIUM], shares[Confidence.HIGH])


@pytest.mark.shared
def test_squad_sample_meets_the_floors(settings: Settings, tmp_path: Path) -> None:
    if not SQUAD.exists():
        pytest.skip(f"{SQUAD} is absent (the SQuAD tuning half lives in ../shared)")
    squad = load_squad(SQUAD)
    titles = sorted({a.title for a in squad.articles if a.title})[:SQUAD_TITLES]
    articles = [a for a in squad.articles if a.title in titles]
    sources = {a.source for a in articles}
    questions = [q for q in squad.questions if q.source in sources]
    answerer = open_answerer(Path("squad"), tmp_path, settings.index, settings.ranking, articles=articles)
    metrics = evaluate("product", answerer, expectations(questions)).metrics
    print("squad", len(questions), metrics)
    _check(metrics, SQUAD_FLOORS)
