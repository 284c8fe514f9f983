"""Real-world defects of news text: which blocks are never answers, and how the index should read a sentence."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from retrieval.models import SentenceKind

# Lines that are page furniture, never an answer.
_BOILERPLATE = re.compile(
    r"(?:to see in video|watch (?:the )?video|source site-\d+|\(with information from [^)]{1,80}\)"
    r"|(?:read|see) (?:also|more)\b.{0,120}|advertisement|share this article|follow us on .{1,40})\W*",
    re.IGNORECASE,
)
# A photo credit: "REUTERS/Yves Herman", "(REUTERS / Vladyslav Musiienko)", "(AFP)".
_CREDIT = re.compile(r"\b(?:REUTERS|AFP|AP|EFE|Getty Images|Reuters)\s*/\s*\w|\((?:REUTERS|AFP|AP|EFE)\b[^)]*\)")
_FINAL = re.compile(r"[.!?…][\"'”’»)\]]*\s*$")
HEADING_MAX_CHARS = 200

# A drop cap printed twice: "DThe United States ..." (the first letter is an artefact of the layout).
_DROP_CAP = re.compile(r"[A-Z](?=(?:The|A|An|In|On|At|It|As|For|After|When|While|With|This|That)\b)")

# Words glued where a link lost its space: "Stoltenbergsaid", "Kristerssonat", "Putinwhich": a capitalised word
# of five letters or more (\b[A-Z][a-z]{4,}\b, written to start with [A-Z], which the regex engine scans for fast).
_GLUED = re.compile(r"[A-Z](?<!\w[A-Z])[a-z]{4,}\b")
_LONG_TAILS = frozenset(
    [
        "said",
        "says",
        "among",
        "which",
        "then",
        "with",
        "from",
        "that",
        "where",
        "when",
        "while",
        "into",
        "after",
        "before",
        "against",
        "about",
    ]
)
_SHORT_TAILS = frozenset(["at", "in", "on", "of", "to", "and", "for", "was", "is", "has", "had", "who"])
# \b[A-Z][a-z]{2,}\b, written like _GLUED to start with [A-Z] (twice as fast over a whole corpus).
_CAPITALISED = re.compile(r"[A-Z](?<!\w[A-Z])[a-z]{2,}\b")


@dataclass(frozen=True)
class Block:
    """A run of text between blank lines, located in its article, with its role."""

    start: int
    end: int
    kind: SentenceKind


def blocks(text: str) -> Iterator[Block]:
    """Split an article into blank-line separated blocks and classify each."""
    for match in re.finditer(r"\S(?:.*\S)?(?:\n[ \t]*\S.*)*", text):
        start, end = match.span()
        yield Block(start, end, classify(match.group()))


def classify(block: str) -> SentenceKind:
    """Whether a block is body text, a heading, a caption or boilerplate."""
    stripped = block.strip()
    if _BOILERPLATE.fullmatch(stripped):
        return SentenceKind.BOILERPLATE
    # Every credit holds a "/" or a "(": looking for those first spares most blocks the slow search.
    if ("/" in stripped or "(" in stripped) and _CREDIT.search(stripped):
        return SentenceKind.CAPTION
    if "\n" not in stripped and len(stripped) <= HEADING_MAX_CHARS and not _FINAL.search(stripped):
        return SentenceKind.HEADING
    return SentenceKind.BODY


def drop_cap_length(text: str, start: int) -> int:
    """1 when the block at `start` opens with a doubled drop-cap letter ("DThe"), else 0."""
    return 1 if _DROP_CAP.match(text, start) else 0


def capitalised_words(text: str) -> set[str]:
    """Capitalised words of a text: the vocabulary that tells a glued word from a real one."""
    return set(_CAPITALISED.findall(text))


def unglue(sentence: str, known: Iterable[str] | set[str]) -> str:
    """The sentence as the index should read it: glued words split ("Stoltenbergsaid" -> "Stoltenberg said")."""
    vocabulary = known if isinstance(known, set | frozenset) else set(known)
    return _GLUED.sub(lambda match: _split(match.group(), vocabulary), sentence)


class Lexicon:
    """The capitalised words of a corpus, repairing glued words like unglue(); it remembers each word's repair
    and leaves a sentence alone when none of its words needs one (indexing reads every word of the archive)."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(words)
        self._repaired: dict[str, str] = {}

    def unglue(self, sentence: str) -> str:
        """unglue(sentence, words)."""
        for word in _GLUED.findall(sentence):
            if len(self._repair(word)) != len(word):
                return _GLUED.sub(lambda match: self._repair(match.group()), sentence)
        return sentence

    def _repair(self, word: str) -> str:
        repaired = self._repaired.get(word)
        if repaired is None:
            repaired = self._repaired[word] = _split(word, self.words)
        return repaired


def glue_dependencies(text: str) -> set[str]:
    """The capitalised words whose presence in the lexicon could change how unglue() reads `text`.

    An index updated in place re-reads an unchanged article when one of these enters or leaves the corpus."""
    found: set[str] = set()
    for word in set(_GLUED.findall(text)):
        for cut in range(len(word) - 2, 2, -1):
            tail = word[cut:]
            if tail in _LONG_TAILS:  # splits whatever the lexicon holds: shorter heads are never tried
                break
            if tail in _SHORT_TAILS:
                found.add(word[:cut])
    return found


def _split(word: str, vocabulary: set[str] | frozenset[str]) -> str:
    for cut in range(len(word) - 2, 2, -1):
        head, tail = word[:cut], word[cut:]
        if tail in _LONG_TAILS or (tail in _SHORT_TAILS and head in vocabulary):
            return f"{head} {tail}"
    return word
