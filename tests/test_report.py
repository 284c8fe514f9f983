"""Tests for bot/report.py and bot/eval_command.py: a whole `verbatim eval` run with known numbers."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.eval_command import AnswererFactory, add_eval_arguments, baseline_factory, run_eval
from bot.report import CHARTS, RunReport, format_value, ranks_table
from bot.settings import Settings
from retrieval.baseline import BaselineAnswerer
from retrieval.corpus import load_corpus
from retrieval.evaluation import Answering, evaluate, expectation
from retrieval.models import Answer, Article, Confidence, Quote
from retrieval.questions import load_questions

DATA = Path(__file__).parent / "data" / "eval"
CORPUS = DATA / "corpus"
QUESTIONS = DATA / "questions.jsonl"
ALPHA, BETA = dt.date(2024, 3, 4), dt.date(2024, 3, 10)
# What the fake product returns: (source, start of the sentence, date) per quote; None abstains.
PLAN: dict[str, list[tuple[str, str, dt.date]] | None] = {
    "Who is the mayor?": [("alpha.txt", "The mayor", ALPHA)],  # right at rank 1
    "How much will the bridge cost?": [  # right at rank 3
        ("alpha.txt", "The city council", ALPHA),
        ("beta.txt", "A storm", BETA),
        ("alpha.txt", "Construction will", ALPHA),
    ],
    "How long was the harbour closed?": [  # no right quote; one wrong date
        ("beta.txt", "Fishermen said", dt.date(2020, 1, 1)),
        ("alpha.txt", "The city council", ALPHA),
    ],
    "Who won the football match?": None,  # rightly abstains
}


class PlannedAnswerer:
    """A product whose ranks are known in advance: quotes are real sentences of the fixture corpus."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self.texts = {a.source: a.text for a in articles}

    def answer(self, question: str, top_k: int = 3) -> Answer:
        plan = PLAN[question]
        if plan is None:
            return Answer(question, (), abstained=True, reason="not found in the articles")
        return Answer(question, tuple(self._quote(*item) for item in plan[:top_k]), abstained=False)

    def _quote(self, source: str, opening: str, date: dt.date) -> Quote:
        text = self.texts[source]
        start = text.index(opening)
        end = min(i for i in (text.find(".", start) + 1, text.find("\n\n", start)) if i > 0)
        sentence = text[start:end]
        return Quote(sentence, source, date, None, 1.0, Confidence.HIGH, "", "", source, start, end)


def planned(corpus: Path, index_dir: Path, articles: Sequence[Article] | None) -> Answering:
    return PlannedAnswerer(articles if articles is not None else load_corpus(corpus).articles)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    return parser.parse_args(argv)


def run(tmp_path: Path, *argv: str, product: AnswererFactory = planned, **hooks: Any) -> tuple[int, str]:
    settings = Settings(corpus=CORPUS, index_dir=tmp_path / "index")
    output: list[str] = []
    code = run_eval(parse(*argv), settings, write=output.append, product=product, **hooks)
    return code, "".join(output)


def test_report_holds_the_known_numbers(tmp_path: Path) -> None:
    report = tmp_path / "report"
    code, text = run(tmp_path, str(QUESTIONS), "--report", str(report))
    assert code == 0
    data = json.loads((report / "results.json").read_text(encoding="utf-8"))
    product = data["systems"]["product"]
    m = product["metrics"]
    assert (m["questions"], m["answerable"], m["unanswerable"]) == (4, 3, 1)
    assert m["hit_at_1"] == pytest.approx(1 / 3)
    assert m["hit_at_3"] == pytest.approx(2 / 3)
    assert m["hit_at_5"] == pytest.approx(2 / 3)
    assert m["mrr_at_5"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert m["answer_in_top_quote"] == pytest.approx(1 / 3)
    assert m["right_source"] == 1.0
    assert m["right_date"] == pytest.approx(5 / 6)
    assert (m["abstention_precision"], m["abstention_recall"], m["wrongly_abstained"]) == (1.0, 1.0, 0.0)
    assert m["latency_p50_ms"] >= 0 and m["latency_p95_ms"] >= m["latency_p50_ms"]
    assert product["ranks"] == {"1": 1, "2": 0, "3": 1, "4": 0, "5": 0, "miss": 1}
    assert product["per_kind"]["how_many"]["mrr_at_5"] == pytest.approx((1 / 3 + 0) / 2)
    assert product["per_kind"]["who"]["hit_at_1"] == 1.0
    assert [o["rank"] for o in product["outcomes"]] == [1, 3, None, None]
    assert [miss["id"] for miss in product["worst_misses"]] == ["q3", "q2"]
    assert product["worst_misses"][0]["returned"][0]["text"].startswith("Fishermen said")
    # The baseline, computed in the same run on the same corpus, is what an independent run gives.
    articles = load_corpus(CORPUS).articles
    cases = [expectation(q) for q in load_questions(QUESTIONS)]
    alone = evaluate("baseline", BaselineAnswerer(articles), cases).metrics
    assert data["systems"]["baseline"]["metrics"]["mrr_at_5"] == pytest.approx(alone.mrr_at_5)
    assert data["systems"]["baseline"]["metrics"]["right_date"] == 0.0  # the baseline shows no dates
    for chart in CHARTS:
        content = (report / chart).read_bytes()
        assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 5000
    summary = (report / "summary.md").read_text(encoding="utf-8")
    assert "| MRR@5 | 0.444 |" in summary and "| Hit@1 | 0.333 |" in summary
    assert all(f"]({chart})" in summary for chart in CHARTS)
    assert "MRR@5" in text and "0.444" in text and "Worst misses (product):" in text
    assert "returned: [beta.txt] Fishermen said the waves reached six metres." in text


def test_json_output(tmp_path: Path) -> None:
    code, text = run(tmp_path, str(QUESTIONS), "--json")
    assert code == 0
    data = json.loads(text)
    assert set(data["systems"]) == {"product", "baseline"}
    assert data["details"]["questions"] == "4" and data["benchmark"] == "questions"


def test_compare_with_an_earlier_run(tmp_path: Path) -> None:
    run(tmp_path, str(QUESTIONS), "--report", str(tmp_path / "old"))
    old = tmp_path / "old" / "results.json"
    data = json.loads(old.read_text(encoding="utf-8"))
    data["systems"]["product"]["metrics"]["mrr_at_5"] = 0.5
    old.write_text(json.dumps(data), encoding="utf-8")
    code, text = run(tmp_path, str(QUESTIONS), "--compare", str(old), "--report", str(tmp_path / "new"))
    assert code == 0
    assert "Changes since" in text
    row = next(line for line in text.splitlines() if line.startswith("product") and "MRR@5" in line)
    assert row.split()[-3:] == ["0.500", "0.444", "-0.056"]
    assert "| product | MRR@5 | 0.500 | 0.444 | -0.056 |" in (tmp_path / "new" / "summary.md").read_text(
        encoding="utf-8"
    )


def test_compare_in_json_and_only_with_a_run_of_the_same_questions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(tmp_path, str(QUESTIONS), "--report", str(tmp_path / "old"))
    old = tmp_path / "old" / "results.json"
    code, text = run(tmp_path, str(QUESTIONS), "--json", "--compare", str(old))
    assert code == 0
    change = next(c for c in json.loads(text)["changes"] if c["system"] == "product" and c["metric"] == "hit_at_1")
    assert change == {"system": "product", "metric": "hit_at_1", "before": 1 / 3, "now": 1 / 3}
    for other in (("--split", "holdout"), ("--limit", "2")):
        code, text = run(tmp_path, str(QUESTIONS), *other, "--compare", str(old))
        error = capsys.readouterr().err
        assert code == 2 and text == ""
        assert "compare runs of the same questions" in error and error.count("\n") == 1
    code, _ = run(tmp_path, str(QUESTIONS), "--limit", "40", "--compare", str(old))  # 40 >= 4: every question
    assert code == 0
    copy = shutil.copytree(CORPUS, tmp_path / "corpus-copy")
    code, _ = run(tmp_path, str(QUESTIONS), "--corpus", str(copy), "--compare", str(old))
    assert code == 2 and "compare like with like" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text('{"title": "questions.jsonl", "systems": {}}', encoding="utf-8")
    assert run(tmp_path, str(QUESTIONS), "--compare", str(empty))[0] == 2
    broken = tmp_path / "broken.json"
    broken.write_text('{"title": "x", "systems": {"product": {"metrics": []}}}', encoding="utf-8")
    code, _ = run(tmp_path, str(QUESTIONS), "--compare", str(broken))
    assert code == 2 and "is not a results.json written by `verbatim eval`" in capsys.readouterr().err


def test_split_limit_and_ablation(tmp_path: Path) -> None:
    code, text = run(tmp_path, str(QUESTIONS), "--split", "holdout", "--json")
    assert code == 0 and json.loads(text)["systems"]["product"]["metrics"]["questions"] == 2
    code, text = run(tmp_path, str(QUESTIONS), "--limit", "2", "--json")
    assert [o["id"] for o in json.loads(text)["systems"]["product"]["outcomes"]] == ["q1", "q3"]
    code, text = run(tmp_path, str(QUESTIONS), "--ablate", "ranking", ablations={"ranking": baseline_factory})
    assert code == 0 and "without ranking" in text.splitlines()[2]


def test_squad_benchmark_labels(tmp_path: Path) -> None:
    code, text = run(tmp_path, "--squad", str(DATA / "reqa-format-fixture.json"), product=baseline_factory)
    assert code == 0
    assert "P@1" in text and "R@5" in text and "abstention" not in text
    assert text.splitlines()[0] == "SQuAD reqa-format-fixture.json"


@pytest.mark.parametrize(
    ("argv", "hooks", "message"),
    [
        ((), {}, "give either a question set (QUESTIONS) or --squad FILE"),
        ((str(QUESTIONS), "--squad", "x.json"), {}, "give either a question set"),
        ((str(QUESTIONS), "--limit", "0"), {}, "--limit must be at least 1, got 0"),
        ((str(QUESTIONS), "--ablate", "dedupe"), {}, "unknown ablation 'dedupe' (known: none available)"),
        ((str(QUESTIONS), "--ablate", "x"), {"ablations": {"ranking": planned}}, "(known: ranking)"),
        (
            ("--squad", str(DATA / "reqa-format-fixture.json"), "--split", "tune"),
            {},
            "--split applies to question sets",
        ),
        ((str(DATA / "absent.jsonl"),), {}, "absent.jsonl: question set not found"),
        ((str(QUESTIONS), "--compare", str(QUESTIONS)), {}, "cannot read earlier results"),
        ((str(QUESTIONS), "--corpus", str(DATA / "nowhere")), {}, "corpus not found"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    hooks: dict[str, Any],
    message: str,
) -> None:
    code, text = run(tmp_path, *argv, **hooks)
    error = capsys.readouterr().err
    assert code == 2 and text == ""
    assert error.startswith("verbatim: error: ") and message in error and error.count("\n") == 1


def test_evidence_missing_from_the_corpus_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    line = QUESTIONS.read_text(encoding="utf-8").splitlines()[0].replace("Anna Berg", "Otto Berg")
    bad.write_text(line.replace('"The mayor, Otto Berg"', '"The mayor, Otto"') + "\n", encoding="utf-8")
    assert run(tmp_path, str(bad))[0] == 2
    assert (
        f"{bad}:1: question 'q1': evidence text 'The mayor, Otto' is not found in alpha.txt" in capsys.readouterr().err
    )


def test_small_formatting_pieces() -> None:
    assert [format_value(v, k) for v, k in ((None, ""), (3, ""), (0.5, "hit_at_1"), (12.345, "latency_p50_ms"))] == [
        "n/a",
        "3",
        "0.500",
        "12.3",
    ]
    result = evaluate(
        "fake",
        PlannedAnswerer(load_corpus(CORPUS).articles),
        [expectation(q) for q in load_questions(QUESTIONS)],
    )
    table = ranks_table(RunReport("t", "questions", (result,)))
    assert table.splitlines() == [
        "rank of first right quote  fake",
        "-------------------------  ----",
        "1                             1",
        "2                             0",
        "3                             1",
        "4                             0",
        "5                             0",
        "miss                          1",
    ]
