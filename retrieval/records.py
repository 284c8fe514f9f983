"""What indexing learned from each article, as arrays: its sentences, their terms, its article-engine terms and
the words its glued-word repair depends on. An update keeps the records of unchanged articles and reads the rest."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from nltk.tokenize.punkt import PunktParameters

from retrieval.models import SentenceKind
from retrieval.term_arrays import TermArrays, load_words, save_words

KINDS = tuple(SentenceKind)  # a sentence's kind is stored as its position here
BODY = KINDS.index(SentenceKind.BODY)

# Files holding what the serving index does not (the shared ones are written by SentenceIndex.save).
_ARRAYS = ("digests", "paragraph_counts", "article_term_ids", "article_term_offsets", "head_ids", "head_offsets")
HEADS = "heads.txt"


@dataclass(frozen=True)
class Records:
    """Per-article records in corpus order; term ids index `vocabulary`, sentence rows are grouped by article."""

    vocabulary: list[str]
    digests: np.ndarray  # uint8, 16 per article: see ingestion.digest (not "S16": numpy strips trailing zeros)
    sentence_offsets: np.ndarray  # article a holds sentence rows sentence_offsets[a] .. [a + 1] - 1
    start: np.ndarray  # per sentence row: character offsets into its article
    end: np.ndarray
    position: np.ndarray  # sentence number inside its article
    kind: np.ndarray  # int8: position in ingestion.KINDS
    paragraph: np.ndarray  # paragraph number counted inside its article
    paragraph_counts: np.ndarray  # body paragraphs per article
    body_terms: TermArrays  # one document per body sentence, in row order
    article_terms: TermArrays  # one document per article (title and text)
    heads: list[str]  # words glued-word repair may depend on (cleaning.glue_dependencies)
    head_ids: np.ndarray
    head_offsets: np.ndarray  # article a depends on heads[head_ids[head_offsets[a]:head_offsets[a + 1]]]

    def __len__(self) -> int:
        return len(self.digests)

    def article_of_rows(self) -> np.ndarray:
        """The article of every sentence row."""
        return np.repeat(np.arange(len(self), dtype=np.int32), np.diff(self.sentence_offsets))

    def body_offsets(self) -> np.ndarray:
        """Article a holds body sentences (rows of body_terms) body_offsets[a] .. [a + 1] - 1."""
        counts = np.bincount(self.article_of_rows()[self.kind == BODY], minlength=len(self))
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def depending_on(self, words: Iterable[str]) -> np.ndarray:
        """The articles whose glued-word repair depends on any of `words`."""
        wanted = set(words)
        hit = np.array([head in wanted for head in self.heads], dtype=bool)
        if not hit.any():
            return np.zeros(0, dtype=np.int64)
        rows = np.flatnonzero(hit[self.head_ids])
        return np.unique(np.searchsorted(self.head_offsets, rows, side="right") - 1)

    def take(self, order: np.ndarray) -> tuple[Records, np.ndarray]:
        """The records of articles `order` (numbers, in their new order), and where each body sentence came from."""
        order = np.asarray(order, dtype=np.int64)
        rows, sentence_offsets = _ranges(self.sentence_offsets, order)
        body, _ = _ranges(self.body_offsets(), order)
        body_ids, body_offsets = _ranges(self.body_terms.offsets, body)
        article_ids, article_offsets = _ranges(self.article_terms.offsets, order)
        head_rows, head_offsets = _ranges(self.head_offsets, order)
        vocabulary = self.vocabulary
        taken = Records(
            vocabulary=vocabulary,
            digests=self.digests[order],
            sentence_offsets=sentence_offsets,
            start=self.start[rows],
            end=self.end[rows],
            position=self.position[rows],
            kind=self.kind[rows],
            paragraph=self.paragraph[rows],
            paragraph_counts=self.paragraph_counts[order],
            body_terms=TermArrays(vocabulary, self.body_terms.ids[:][body_ids], body_offsets),
            article_terms=TermArrays(vocabulary, self.article_terms.ids[:][article_ids], article_offsets),
            heads=self.heads,
            head_ids=np.asarray(self.head_ids)[head_rows],
            head_offsets=head_offsets,
        )
        return taken.compacted(), body

    def compacted(self) -> Records:
        """The same records with only the terms and heads they use (kept in their order)."""
        used = np.zeros(len(self.vocabulary), dtype=bool)
        used[self.body_terms.ids[:]] = True
        used[self.article_terms.ids[:]] = True
        heads_used = np.zeros(len(self.heads), dtype=bool)
        heads_used[np.asarray(self.head_ids)] = True
        if used.all() and heads_used.all():
            return self
        renumber = np.cumsum(used, dtype=np.int64) - 1
        vocabulary = [term for term, keep in zip(self.vocabulary, used.tolist(), strict=True) if keep]
        heads_renumber = np.cumsum(heads_used, dtype=np.int64) - 1
        return replace(
            self,
            vocabulary=vocabulary,
            body_terms=_renumbered(self.body_terms, renumber, vocabulary),
            article_terms=_renumbered(self.article_terms, renumber, vocabulary),
            heads=[head for head, keep in zip(self.heads, heads_used.tolist(), strict=True) if keep],
            head_ids=heads_renumber[np.asarray(self.head_ids)].astype(np.int32),
        )

    @classmethod
    def concat(cls, parts: Iterable[Records]) -> Records:
        """Records of consecutive batches joined, their vocabularies merged (terms numbered as first met)."""
        number: dict[str, int] = {}
        head_number: dict[str, int] = {}
        pieces: dict[str, list[np.ndarray]] = {}
        counts = {"sentences": 0, "body": 0, "article": 0, "heads": 0}
        for part in parts:
            renumber = np.array([number.setdefault(t, len(number)) for t in part.vocabulary], dtype=np.int32)
            head_renumber = np.array([head_number.setdefault(h, len(head_number)) for h in part.heads], np.int32)
            for name, value in (
                ("digests", part.digests),
                ("sentence_offsets", part.sentence_offsets[1:] + counts["sentences"]),
                ("start", part.start),
                ("end", part.end),
                ("position", part.position),
                ("kind", part.kind),
                ("paragraph", part.paragraph),
                ("paragraph_counts", part.paragraph_counts),
                ("body_ids", renumber[part.body_terms.ids[:]]),
                ("body_offsets", np.asarray(part.body_terms.offsets)[1:] + counts["body"]),
                ("article_ids", renumber[part.article_terms.ids[:]]),
                ("article_offsets", np.asarray(part.article_terms.offsets)[1:] + counts["article"]),
                ("head_ids", head_renumber[np.asarray(part.head_ids)]),
                ("head_offsets", part.head_offsets[1:] + counts["heads"]),
            ):
                pieces.setdefault(name, []).append(np.asarray(value))
            counts["sentences"] += int(part.sentence_offsets[-1])
            counts["body"] += int(part.body_terms.offsets[-1])
            counts["article"] += int(part.article_terms.offsets[-1])
            counts["heads"] += int(part.head_offsets[-1])
        joined = {name: _join(pieces.get(name, []), name) for name in _JOINED}
        vocabulary = list(number)
        return cls(
            vocabulary=vocabulary,
            digests=joined["digests"],
            sentence_offsets=_from_zero(joined["sentence_offsets"]),
            start=joined["start"],
            end=joined["end"],
            position=joined["position"],
            kind=joined["kind"],
            paragraph=joined["paragraph"],
            paragraph_counts=joined["paragraph_counts"],
            body_terms=TermArrays(vocabulary, joined["body_ids"], _from_zero(joined["body_offsets"])),
            article_terms=TermArrays(vocabulary, joined["article_ids"], _from_zero(joined["article_offsets"])),
            heads=list(head_number),
            head_ids=joined["head_ids"],
            head_offsets=_from_zero(joined["head_offsets"]),
        )

    def save(self, directory: Path) -> None:
        """Write what the serving index does not hold (SentenceIndex.save writes the rest)."""
        arrays = {
            "digests": self.digests,
            "paragraph_counts": self.paragraph_counts,
            "article_term_ids": self.article_terms.ids[:],
            "article_term_offsets": self.article_terms.offsets,
            "head_ids": self.head_ids,
            "head_offsets": self.head_offsets,
        }
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", arrays[name])
        save_words(directory / HEADS, self.heads)

    @classmethod
    def load(
        cls, directory: Path, vocabulary: list[str], columns: dict[str, np.ndarray], body_terms: TermArrays
    ) -> Records:
        """Read records written by `save`, beside the serving index's columns and sentence terms."""
        arrays = {name: np.load(directory / f"{name}.npy") for name in _ARRAYS}
        paragraph_counts = arrays["paragraph_counts"]
        articles = len(arrays["digests"])
        article_of_rows = np.asarray(columns["article"])
        first_paragraph = np.concatenate([[0], np.cumsum(paragraph_counts)])[:-1]
        return cls(
            vocabulary=vocabulary,
            digests=arrays["digests"],
            sentence_offsets=np.searchsorted(article_of_rows, np.arange(articles + 1)).astype(np.int64),
            start=np.asarray(columns["start"]),
            end=np.asarray(columns["end"]),
            position=np.asarray(columns["position"]),
            kind=np.asarray(columns["kind"]),
            paragraph=(np.asarray(columns["paragraph"]) - first_paragraph[article_of_rows]).astype(np.int32),
            paragraph_counts=paragraph_counts,
            body_terms=TermArrays(vocabulary, body_terms.ids[:], np.asarray(body_terms.offsets)),
            article_terms=TermArrays(vocabulary, arrays["article_term_ids"], arrays["article_term_offsets"]),
            heads=load_words(directory / HEADS),
            head_ids=arrays["head_ids"],
            head_offsets=arrays["head_offsets"],
        )


@dataclass(frozen=True)
class UpdateState:
    """Everything an update of the index needs beyond the serving index: the per-article records, and what was
    learned from the corpus as a whole (Punkt's parameters, the capitalised words with their article counts)."""

    records: Records
    punkt: PunktParameters
    training_digest: str  # sentences.training_digest of the text Punkt learned from
    lexicon: Mapping[str, int]  # capitalised word -> number of articles using it

    def save(self, directory: Path) -> None:
        """Write the state into the index directory."""
        self.records.save(directory)
        with (directory / _PUNKT).open("wb") as handle:
            pickle.dump(self.punkt, handle, protocol=pickle.HIGHEST_PROTOCOL)
        words = sorted(self.lexicon)
        save_words(directory / _LEXICON, words)
        np.save(directory / _LEXICON_COUNTS, np.array([self.lexicon[word] for word in words], dtype=np.int32))
        (directory / _STATE).write_text(json.dumps({"training_digest": self.training_digest}), encoding="utf-8")

    @classmethod
    def load(
        cls, directory: Path, vocabulary: list[str], columns: dict[str, np.ndarray], body_terms: TermArrays
    ) -> UpdateState:
        """Read the state written by `save` (the pickle is our own file, written beside the index)."""
        with (directory / _PUNKT).open("rb") as handle:
            punkt = pickle.load(handle)
        if not isinstance(punkt, PunktParameters):
            raise ValueError(f"{directory / _PUNKT} does not hold Punkt parameters")
        counts = np.load(directory / _LEXICON_COUNTS)
        lexicon = dict(zip(load_words(directory / _LEXICON), counts.tolist(), strict=True))
        digest = json.loads((directory / _STATE).read_text(encoding="utf-8"))["training_digest"]
        return cls(Records.load(directory, vocabulary, columns, body_terms), punkt, str(digest), lexicon)


_PUNKT = "punkt.pickle"
_LEXICON = "lexicon.txt"
_LEXICON_COUNTS = "lexicon_counts.npy"
_STATE = "update_state.json"
_JOINED = (
    "digests", "sentence_offsets", "start", "end", "position", "kind", "paragraph", "paragraph_counts",
    "body_ids", "body_offsets", "article_ids", "article_offsets", "head_ids", "head_offsets",
)  # fmt: skip


def _join(pieces: Sequence[np.ndarray], name: str) -> np.ndarray:
    if pieces:
        return np.concatenate(pieces)
    if name == "digests":
        return np.zeros((0, 16), dtype=np.uint8)
    return np.zeros(0, dtype="int8" if name == "kind" else "int64" if name.endswith("offsets") else "int32")


def _from_zero(ends: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(1, dtype=np.int64), ends.astype(np.int64)])


def _ranges(offsets: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of groups `chosen` (group g = rows offsets[g] .. offsets[g + 1] - 1) in that order, and the new
    offsets of the chosen groups."""
    offsets = np.asarray(offsets, dtype=np.int64)
    starts = offsets[chosen]
    lengths = offsets[chosen + 1] - starts
    new_offsets = _from_zero(np.cumsum(lengths))
    rows = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1], dtype=np.int64)
    return rows, new_offsets


def _renumbered(documents: TermArrays, renumber: np.ndarray, vocabulary: list[str]) -> TermArrays:
    return TermArrays(vocabulary, renumber[documents.ids[:]].astype(np.int32), documents.offsets)
