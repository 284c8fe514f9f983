"""Evaluation reports: plain-text and Markdown tables, PNG charts and a JSON file with every number."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from retrieval.evaluation import Evaluation, Metrics, rank_counts, worst_misses

log = logging.getLogger(__name__)

# (metric, label on a question set, label on SQuAD); SQuAD shows only the rows with a label.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("hit_at_1", "Hit@1", "P@1"),
    ("hit_at_3", "Hit@3", "Hit@3"),
    ("hit_at_5", "Hit@5", "R@5"),
    ("mrr_at_5", "MRR@5", "MRR@5"),
    ("answer_in_top_quote", "short answer in top quote", "short answer in top quote"),
    ("right_source", "right source", ""),
    ("right_date", "right date", ""),
    ("abstention_precision", "abstention precision", ""),
    ("abstention_recall", "abstention recall", ""),
    ("wrongly_abstained", "wrongly abstained", ""),
    ("latency_p50_ms", "latency p50 (ms)", "latency p50 (ms)"),
    ("latency_p95_ms", "latency p95 (ms)", "latency p95 (ms)"),
)
CHARTS = ("metrics.png", "ranks.png", "kinds.png")


class ReportError(Exception):
    """A report cannot be written, or an earlier results file cannot be read."""


@dataclass(frozen=True)
class RunReport:
    """Everything one `verbatim eval` run measured: the product first, then the baseline and ablations."""

    title: str
    benchmark: str  # "questions" or "squad"
    evaluations: tuple[Evaluation, ...]
    details: dict[str, str] = field(default_factory=dict)  # question set, corpus, date, timings


def metric_rows(benchmark: str) -> list[tuple[str, str]]:
    """(metric, label) pairs shown for a benchmark."""
    column = 2 if benchmark == "squad" else 1
    return [(row[0], row[column]) for row in METRICS if row[column]]


def results(run: RunReport) -> dict[str, Any]:
    """The run as JSON-ready data: every metric, per kind, ranks, and every question's outcome."""
    systems: dict[str, Any] = {}
    for evaluation in run.evaluations:
        outcomes = [dataclasses.asdict(o) for o in evaluation.outcomes]
        for outcome in outcomes:
            del outcome["returned"], outcome["expected"]  # kept for the worst misses only
        systems[evaluation.system] = {
            "metrics": dataclasses.asdict(evaluation.metrics),
            "per_kind": {kind: dataclasses.asdict(m) for kind, m in evaluation.per_kind.items()},
            "ranks": rank_counts(evaluation.outcomes),
            "worst_misses": [dataclasses.asdict(o) for o in worst_misses(evaluation.outcomes)],
            "outcomes": outcomes,
        }
    return {"title": run.title, "benchmark": run.benchmark, "details": run.details, "systems": systems}


def load_results(path: Path) -> dict[str, Any]:
    """Read a results.json written by an earlier run."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read earlier results {path}: {error}") from error
    systems = data.get("systems") if isinstance(data, dict) else None
    if (
        not isinstance(systems, dict)
        or not isinstance(data.get("title"), str)
        or not isinstance(data.get("details", {}), dict)
        or not all(isinstance(s, dict) and isinstance(s.get("metrics"), dict) for s in systems.values())
        or "product" not in systems
    ):
        raise ReportError(f"{path} is not a results.json written by `verbatim eval`")
    return data


def check_comparable(old: Mapping[str, Any], title: str, details: Mapping[str, str], path: Path) -> None:
    """Refuse to compare runs of different questions (another set, split or sample) or over another corpus: the
    changes would mean nothing. Files are compared by name, so a run made in another checkout still compares."""
    if old["title"] != title:
        raise ReportError(f"{path} is a run of '{old['title']}', not of '{title}': compare runs of the same questions")
    before = old.get("details", {})
    for key in ("question set", "squad", "corpus"):
        if key in before and key in details and Path(str(before[key])).name != Path(details[key]).name:
            raise ReportError(f"{path} is a run over {key} {before[key]}, not {details[key]}: compare like with like")


def format_value(value: float | int | None, metric: str = "") -> str:
    """A number as the tables show it: rates with 3 decimals, milliseconds with 1, missing as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}" if metric.endswith("_ms") else f"{value:.3f}"


def metrics_table(run: RunReport, markdown: bool = False) -> str:
    """One row per metric, one column per system."""
    header = ["metric", *(e.system for e in run.evaluations)]
    rows = [
        [label, *(format_value(getattr(e.metrics, key), key) for e in run.evaluations)]
        for key, label in metric_rows(run.benchmark)
    ]
    rows.append(["questions (answerable/unanswerable)", *(_counts(e.metrics) for e in run.evaluations)])
    return _table(header, rows, markdown)


def ranks_table(run: RunReport, markdown: bool = False) -> str:
    """How many answerable questions found their first right quote at each rank, per system."""
    counts = [rank_counts(e.outcomes) for e in run.evaluations]
    rows = [[rank, *(str(c[rank]) for c in counts)] for rank in counts[0]] if counts else []
    return _table(["rank of first right quote", *(e.system for e in run.evaluations)], rows, markdown)


def kinds_table(run: RunReport, markdown: bool = False) -> str:
    """Hit@1 and MRR@5 per question kind and system."""
    first = dict(metric_rows(run.benchmark))["hit_at_1"]
    header = ["kind", "questions"]
    header += [f"{e.system} {first}" for e in run.evaluations] + [f"{e.system} MRR@5" for e in run.evaluations]
    rows = []
    for kind, metrics in run.evaluations[0].per_kind.items():
        row = [kind, _counts(metrics)]
        row += [format_value(e.per_kind[kind].hit_at_1) for e in run.evaluations]
        row += [format_value(e.per_kind[kind].mrr_at_5) for e in run.evaluations]
        rows.append(row)
    return _table(header, rows, markdown)


def misses_text(evaluation: Evaluation, count: int = 10, markdown: bool = False) -> str:
    """The worst misses of one system, each with what it returned instead."""
    lines: list[str] = []
    for number, miss in enumerate(worst_misses(evaluation.outcomes, count), start=1):
        rank = f"right quote at rank {miss.rank}" if miss.rank else "no right quote in the top 5"
        lines.append(f"{number}. [{miss.id}, {miss.kind}] {miss.question} ({rank})")
        lines.append(f"   expected: {_clip(miss.expected)}")
        top = miss.returned[0] if miss.returned else None
        instead = f"[{top.source}] {_clip(top.text)}" if top else f"nothing (abstained) {miss.error}".strip()
        lines.append(f"   returned: {instead}")
    if not lines:
        return "No misses."
    return "\n".join(f"   - {line.strip()}" if markdown and line.startswith("   ") else line for line in lines)


def changes(old: Mapping[str, Any], run: RunReport) -> list[dict[str, Any]]:
    """What changed since an earlier results.json, for every system and metric found in both."""
    found = []
    for evaluation in run.evaluations:
        before = old["systems"].get(evaluation.system, {}).get("metrics", {})
        for key, _ in metric_rows(run.benchmark):
            was, now = before.get(key), getattr(evaluation.metrics, key)
            if isinstance(was, int | float) and not isinstance(was, bool) and now is not None:
                found.append({"system": evaluation.system, "metric": key, "before": was, "now": now})
    return found


def compare_table(old: Mapping[str, Any], run: RunReport, markdown: bool = False) -> str:
    """`changes` as a table."""
    labels = dict(metric_rows(run.benchmark))
    rows = []
    for change in changes(old, run):
        key, was, now = change["metric"], float(change["before"]), change["now"]
        difference = f"{now - was:+.1f}" if key.endswith("_ms") else f"{now - was:+.3f}"
        rows.append([change["system"], labels[key], format_value(was, key), format_value(now, key), difference])
    return _table(["system", "metric", "before", "now", "change"], rows, markdown, left=2)


def render_text(run: RunReport, old: Mapping[str, Any] | None = None) -> str:
    """The plain-text report printed by `verbatim eval`."""
    parts = [run.title, "", metrics_table(run), "", kinds_table(run), ""]
    if run.evaluations:
        parts += [f"Worst misses ({run.evaluations[0].system}):", misses_text(run.evaluations[0]), ""]
    if old is not None:
        parts += [
            f"Changes since {old.get('details', {}).get('run at', 'the earlier run')}:",
            compare_table(old, run),
        ]
    return "\n".join(parts).rstrip() + "\n"


def write_report(directory: Path, run: RunReport, old: Mapping[str, Any] | None = None) -> Path:
    """Write summary.md, results.json and the PNG charts into `directory`; returns summary.md."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "results.json").write_text(json.dumps(results(run), indent=1) + "\n", encoding="utf-8")
        _chart_metrics(run, directory / CHARTS[0])
        _chart_ranks(run, directory / CHARTS[1])
        _chart_kinds(run, directory / CHARTS[2])
        summary = directory / "summary.md"
        summary.write_text(_summary(run, old), encoding="utf-8")
    except OSError as error:
        raise ReportError(f"cannot write the report into {directory}: {error}") from error
    log.info("report written to %s", directory)
    return summary


def _summary(run: RunReport, old: Mapping[str, Any] | None) -> str:
    details = "\n".join(f"- {key.replace('_', ' ')}: {value}" for key, value in run.details.items())
    parts = [
        f"# Verbatim evaluation: {run.title}",
        details,
        "## Product against baseline",
        metrics_table(run, True),
    ]
    parts += ["![Each metric, product against baseline](metrics.png)", "## Rank of the first right quote"]
    parts += [
        ranks_table(run, True),
        "![Rank at which the right quote appeared](ranks.png)",
        "## By question kind",
    ]
    parts += [kinds_table(run, True), "![Per-kind breakdown](kinds.png)"]
    if run.evaluations:
        parts += [
            f"## Worst misses ({run.evaluations[0].system})",
            misses_text(run.evaluations[0], markdown=True),
        ]
    if old is not None:
        parts += ["## Changes since the earlier run", compare_table(old, run, True)]
    return "\n\n".join(parts) + "\n"


def _counts(metrics: Metrics) -> str:
    return f"{metrics.answerable}/{metrics.unanswerable}"


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool, left: int = 1) -> str:
    """Columns after the first `left` ones hold numbers and are right-aligned."""
    if markdown:
        escaped = [[cell.replace("|", "\\|") for cell in row] for row in [header, *rows]]
        rule = ["---" if i < left else "---:" for i in range(len(header))]
        return "\n".join("| " + " | ".join(row) + " |" for row in [escaped[0], rule, *escaped[1:]])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _bars(
    path: Path, title: str, groups: Sequence[str], series: Mapping[str, Sequence[float | None]], ylabel: str
) -> None:
    """A grouped bar chart, one group per label and one bar per system, saved as PNG without pyplot; a value that
    does not apply (None) is no bar, labelled n/a, never a bar at 0."""
    crowded = len(series) > 3  # the value labels then stand upright, or they run into each other
    wide = (0.9 + 0.1 * crowded * len(series)) * len(groups) + 3
    figure = Figure(figsize=(min(16.0, max(6.0, wide)), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(len(series), 1)
    for number, (system, values) in enumerate(series.items()):
        positions = [i + (number - (len(series) - 1) / 2) * width for i in range(len(groups))]
        bars = axes.bar(positions, [0.0 if v is None else v for v in values], width, label=system)
        labels = ["n/a" if v is None else f"{v:.2f}" for v in values]
        axes.bar_label(bars, labels=labels, fontsize=6 if crowded else 7, padding=1, rotation=90 if crowded else 0)
    tilted = sum(map(len, groups)) > 40 or max(map(len, groups), default=0) > 10
    axes.set_xticks(range(len(groups)), groups, rotation=30 if tilted else 0, ha="right" if tilted else "center")
    axes.set_ylim(0, 1.15 if crowded else 1.08)  # every chart shows rates, so systems and runs compare at a glance
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)  # beside the bars, never over them
    figure.savefig(path, dpi=100)


def _chart_metrics(run: RunReport, path: Path) -> None:
    rows = [(key, label) for key, label in metric_rows(run.benchmark) if not key.endswith("_ms")]
    series = {e.system: [getattr(e.metrics, key) for key, _ in rows] for e in run.evaluations}
    _bars(path, f"Product against baseline: {run.title}", [label for _, label in rows], series, "rate")


def _chart_ranks(run: RunReport, path: Path) -> None:
    counts = {e.system: rank_counts(e.outcomes) for e in run.evaluations}
    total = {system: max(sum(c.values()), 1) for system, c in counts.items()}
    groups = list(next(iter(counts.values()), {}).keys())
    series = {system: [c[g] / total[system] for g in groups] for system, c in counts.items()}
    _bars(path, "Rank at which the first right quote appeared", groups, series, "share of answerable questions")


def _chart_kinds(run: RunReport, path: Path) -> None:
    kinds = list(run.evaluations[0].per_kind) if run.evaluations else []
    series = {e.system: [e.per_kind[k].hit_at_1 for k in kinds] for e in run.evaluations}
    first = dict(metric_rows(run.benchmark))["hit_at_1"]
    _bars(path, f"{first} by question kind", kinds, series, first)
