"""Token vectors: the projection keeps the directions the states vary in, int8 storage, MaxSim, and a round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.token_vectors import TokenProjection, TokenVectors, quantise


def _states(seed: int = 0) -> list[np.ndarray]:
    """Sentences of 0-6 pieces in 8 dimensions, varying mostly along the first two (offset from the origin)."""
    random = np.random.default_rng(seed)
    scale = np.array([5.0, 3.0, 0.3, 0.2, 0.1, 0.1, 0.05, 0.05])
    return [random.normal(size=(n, 8)) * scale + 10.0 for n in [3, 0, 5, 6, 2, 4, 1, 6]]


def test_the_projection_is_the_mean_and_top_principal_directions() -> None:
    states = _states()
    projection = TokenProjection.fit(states, 2, 8)
    rows = np.concatenate(states)
    assert projection.mean == pytest.approx(rows.mean(axis=0), abs=1e-5)
    assert projection.components.shape == (8, 2)
    assert projection.components.T @ projection.components == pytest.approx(np.eye(2), abs=1e-5)
    # The data vary along the first two axes: those are the directions kept, largest first.
    assert np.abs(projection.components[:2]).diagonal() == pytest.approx([1.0, 1.0], abs=0.05)
    again = TokenProjection.fit(states, 2, 8)
    assert np.array_equal(projection.components, again.components)  # signs fixed: the same fit every time


def test_project_gives_unit_rows_and_too_few_rows_fall_back_to_the_first_axes() -> None:
    projection = TokenProjection.fit(_states(), 3, 8)
    unit = projection.project(np.concatenate(_states(1)))
    assert np.linalg.norm(unit, axis=1) == pytest.approx(1.0, abs=1e-5)
    lone = TokenProjection.fit([np.ones((1, 8))], 3, 8)
    assert np.array_equal(lone.components, np.eye(8, 3)) and not lone.mean.any()
    assert TokenProjection.fit(_states(), 20, 8).components.shape == (8, 8)


def test_maxsim_is_the_mean_over_question_pieces_of_the_best_cosine() -> None:
    states = _states()
    projection = TokenProjection.fit(states, 4, 8)
    table = TokenVectors.build([quantise(projection.project(s)) for s in states], projection)
    assert len(table) == len(states) and table.vectors.dtype == np.int8
    question = projection.project(states[2][:2] + 0.01)  # two pieces, near two pieces of sentence 2
    found = table.maxsim(question, [0, 1, 2, 3])
    for i, value in zip([0, 2, 3], found[[0, 2, 3]], strict=True):
        pieces = projection.project(states[i])
        assert value == pytest.approx((question @ pieces.T).max(axis=1).mean(), abs=0.02)  # int8: 1/127 steps
    assert found[1] == 0.0  # a sentence without content pieces
    assert found[2] == pytest.approx(1.0, abs=0.02) and found.argmax() == 2
    assert not table.maxsim(np.zeros((0, 4), dtype=np.float32), [0, 2]).any()


def test_build_takes_the_previous_rows_where_none_are_given(tmp_path: Path) -> None:
    states = _states()
    projection = TokenProjection.fit(states, 4, 8)
    old = TokenVectors.build([quantise(projection.project(s)) for s in states], projection)
    old.save(tmp_path)
    loaded = TokenVectors.load(tmp_path)
    assert loaded is not None and np.array_equal(loaded.vectors, old.vectors)
    assert np.array_equal(loaded.offsets, old.offsets) and np.array_equal(loaded.projection.mean, projection.mean)
    new = quantise(projection.project(_states(2)[0]))
    rows = [None, new, None]
    updated = TokenVectors.build(rows, projection, loaded, np.array([3, -1, 0]))
    assert np.array_equal(updated.rows(0), old.rows(3)) and np.array_equal(updated.rows(2), old.rows(0))
    assert np.array_equal(updated.rows(1), new)
    with pytest.raises(ValueError, match="no token vectors"):
        TokenVectors.build(rows, projection)
    assert TokenVectors.load(tmp_path / "nothing") is None


def test_mismatched_parts_are_refused() -> None:
    projection = TokenProjection.fit(_states(), 4, 8)
    with pytest.raises(ValueError, match="projection"):
        TokenVectors(projection, np.zeros((3, 5), dtype=np.int8), np.array([0, 3]))
    with pytest.raises(ValueError, match="offsets"):
        TokenVectors(projection, np.zeros((3, 4), dtype=np.int8), np.array([0, 2]))
