"""`verbatim bench`: speed and memory of the engines and of full answers at 10k, 100k and 1M sentences."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.settings import Settings
from retrieval.benchmark import LEVELS, PLAIN, REFERENCE, BenchError, BenchPlan, Measurement, percentile, speedup
from retrieval.engine import ENGINE_NAMES

log = logging.getLogger(__name__)

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
DEFAULT_CORPORA = (SHARED / "reuters21578.jsonl.gz", SHARED / "bbc.jsonl.gz")
BENCH_ENGINES = (PLAIN, *ENGINE_NAMES)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `verbatim bench`."""
    parser.add_argument(
        "--corpus", type=Path, action="append", help="a corpus to draw articles from; repeatable "
        "(default: ../shared/corpora/reuters21578.jsonl.gz and bbc.jsonl.gz)",
    )  # fmt: skip
    parser.add_argument("--sizes", default="10000,100000,1000000", help="sentence counts, comma-separated")
    parser.add_argument(
        "--engines", default=",".join(BENCH_ENGINES),
        help=f"engines, comma-separated (default: all; '{PLAIN}' is measured at the engine level only)",
    )  # fmt: skip
    parser.add_argument("--levels", default=",".join(LEVELS), help="engine (sentence engine alone), answer")
    parser.add_argument("--questions", type=int, default=200, help="questions per size (default 200)")
    parser.add_argument(
        "--reference-questions", type=int, default=10, metavar="N",
        help="questions rank-bm25 answers from --sample-from sentences on (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--sample-from", type=int, default=1_000_000, metavar="SENTENCES", help="see --reference-questions"
    )
    parser.add_argument("--workdir", type=Path, help="where corpora and indexes go (default: a temporary one)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every measurement as JSON")


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Run the benchmark and print its tables (those measured so far when a step fails: exit code 2)."""
    try:
        plan = _plan(args, settings, args.workdir or Path(tempfile.gettempdir()) / "unused")
    except (BenchError, ValueError) as error:
        sys.stderr.write(f"verbatim: error: {error}\n")
        return 2
    if args.workdir is None:
        plan = dataclasses.replace(plan, workdir=Path(tempfile.mkdtemp(prefix="verbatim-bench-")))
    logging.getLogger("retrieval.corpus").setLevel(logging.ERROR)  # the corpora's duplicate articles
    sys.stdout.write(f"Corpora: {', '.join(str(path) for path in plan.corpora)}; work directory {plan.workdir}\n")
    sys.stdout.flush()
    found: list[Measurement] = []
    code = 0
    try:
        from retrieval.benchmark import run_benchmark

        run_benchmark(plan, lambda measurement: _progress(measurement, found))
    except BenchError as error:
        sys.stderr.write(f"verbatim: error: {error}\n")
        code = 2
    finally:
        if args.workdir is None:
            shutil.rmtree(plan.workdir, ignore_errors=True)
    if found:
        sys.stdout.write(render(found, plan) + "\n")
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(m) for m in found], indent=1), encoding="utf-8")
    return code


def _plan(args: argparse.Namespace, settings: Settings, workdir: Path) -> BenchPlan:
    corpora = tuple(args.corpus or DEFAULT_CORPORA)
    missing = [str(path) for path in corpora if not path.exists()]
    if missing:
        raise BenchError(f"corpus not found: {', '.join(missing)} (give one with --corpus)")
    engines = tuple(_names(args.engines, BENCH_ENGINES, "engine"))
    levels = tuple(_names(args.levels, LEVELS, "level"))
    sizes = tuple(int(size) for size in args.sizes.split(","))
    if min(sizes) < 1 or args.questions < 1 or args.reference_questions < 1:
        raise BenchError("sizes and question counts must be positive")
    return BenchPlan(
        corpora, workdir, settings.index, settings.ranking, sizes, engines, levels, args.questions,
        args.reference_questions, args.sample_from,
    )  # fmt: skip


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise BenchError(f"unknown {what} {', '.join(unknown) or '(none)'}: choose from {', '.join(known)}")
    return names


def _progress(m: Measurement, found: list[Measurement]) -> None:
    found.append(m)
    sys.stderr.write(
        f"bench: {m.level} {m.engine} at {m.sentences:,} sentences: built in {m.build_s:.1f} s "
        f"(peak {m.build_peak_mib:,.0f} MiB, {m.disk_mib:,.0f} MiB on disk), "
        f"cold start {m.cold_start_s:.2f} s, "
        f"RSS {m.serve_rss_mib:,.0f} MiB, p50 / p95 {_pair(m.latencies_ms)} ms"
        + (f" (retrieval {_pair(m.retrieval_ms)} ms)" if m.retrieval_ms else "")
        + "\n"
    )


def render(found: Sequence[Measurement], plan: BenchPlan) -> str:
    """Markdown tables, one per level, with the notes a reader needs to trust them."""
    parts = []
    for level in LEVELS:
        rows = [m for m in found if m.level == level]
        if not rows:
            continue
        # The engine level compares with plain rank-bm25 when it was measured, the answer level with the product
        # on its rank-bm25 engine (plain rank-bm25 answers nothing by itself).
        against = PLAIN if level == "engine" and any(m.engine == PLAIN for m in rows) else REFERENCE
        reference = {m.size: m for m in rows if m.engine == against}
        if level == "engine":
            parts.append(f"### Sentence engine alone (top-{plan.k} of a question's terms)\n")
            parts.append(_table(["retrieval p50 / p95 ms", f"× {against}"]))
        else:
            parts.append("### Full answers (index of sentences, paragraphs and articles; retrieval + ranking)\n")
            parts.append(_table(["retrieval p50 / p95 ms", "answer p50 / p95 ms", f"× {against} engine"]))
        for m in rows:
            ref = reference.get(m.size)
            cells = [
                f"{m.size:,}", m.engine + (" (sampled)" if m.sampled else ""), f"{m.sentences:,}",
                f"{m.build_s:.1f}", f"{m.build_peak_mib:,.0f}", f"{m.disk_mib:,.0f}", f"{m.cold_start_s:.2f}",
                f"{m.serve_rss_mib:,.0f}",
            ]  # fmt: skip
            if level == "answer":
                cells.append(_pair(m.retrieval_ms))
            cells += [_pair(m.latencies_ms), "1×" if m is ref else _ratio(speedup(ref, m))]
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
    copies = max((m.copies for m in found), default=1)
    sampled = any(m.sampled for m in found)
    parts.append(
        f"Sizes above the real corpus repeat its articles under new ids (up to {copies} copies), each copy "
        "ending in a 'Benchmark copy N' heading line.\n"
        + (f"Rows marked (sampled) answered only the first {plan.reference_questions} questions. " if sampled else "")
        + f"Ratios compare medians on the same questions. Questions: {plan.questions} article titles per size.\n"
        "Build: engine level = build + save from terms (peak = memory added to the terms); answer level = "
        "`verbatim index` in a fresh process (peak = its whole RSS). Cold start: a fresh process until its "
        "first result, index load included (warm page cache). RSS after all questions."
    )
    return "\n".join(parts)


def _table(tail: list[str]) -> str:
    head = ["size", "engine", "sentences", "build s", "build peak MiB", "disk MiB", "cold start s", "RSS MiB"]
    columns = head + tail
    return "| " + " | ".join(columns) + " |\n|" + "---|" * 2 + "---:|" * (len(columns) - 2)


def _pair(values: Sequence[float]) -> str:
    return f"{percentile(values, 0.5):,.2f} / {percentile(values, 0.95):,.2f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}×"
