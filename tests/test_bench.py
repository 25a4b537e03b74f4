"""The benchmark script runs every section (tiny sizes; no timing is asserted)."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_benchmark_smoke_run_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--smoke",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    assert "ours nn.LSTM" in results["lstm"]["smoke"]
    assert "numpy matmul floor" in results["lstm"]["smoke"]
    for section in ("overhead", "depth", "memory", "leak"):
        assert section in results
