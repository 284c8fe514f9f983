"""From a question to ranked, de-duplicated verbatim quotes, or a clear abstention."""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.abstention import AbstentionModel, evidence
from retrieval.context import context_features, read_articles, semantic_features, within_article
from retrieval.features import Question, feature_matrix, idf, read_question, without_symbols
from retrieval.index import COLUMNS, SentenceIndex
from retrieval.models import Answer, Confidence, Quote, SentenceKind, Source
from retrieval.parameters import EMBEDDING_FEATURES, FEATURES, WITHIN_ARTICLE, RankingParameters
from retrieval.semantic import SemanticScorer
from retrieval.tokenization import tokens
from retrieval.word_vectors import content_words, soft_coverage, word_weights

log = logging.getLogger(__name__)

_BODY = list(SentenceKind).index(SentenceKind.BODY)
# HTML a user pasted or a client sent along; "<TICKER>"-style symbols are kept as words.
_MARKUP = re.compile(
    r"</?(?:a|b|i|u|s|em|strong|code|pre|span|div|p|br|blockquote|script|style|img|font|tg-spoiler)\b[^>]*>",
    re.IGNORECASE,
)
# Bytes that are not UTF-8, as Python decodes them from the command line and standard input (surrogateescape).
_UNDECODED = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
NO_WORDS = "the question has no words to search for (only common words, symbols or emoji)"
NOT_FOUND = "not found in the articles"
_WORD_ROWS_KEPT = 200_000  # sentences whose word rows an answerer remembers (a few MB)


class QuestionError(ValueError):
    """A question that cannot be asked as written; the message says why, for the person asking."""


@dataclass(frozen=True)
class CorpusStats:
    """What the answerer knows, for greetings and help texts."""

    articles: int
    sentences: int
    first_date: dt.date | None
    last_date: dt.date | None


@dataclass(frozen=True)
class Candidates:
    """The sentences considered for one question and their features (rows follow `FEATURES`)."""

    sentences: tuple[int, ...]
    features: np.ndarray
    terms: tuple[frozenset[str], ...]


@dataclass(frozen=True)
class RankedCandidate:
    sentence: int  # sentence id
    score: float
    evidence: float  # idf-weighted share of the question's terms the sentence holds
    terms: frozenset[str]


@dataclass(frozen=True)
class Claim:
    """One distinct claim among the candidates: its best sentence, the other articles saying it, and how likely
    it is a right answer."""

    candidate: RankedCandidate
    others: tuple[int, ...]  # article numbers
    chance: float


class Answerer:
    """Answers questions from one index with the given ranking parameters."""

    def __init__(
        self,
        index: SentenceIndex,
        ranking: RankingParameters,
        max_question_chars: int = 1000,
        scorer: SemanticScorer | None = None,
    ) -> None:
        self.index = index
        self.ranking = ranking
        self.max_question_chars = max_question_chars
        self.scorer = scorer if index.embeddings is not None else None
        weights = ranking.weights if self.scorer is not None else ranking.lexical_weights
        self._weights = np.array([weights.get(name, 0.0) for name in FEATURES])
        table = ranking.abstention if self.scorer is not None else ranking.lexical_abstention
        self.abstention = AbstentionModel.from_table(table, ranking.abstain_threshold)
        self._cuts = (
            (ranking.confidence_high, ranking.confidence_medium)
            if self.scorer is not None
            else (ranking.lexical_confidence_high, ranking.lexical_confidence_medium)
        )
        self._word_rows: dict[int, np.ndarray] = {}  # sentence id -> the word-table rows of its content words
        # Asked of the index: going through index.articles would read every article of the archive at start.
        self.stats = CorpusStats(len(index.articles), index.stats.sentences, *index.date_range())

    def answer(self, question: str, top_k: int = 3) -> Answer:
        """The top_k distinct quotes answering `question`, or an abstention saying why."""
        text = self.clean_question(question)
        parsed = read_question(text)
        if not parsed.unique:
            return Answer(text, (), abstained=True, reason=NO_WORDS)
        ranked = self.rank(parsed)
        if not ranked or ranked[0].evidence < self.ranking.evidence_floor:
            return Answer(text, (), abstained=True, reason=NOT_FOUND, terms=parsed.unique)
        answered = self.abstention.probability(self.evidence(parsed, ranked))
        if answered < self.abstention.threshold:
            return Answer(text, (), abstained=True, reason=NOT_FOUND, terms=parsed.unique)
        quotes = self._distinct(ranked, parsed, top_k, quote_chances([c.score for c in ranked], answered))
        return Answer(text, tuple(quotes), abstained=False, terms=parsed.unique)

    def evidence(self, question: Question, ranked: Sequence[RankedCandidate]) -> dict[str, float]:
        """What the abstention model reads about a question and its ranked candidates (at least one)."""
        # The scorer's cache already holds the question's embedding: `candidates` made it.
        vector = self.scorer.embed([question.text])[0] if self.scorer is not None else None
        return evidence(question, ranked, self.index, vector, self._question_pieces(question.text))

    def prepare(self, questions: Sequence[str]) -> None:
        """Embed questions about to be asked in one batch (far cheaper than one by one); answers stay the same."""
        if self.scorer is None:
            return
        texts: list[str] = []
        for question in questions:
            try:
                texts.append(without_symbols(self.clean_question(question)))  # the text read_question keeps
            except QuestionError:
                continue  # answer() refuses it before any embedding
        # The scorer's cache keeps them for `candidates`; more than it holds would only be embedded twice.
        if self.index.token_vectors is not None:  # their token states come from the same pass of the model
            self.scorer.prepare_tokens(texts[: self.scorer.cache_size])
        table = self.index.word_vectors
        if table is not None:  # and the words of theirs the index lacks, for soft matching
            unknown = {word: None for text in texts for word in content_words(text) if word not in table.row}
            texts = [*unknown, *texts]
        self.scorer.embed(texts[: self.scorer.cache_size])

    def clean_question(self, question: str) -> str:
        """The question with control characters removed; raises QuestionError when empty or too long."""
        if _UNDECODED.search(question):
            raise QuestionError(
                "the question holds bytes that are not UTF-8 text: check the encoding of the terminal or the file"
            )
        text = _MARKUP.sub(" ", _CONTROL.sub(" ", unicodedata.normalize("NFC", question)))
        text = " ".join(text.split())
        if not text:
            raise QuestionError("the question is empty: type a question about the articles")
        if len(text) > self.max_question_chars:
            raise QuestionError(
                f"the question is too long ({len(text):,} characters; the limit is {self.max_question_chars:,})"
            )
        return text

    def context(self, quote: Quote, n: int) -> tuple[list[str], list[str]]:
        """Up to n body sentences before and after a quote, in its article."""
        sentence = self._sentence_at(quote)
        before = self._neighbours(sentence, -1, n)
        after = self._neighbours(sentence, +1, n)
        return [self.index.sentence(i).text for i in reversed(before)], [self.index.sentence(i).text for i in after]

    def candidates(self, question: Question) -> Candidates:
        """Every candidate sentence for a question with its feature vector (what the ranker and tuning see)."""
        index, ranking = self.index, self.ranking
        query = list(question.terms)
        question_vector = None
        if self.scorer is not None and index.embeddings is not None:
            question_vector = self.scorer.embed([question.text])[0]
        hits = dict(index.sentences.search(query, ranking.candidates))
        paragraphs = dict(index.paragraphs.search(query, ranking.paragraphs))
        for paragraph in paragraphs:
            first, last = index.paragraph_first[paragraph], index.paragraph_first[paragraph + 1]
            for doc in range(int(first), int(last)):
                hits.setdefault(doc, -1.0)
        if question_vector is not None and index.embeddings is not None:
            for doc in _nearest(index.embeddings, question_vector, ranking.semantic_candidates):
                hits.setdefault(doc, -1.0)
        docs = sorted(hits)
        missing = [doc for doc in docs if hits[doc] < 0]
        for doc, score in zip(missing, index.sentences.score(query, missing), strict=True):
            hits[doc] = score
        body_ids = index.body[np.asarray(docs, dtype=np.int64)]
        sentence_ids: list[int] = body_ids.tolist()
        # Whole columns at once: memory-mapped elements read one by one cost more than the features themselves.
        column = {name: np.asarray(index.columns[name][body_ids]).tolist() for name in COLUMNS}
        paragraph_of: list[int] = column["paragraph"]
        unknown = sorted(set(paragraph_of) - set(paragraphs))
        paragraphs.update(zip(unknown, index.paragraphs.score(query, unknown), strict=True))
        article_of: list[int] = column["article"]
        articles = sorted(set(article_of))
        article_scores = dict(zip(articles, index.article_engine.score(query, articles), strict=True))
        top = (
            max(hits.values(), default=0.0) or 1.0,
            max(paragraphs.values(), default=0.0) or 1.0,
            max(article_scores.values(), default=0.0) or 1.0,
        )
        term_weights = {t: idf(index.doc_freq, index.stats.sentences, t) for t in question.unique}
        by_score = sorted(docs, key=lambda d: (-hits[d], d))
        bm25_rank = {doc: rank for rank, doc in enumerate(by_score)}
        spans = read_articles(index, docs)  # each candidate article's terms, read once
        texts = {article: index.article_text(article) for article in articles}
        found = [spans.terms[doc] for doc in docs]
        sentence_texts = [
            texts[article][start:end]
            for article, start, end in zip(article_of, column["start"], column["end"], strict=True)
        ]
        raw = np.array(
            [
                (hits[doc], paragraphs[p], article_scores[a])
                for doc, p, a in zip(docs, paragraph_of, article_of, strict=True)
            ],
            dtype=float,
        ).reshape(len(docs), 3)
        ranks = [bm25_rank[doc] for doc in docs]
        matrix = feature_matrix(
            question, sentence_texts, found, column["position"], raw / top, term_weights, raw, ranks
        )
        sentence_terms = [frozenset(terms) for terms in found]
        if question_vector is not None and index.embeddings is not None and docs:
            cosines = np.asarray(index.embeddings[docs]) @ question_vector
            for name, values_of in semantic_features(cosines).items():
                matrix[:, FEATURES.index(name)] = values_of
            matrix[:, FEATURES.index("paragraph_semantic")] = self._paragraph_semantic(paragraph_of, question_vector)
            matrix[:, FEATURES.index("token_maxsim")] = self._token_maxsim(question.text, docs)
        context = context_features(index, spans, docs, question.unique, term_weights, question_vector)
        for name, values_of in context.items():
            matrix[:, FEATURES.index(name)] = values_of
        if question_vector is not None:
            matrix[:, FEATURES.index("soft_coverage")] = self._soft_coverage(question, sentence_ids, sentence_texts)
        for name, source in WITHIN_ARTICLE.items():
            if question_vector is None and f"in_article_rank_{name}" in EMBEDDING_FEATURES:
                continue
            rank, gap = within_article(matrix[:, FEATURES.index(source)], article_of)
            matrix[:, FEATURES.index(f"in_article_rank_{name}")] = rank
            matrix[:, FEATURES.index(f"in_article_gap_{name}")] = gap
        return Candidates(tuple(sentence_ids), matrix, tuple(sentence_terms))

    def _paragraph_semantic(self, paragraphs: Sequence[int], question_vector: np.ndarray) -> np.ndarray:
        """The cosine of the question with each candidate's paragraph embedded whole (zeros without paragraph
        embeddings): a sentence can answer what only its paragraph, read together, says."""
        table = self.index.paragraph_embeddings
        if table is None:
            return np.zeros(len(paragraphs))
        return np.asarray(table[np.asarray(paragraphs, dtype=np.int64)]) @ question_vector

    def _token_maxsim(self, question: str, docs: Sequence[int]) -> np.ndarray:
        """`token_maxsim` of each candidate (body doc ids): zeros when the index has no token vectors."""
        pieces = self._question_pieces(question)
        if pieces is None or self.index.token_vectors is None:
            return np.zeros(len(docs))
        return self.index.token_vectors.maxsim(pieces, docs)

    def _question_pieces(self, question: str) -> np.ndarray | None:
        """The question's content pieces, projected as the index's token vectors; None when it has none."""
        table = self.index.token_vectors
        if table is None or self.scorer is None:
            return None
        return table.projection.project(self.scorer.token_states(question))

    def _soft_coverage(self, question: Question, sentences: Sequence[int], texts: Sequence[str]) -> np.ndarray:
        """`soft_coverage` of each candidate (sentence ids and texts): zeros when the index has no word vectors."""
        table = self.index.word_vectors
        asked = content_words(question.text)
        if table is None or self.scorer is None or not asked:
            return np.zeros(len(texts))
        vectors = self._word_vectors(asked)
        weights = word_weights(asked, self.index.doc_freq, self.index.stats.sentences)
        # Candidates come back question after question (a paragraph's sentences, the closest ones): their words'
        # rows are worked out once.
        cache = self._word_rows
        if len(cache) > _WORD_ROWS_KEPT:
            cache.clear()
        rows = [
            cache[s] if s in cache else cache.setdefault(s, table.rows(content_words(text)))
            for s, text in zip(sentences, texts, strict=True)
        ]
        return soft_coverage(vectors, weights, table, rows)

    def _word_vectors(self, found: Sequence[str]) -> np.ndarray:
        """Unit vectors of words: the index's where it holds the word, else embedded (and cached) by the scorer."""
        table = self.index.word_vectors
        assert table is not None and self.scorer is not None
        unknown = [word for word in found if word not in table.row]
        fresh = dict(zip(unknown, self.scorer.embed(unknown), strict=True)) if unknown else {}
        return np.stack([fresh[w] if w in fresh else np.asarray(table.vectors[table.row[w]]) for w in found])

    def rank(self, question: Question) -> list[RankedCandidate]:
        """Candidates ordered by their weighted features, best first."""
        found = self.candidates(question)
        scores = found.features @ self._weights
        evidence = found.features[:, FEATURES.index("idf_coverage")]
        ranked = [
            RankedCandidate(sentence, float(score), float(share), found_terms)
            for sentence, score, share, found_terms in zip(found.sentences, scores, evidence, found.terms, strict=True)
        ]
        ranked.sort(key=lambda c: (-c.score, c.sentence))
        return ranked

    def _distinct(
        self, ranked: list[RankedCandidate], question: Question, top_k: int, chances: np.ndarray
    ) -> list[Quote]:
        """Keep one quote per claim; near-duplicates from other articles become its `also_in`."""
        return [self._quote(claim, question) for claim in self.claims(ranked, top_k, chances)]

    def claims(self, ranked: list[RankedCandidate], top_k: int, chances: np.ndarray) -> list[Claim]:
        """The top_k distinct claims among the ranked candidates, best first. `chances`: how likely each candidate
        is a right answer (`quote_chances`); a claim's chance adds up those of the sentences saying it."""
        kept: list[RankedCandidate] = []
        others: list[list[int]] = []
        summed: list[float] = []
        for candidate, chance in zip(ranked, chances.tolist(), strict=True):
            # Below the top quote, weaker quotes stay (labelled low confidence): a reader may still want them.
            if candidate.evidence <= 0:
                continue
            article = int(self.index.columns["article"][candidate.sentence])
            same = next((i for i, k in enumerate(kept) if _similar(k.terms, candidate.terms, self.ranking)), None)
            if same is None:
                if len(kept) < top_k:
                    kept.append(candidate)
                    others.append([])
                    summed.append(chance)
                continue
            summed[same] += chance
            if article not in others[same] and article != self.index.columns["article"][kept[same].sentence]:
                others[same].append(article)
        return [Claim(c, tuple(o), s) for c, o, s in zip(kept, others, summed, strict=True)]

    def _quote(self, claim: Claim, question: Question) -> Quote:
        candidate, others = claim.candidate, claim.others
        sentence = self.index.sentence(candidate.sentence)
        article = self.index.articles[sentence.article]
        before = self._neighbours(candidate.sentence, -1, 1)
        after = self._neighbours(candidate.sentence, +1, 1)
        wanted = set(question.unique)
        highlights = tuple((t.start, t.end) for t in tokens(sentence.text) if t.term in wanted)
        also_in = tuple(
            Source(self.index.articles[a].source, self.index.articles[a].date, self.index.articles[a].title)
            for a in others
        )
        return Quote(
            text=sentence.text,
            source=article.source,
            date=article.date,
            title=article.title,
            score=round(candidate.score, 4),
            confidence=confidence(claim.chance, *self._cuts),
            context_before=self.index.sentence(before[0]).text if before else "",
            context_after=self.index.sentence(after[0]).text if after else "",
            article_id=article.id,
            start=sentence.start,
            end=sentence.end,
            also_in=also_in,
            highlights=tuple(dict.fromkeys(highlights)),
        )

    def _neighbours(self, sentence_id: int, step: int, n: int) -> list[int]:
        """Up to n body sentences of the same article next to `sentence_id`, nearest first."""
        columns = self.index.columns
        article = columns["article"][sentence_id]
        found: list[int] = []
        i = sentence_id + step
        while len(found) < n and 0 <= i < len(self.index) and columns["article"][i] == article:
            if columns["kind"][i] == _BODY:
                found.append(i)
            i += step
        return found

    def _sentence_at(self, quote: Quote) -> int:
        number = self.index.article_number(quote.article_id)
        if number is None:
            raise KeyError(f"unknown article {quote.article_id!r}")
        column = self.index.columns["article"]
        first, last = np.searchsorted(column, number), np.searchsorted(column, number, side="right")
        starts = self.index.columns["start"][first:last]
        return int(first + np.searchsorted(starts, quote.start))


def _similar(a: frozenset[str], b: frozenset[str], ranking: RankingParameters) -> bool:
    union = len(a | b)
    return bool(union) and len(a & b) / union >= ranking.duplicate_similarity


def _nearest(embeddings: np.ndarray, vector: np.ndarray, k: int) -> list[int]:
    """The k body docs whose embeddings are closest to `vector` (cosine: both are unit length), ties to the lower."""
    if k <= 0 or not len(embeddings):
        return []
    cosines = np.asarray(embeddings) @ vector
    if len(cosines) > k:
        kth = np.partition(cosines, len(cosines) - k)[len(cosines) - k]
        chosen = np.flatnonzero(cosines >= kth)
    else:
        chosen = np.arange(len(cosines))
    order = np.lexsort((chosen, -cosines[chosen]))[:k]
    return chosen[order].tolist()


def quote_chances(scores: Sequence[float], answered: float) -> np.ndarray:
    """How likely each ranked candidate is a right answer: the ranker's softmax over the candidates' scores (its
    weights are fitted as exactly that probability) times the abstention model's P(the articles answer)."""
    values = np.asarray(scores, dtype=float)
    if not len(values):
        return values
    exp = np.exp(values - values.max())
    return exp / exp.sum() * answered


def confidence(chance: float, high: float, medium: float) -> Confidence:
    """A quote's chance of being right in three plain words, at the cuts `verbatim tune` measured: on the tuning
    questions, at least 90 % of the top quotes labelled high were right, and at least 60 % of those labelled medium."""
    if chance >= high:
        return Confidence.HIGH
    if chance >= medium:
        return Confidence.MEDIUM
    return Confidence.LOW
