"""Fine-tune the top layers of all-MiniLM-L6-v2 on the tuning questions: question -> answering sentence.

Not part of the product (it needs torch and sentence-transformers, which Verbatim never imports): this writes the
adapter files that `[index] semantic_adapter` points at, safetensors of the two top encoder layers (float16) that
replace the packaged model's own. Run `make adapters`; it makes its own virtual environment (.venv-train) with
the CPU build of torch that lies on this machine's disk.

    python tools/finetune.py --squad ../shared/squad/squad-dev-tune.json --out config

writes `fold-0..3.safetensors` into --folds-dir, each trained without one fold of the tuning questions, the folds
`verbatim tune` cross-validates on (SQuAD: titles sorted, fold = position % 4; the seeds question set's tune
split: fold = position % 4 in the file), and the adapter trained on every question, `minilm-tuned.safetensors`,
into --out. Sentences are split exactly as the index splits them. The seeds' holdout split is never read.

The training pairs: each SQuAD question with the sentence of its paragraph that holds the first gold answer at
its offset; each answerable seeds tune question with every sentence its evidence names, SEEDS_REPEAT pairs in
all (they are few beside SQuAD's, and they are news asked the way users ask). The loss is the in-batch softmax
(MultipleNegativesRankingLoss) with one hard negative per question, a sentence of the same paragraph without an
answer (half the time) or the best BM25 sentence of the same title (seeds: of the corpus) without one; a
document that answers another question of the batch is no negative for it. Seeded: the same inputs give the
same files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rank_bm25 import BM25Okapi
from safetensors.numpy import load_file, save_file
from sentence_transformers import SentenceTransformer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from retrieval.models import Sentence, SentenceKind
from retrieval.parameters import IndexParameters
from retrieval.pipeline import load_or_build
from retrieval.questions import Question, fold_space, load_questions
from retrieval.semantic import _packaged_model_dir
from retrieval.sentences import sentence_spans, sentence_tokenizer, train_punkt
from retrieval.tuning import FOLDS, deal, title_folds

log = logging.getLogger("finetune")
TOP_LAYERS = 2
LEARNING_RATE = 1e-4
BATCH = 32
SCALE = 20.0  # the softmax temperature of MultipleNegativesRankingLoss (its default)
MAX_CHARS = 400  # [index] max_sentence_chars
SEEDS_REPEAT = 4  # training pairs per seeds question (chosen on the seeds' fold 0, cosine alone: README)


@dataclass(frozen=True)
class Pair:
    fold: int
    question: str
    positive: str
    same_paragraph: tuple[str, ...]  # sentences of the question's paragraph without a gold answer
    bm25: str | None  # the best BM25 sentence of the title without a gold answer


def training_pairs(squad: Path) -> list[Pair]:
    """Every SQuAD question whose first gold answer lies inside one sentence, with its negatives."""
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    punkt = sentence_tokenizer(train_punkt(p["context"] for t in data for p in t["paragraphs"]))
    fold_of = title_folds(t["title"] for t in data)
    pairs = []
    for topic in data:
        sentences = []  # (paragraph, start, end, text)
        for p, paragraph in enumerate(topic["paragraphs"]):
            context = paragraph["context"]
            sentences += [(p, s, e, context[s:e]) for s, e, _, _ in sentence_spans(context, punkt, MAX_CHARS)]
        bm25 = BM25Okapi([_words(s[3]) for s in sentences])
        for p, paragraph in enumerate(topic["paragraphs"]):
            own = [i for i, s in enumerate(sentences) if s[0] == p]
            for qa in paragraph["qas"]:
                first = qa["answers"][0]
                at = [i for i in own if sentences[i][1] <= first["answer_start"] < sentences[i][2]]
                at = [i for i in at if first["text"] in sentences[i][3]]
                if not at:
                    continue
                golds = {a["text"] for a in qa["answers"]}
                right = {i for i in own if any(g in sentences[i][3] for g in golds)}
                scores = bm25.get_scores(_words(qa["question"]))
                ranked = [i for i in np.argsort(-scores, kind="stable").tolist() if i not in right]
                pairs.append(
                    Pair(
                        fold_of[topic["title"]],
                        qa["question"],
                        sentences[at[0]][3],
                        tuple(sentences[i][3] for i in own if i not in right),
                        sentences[ranked[0]][3] if ranked else None,
                    )
                )
    return pairs


def seeds_pairs(questions: Path, corpus: Path) -> list[Pair]:
    """Every answerable question of the question set's tune split, with the sentences its evidence names."""
    tune = [q for q in load_questions(questions) if q.split == "tune"]
    with tempfile.TemporaryDirectory() as work:
        index = load_or_build(corpus, Path(work), IndexParameters(engine="rank-bm25", semantic=False))
        body = [s for s in map(index.sentence, range(len(index))) if s.kind is SentenceKind.BODY]
        sources = [index.articles[s.article].source for s in body]
    bm25 = BM25Okapi([_words(s.text) for s in body])
    pairs = []
    for fold, part in enumerate(deal(tune, FOLDS)):
        for question in part:
            pairs += _seeds_question_pairs(question, fold, body, sources, bm25)
    return pairs


def _seeds_question_pairs(
    question: Question, fold: int, body: list[Sentence], sources: list[str], bm25: BM25Okapi
) -> list[Pair]:
    if question.unanswerable:
        return []
    wanted = [(e.source, fold_space(e.text)) for e in question.evidence]
    right = [i for i, s in enumerate(body) if any(sources[i] == w and t in fold_space(s.text) for w, t in wanted)]
    if not right:
        log.warning("%s: no sentence holds its evidence; left out", question.id)
        return []
    ranked = [i for i in np.argsort(-bm25.get_scores(_words(question.question)), kind="stable") if i not in right]
    pairs = []
    for k in range(SEEDS_REPEAT):
        positive = body[right[k % len(right)]]
        paragraph = tuple(s.text for i, s in enumerate(body) if s.paragraph == positive.paragraph and i not in right)
        pairs.append(Pair(fold, question.question, positive.text, paragraph, body[ranked[0]].text))
    return pairs


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def train(pairs: list[Pair], epochs: float = 1.0) -> SentenceTransformer:
    """The model with its top TOP_LAYERS layers trained on the pairs (one epoch, linear warm-up and decay)."""
    torch.manual_seed(0)
    rng = random.Random(0)
    model = SentenceTransformer(str(_packaged_model_dir()), device="cpu")
    bert = model[0].auto_model
    for name, parameter in bert.named_parameters():
        layer = int(name.split(".")[2]) if name.startswith("encoder.layer.") else -1
        parameter.requires_grad = layer >= bert.config.num_hidden_layers - TOP_LAYERS
    trained = [p for p in bert.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=LEARNING_RATE, weight_decay=0.01)
    steps = int(len(pairs) * epochs / BATCH)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )

    def encode(texts: list[str]) -> torch.Tensor:
        return F.normalize(model(model.tokenize(texts))["sentence_embedding"], dim=-1)

    order, step, began = list(pairs), 0, time.perf_counter()
    model.train()
    while step < steps:
        rng.shuffle(order)
        for start in range(0, len(order) - BATCH + 1, BATCH):
            if step >= steps:
                break
            batch = order[start : start + BATCH]
            negatives = [
                rng.choice(p.same_paragraph) if p.same_paragraph and rng.random() < 0.5 else (p.bm25 or p.positive)
                for p in batch
            ]
            texts = [p.positive for p in batch] + negatives
            questions = encode([p.question for p in batch])
            logits = SCALE * questions @ encode(texts).T
            # Two questions of a batch may share an answer (the seeds ask some facts twice): not a negative.
            shared = torch.tensor(
                [[t == p.positive and j != i for j, t in enumerate(texts)] for i, p in enumerate(batch)]
            )
            loss = F.cross_entropy(logits.masked_fill(shared, float("-inf")), torch.arange(len(batch)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 20 == 0:
                log.info("step %d of %d, loss %.3f, %.0f s", step, steps, loss.item(), time.perf_counter() - began)
    model.eval()
    return model


def save_adapter(model: SentenceTransformer, path: Path, trained_on: str) -> None:
    """The tensors training changed, as float16 safetensors (what SemanticScorer.load(adapter=...) reads)."""
    base = load_file(str(_packaged_model_dir() / "model.safetensors"))
    tuned = {k: v.detach().cpu().numpy() for k, v in model[0].auto_model.state_dict().items()}
    changed = {k: v.astype(np.float16) for k, v in tuned.items() if k in base and not np.array_equal(base[k], v)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(changed, str(path), metadata={"base": "sentence-transformers/all-MiniLM-L6-v2", "trained_on": trained_on})
    log.info("wrote %s: %d tensors", path, len(changed))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=Path("../shared/squad/squad-dev-tune.json"))
    parser.add_argument("--questions", type=Path, default=Path("tests/questions/seeds.jsonl"), help="seeds set")
    parser.add_argument("--corpus", type=Path, default=Path("seeds"), help="the articles the question set asks")
    parser.add_argument("--out", type=Path, default=Path("config"), help="where minilm-tuned.safetensors goes")
    parser.add_argument("--folds-dir", type=Path, default=Path(".verbatim-index/adapters"))
    parser.add_argument("--only", choices=["folds", "final"], help="make only the fold adapters or the final one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(os.cpu_count() or 1)
    squad, seeds = training_pairs(args.squad), seeds_pairs(args.questions, args.corpus)
    for name, found in (("SQuAD", squad), ("seeds", seeds)):
        log.info("%d %s pairs; per fold %s", len(found), name, [sum(p.fold == f for p in found) for f in range(FOLDS)])
    pairs = squad + seeds
    if args.only != "final":
        for fold in range(FOLDS):
            model = train([p for p in pairs if p.fold != fold])
            save_adapter(
                model,
                args.folds_dir / f"fold-{fold}.safetensors",
                f"{args.squad.name} and {args.questions.name} without fold {fold}",
            )
    if args.only != "folds":
        save_adapter(
            train(pairs),
            args.out / "minilm-tuned.safetensors",
            f"{args.squad.name} and {args.questions.name} (tune split), every question",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
