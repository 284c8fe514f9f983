"""`verbatim bench` end to end on a tiny corpus (the real benchmark runs at 10k to 1M sentences)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_bench_measures_both_engines_at_both_levels(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bot", "bench", "--corpus", "seeds", "--sizes", "200", "--questions", "5"),
            *("--levels", "engine,answer", "--workdir", str(tmp_path / "work"), "--json", str(report)),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"VERBATIM_CORPUS_INDEX_DIR": str(tmp_path / "index")},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(report.read_text())
    assert {(row["level"], row["engine"]) for row in rows} == {
        (level, engine) for level in ("engine", "answer") for engine in ("rank-bm25", "bm25s")
    } | {("engine", "plain rank-bm25")}
    for row in rows:
        assert (
            row["sentences"] >= 200 and row["cold_start_s"] > 0 and row["latencies_ms"]
        )  # the seeds have two titles to ask
    assert "| 200 | bm25s |" in result.stdout and "Benchmark copy" in result.stdout
    assert "× plain rank-bm25 |" in result.stdout and "× rank-bm25 engine |" in result.stdout
    plain = next(row for row in rows if row["engine"] == "plain rank-bm25")
    assert len(plain["latencies_ms"]) == len(next(row for row in rows if row["engine"] == "bm25s")["latencies_ms"])
