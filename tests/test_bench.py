"""facelm bench: one quick run, its structure and that every measured number is finite (not their values)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from facelm.bench import TARGETS, format_table, node_installed, torch_available

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MEASURED_ORT = ("first_frame_ms_p50", "best_of_first_frame_ms_p50", "token_ms_p50", "token_ms_p95",
                "realtime_factor", "decoder_ms_p50", "decoder_ms_p95", "audio_total_ms", "audio_compute_ms",
                "peak_rss_mb", "startup_s")
MEASURED_TORCH = ("decoder_ms_p50", "decoder_ms_p95", "audio_total_ms", "audio_compute_ms", "peak_rss_mb")


@pytest.fixture(scope="module")
def result() -> dict:
    if not (ARTIFACTS / "manifest.json").is_file():
        pytest.skip("no shipped model")
    out = subprocess.run([sys.executable, "-m", "facelm", "bench", "--json", "--quick", "--model", str(ARTIFACTS)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_bench_rows_and_columns(result):
    rows = {r["key"]: r for r in result["rows"]}
    assert list(rows) == list(TARGETS)
    for key, row in rows.items():
        assert {"what", "unit", "target", "onnxruntime", "torch", "pass"} <= set(row)
        assert row["pass"] in (True, False, None)
        if TARGETS[key][3] is not None and isinstance(row["onnxruntime"], float):
            assert row["pass"] is not None  # a target and a number: judged
    for key in MEASURED_ORT:
        value = rows[key]["onnxruntime"]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (key, value)
    # Best of 4 generates and scores four whole clips before its first frame; one candidate streams at once.
    assert rows["best_of_first_frame_ms_p50"]["onnxruntime"] > rows["first_frame_ms_p50"]["onnxruntime"]
    assert result["machine"]["cpus"] >= 1 and result["provider"] == "cpu"
    ready = rows["node_ready_s"]["onnxruntime"]  # spawn -> lifecycle active, once the node exists
    assert (isinstance(ready, float) and ready > 0) if node_installed() else ready == "not measured: no node yet"


def test_torch_column_when_torch_is_here(result):
    rows = {r["key"]: r for r in result["rows"]}
    if torch_available() is not None:
        assert all(str(r["torch"]).startswith("n/a") for r in rows.values())
        return
    for key in MEASURED_TORCH:
        value = rows[key]["torch"]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (key, value)
    assert rows["first_frame_ms_p50"]["torch"].startswith("n/a: no torch LM checkpoint")
    assert result["machine"]["torch"].startswith("2.13")


def test_table_renders_for_the_terminal_and_the_readme(result):
    text = format_table(result)
    assert "prompt -> first frame" in text and "onnxruntime" in text.splitlines()[0]
    md = format_table(result, markdown=True)
    assert md.startswith("| measure | target | onnxruntime | torch | pass |")
    assert md.count("\n|") == len(TARGETS) + 1
