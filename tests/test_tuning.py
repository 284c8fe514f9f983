"""Fitting ranking weights (retrieval/tuning.py): ranks of the right candidate and the listwise softmax fit."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.parameters import FEATURES
from retrieval.tuning import CaseSet, deal, fit_softmax, fit_weights, precision_cut, quality, ranks, title_folds


def _cases(seed: int, questions: int = 300) -> CaseSet:
    """Questions of 8 candidates each; the right one is likelier the higher coverage and semantic are."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(questions * 8, len(FEATURES)))
    signal = 2.0 * rows[:, FEATURES.index("coverage")] + 1.0 * rows[:, FEATURES.index("semantic")]
    signal += rng.gumbel(size=len(signal))
    relevant = np.zeros(len(rows), dtype=bool)
    relevant[np.arange(questions) * 8 + signal.reshape(questions, 8).argmax(axis=1)] = True
    return CaseSet(rows, relevant, np.arange(questions) * 8, questions)


def test_ranks_count_the_candidates_scored_above_the_first_right_one() -> None:
    features = np.zeros((5, len(FEATURES)))
    features[:, 0] = [3.0, 1.0, 2.0, 5.0, 4.0]
    cases = CaseSet(features, np.array([False, True, True, False, False]), np.array([0, 3]), questions=3)
    weights = np.eye(len(FEATURES))[0]
    assert ranks(cases, weights).tolist() == [2, 0]  # "2.0" is second; the second question has no right one
    assert quality(cases, weights) == pytest.approx((0.0, 0.5 / 3))


def test_softmax_recovers_the_informative_features() -> None:
    weights = fit_softmax([_cases(0)], l2=1e-3)
    coverage, semantic = weights["coverage"], weights["semantic"]
    others = [abs(w) for name, w in weights.items() if name not in ("coverage", "semantic")]
    assert coverage > semantic > 3 * max(others)
    assert coverage / semantic == pytest.approx(2.0, rel=0.3)  # the true ratio, 2 : 1


def test_softmax_generalises_like_coordinate_ascent() -> None:
    training, held_out = [_cases(1)], _cases(2)
    softmax = fit_softmax(training)
    ascent = fit_weights(training, dict.fromkeys(FEATURES, 0.0) | {"coverage": 1.0})[0]
    vector = np.array([softmax[name] for name in FEATURES])
    p1_softmax, _ = quality(held_out, vector)
    p1_ascent, _ = quality(held_out, np.array([ascent[name] for name in FEATURES]))
    assert p1_softmax >= p1_ascent - 0.03
    assert p1_softmax > 0.4  # chance is 1 / 8


def _favouring(feature: str, seed: int) -> CaseSet:
    """Questions whose right candidate is the one highest on `feature` alone."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(200 * 8, len(FEATURES)))
    relevant = np.zeros(len(rows), dtype=bool)
    relevant[np.arange(200) * 8 + rows[:, FEATURES.index(feature)].reshape(200, 8).argmax(axis=1)] = True
    return CaseSet(rows, relevant, np.arange(200) * 8, 200)


def test_shares_weigh_each_case_set_in_the_fit() -> None:
    """Two sources wanting different features: the fit leans to the one given the larger share, and a share of 0
    leaves a set out."""
    coverage, semantic = _favouring("coverage", 5), _favouring("semantic", 6)
    even = fit_softmax([coverage, semantic])
    leaning = fit_softmax([coverage, semantic], shares=[0.9, 0.1])
    alone = fit_softmax([coverage, semantic], shares=[1.0, 0.0])
    assert even == pytest.approx(fit_softmax([coverage, semantic], shares=[0.5, 0.5]))
    assert leaning["coverage"] / leaning["semantic"] > 2 * even["coverage"] / even["semantic"]
    assert abs(alone["semantic"]) < 0.1 * alone["coverage"]
    with pytest.raises(ValueError, match="shares"):
        fit_softmax([coverage, semantic], shares=[1.0])


def test_stronger_l2_shrinks_the_weights() -> None:
    cases = [_cases(3)]
    loose, tight = fit_softmax(cases, l2=1e-4), fit_softmax(cases, l2=1.0)
    assert np.linalg.norm(list(tight.values())) < 0.5 * np.linalg.norm(list(loose.values()))


def test_separable_data_fits_without_overflow() -> None:
    """One feature tells the right candidate apart: the fit pushes its weight far out, and must stay finite."""
    cases = _cases(4, questions=100)
    features = cases.features.copy()
    features[:, FEATURES.index("phrase")] = np.where(cases.relevant, 1.0, 0.0)
    separable = CaseSet(features, cases.relevant, cases.starts, cases.questions)
    weights = fit_softmax([separable], l2=1e-8)
    assert all(np.isfinite(list(weights.values())))
    assert quality(separable, np.array([weights[name] for name in FEATURES]))[0] == 1.0


def test_precision_cut_is_the_lowest_chance_keeping_the_promise() -> None:
    chances = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    right = [True, True, True, False, True, False, False]
    assert precision_cut(chances, right, 1.0) == 0.7  # the first three are right, the fourth is not
    assert precision_cut(chances, right, 0.8) == 0.5  # 4 of 5 from 0.5 up
    assert precision_cut(chances, right, 0.5) == 0.3  # 4 of 7
    # Within a band: below 0.7, 1 of 2 (0.6, 0.5) are right, 1 of 4 from 0.3 up.
    assert precision_cut(chances, right, 0.5, below=0.7) == 0.5
    assert precision_cut(chances, right, 0.6, below=0.7) == 0.7  # no cut holds: the band is empty


def test_precision_cut_keeps_ties_together_and_refuses_when_nothing_holds() -> None:
    # A cut at 0.8 would take both quotes of that chance, one of them wrong.
    assert precision_cut([0.9, 0.8, 0.8], [True, True, False], 1.0) == 0.9
    assert precision_cut([0.9, 0.8], [False, False], 0.5) == 1.0
    assert precision_cut([], [], 0.9) == 1.0


def test_folds_deal_questions_by_position_and_articles_by_sorted_title() -> None:
    assert deal(list("abcdefg"), 3) == [["a", "d", "g"], ["b", "e"], ["c", "f"]]
    # Sorted first, so the file's order does not matter; a title met twice is one title in one fold.
    assert title_folds(["Oxygen", "Apollo", "Normans", "Apollo", "Victoria"], 2) == {
        "Apollo": 0,
        "Normans": 1,
        "Oxygen": 0,
        "Victoria": 1,
    }
