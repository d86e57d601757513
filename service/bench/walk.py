"""Part d: the walk at scale, measured by ``benchmarks/walk_scale.py`` (not by this package).

Contract: when that script exists it runs as a subprocess with ``--out`` (its JSON) and the
sizes of ``Inputs.walk_args``; its table and per-size figures go into the report, with the
acceptance checks that the sizes measured allow: walk p95 <= 30 ms at 100k passages, <= 150 ms
at the largest size, and the approximate walk's top-10 overlap with the exact walk >= 0.95
(the worst query kind counts). When the script is missing the part is "not measured yet".
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from service.bench.common import REPO_ROOT, Inputs, PartResult, Recorder

logger = logging.getLogger("hippograph.bench")

SCRIPT = REPO_ROOT / "benchmarks" / "walk_scale.py"
TIMEOUT_S = 3 * 3600


def walk_command(inputs: Inputs, out: Path) -> list[str]:
    return [sys.executable, str(SCRIPT), *inputs.walk_args, "--out", str(out)]


def walk_at_scale(work: Path, inputs: Inputs, rec: Recorder, part: PartResult) -> None:
    if not SCRIPT.exists():
        part.status = "not measured"
        rec.note(part, f"not measured yet: {SCRIPT.relative_to(REPO_ROOT)} does not exist")
        return
    out = work / "walk_scale.json"
    cmd = walk_command(inputs, out)
    shown = " ".join(["python", str(SCRIPT.relative_to(REPO_ROOT)), *cmd[2:]])
    part.command = shown
    rec.say(part, f"running: {shown}")
    log = work / "walk_scale.log"
    with open(log, "w") as sink:
        done = subprocess.run(
            cmd, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT, timeout=TIMEOUT_S, check=False
        )
    if not out.exists():
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"walk_scale.py exited {done.returncode} without {out.name}:\n{tail}")
    results = json.loads(out.read_text())
    if done.returncode != 0:
        part.note = f"walk_scale.py exited {done.returncode}; sizes finished before that are reported"
    sizes: list[dict[str, Any]] = results.get("sizes", [])
    for row in sizes:
        n = row["passages"]
        rec.figure(part, f"{n}_walk_p95_ms", _worst(row, "approximate", "walk_p95_ms"), "ms")
        rec.figure(part, f"{n}_walk_p50_ms", _worst(row, "approximate", "walk_p50_ms"), "ms")
        rec.figure(part, f"{n}_rss_mb", row.get("rss_mb"), "MB")
        rec.figure(part, f"{n}_array_bytes_per_passage", row.get("array_bytes_per_passage_total"), "B")
        exact = _worst(row, "exact", "walk_p95_ms")
        if exact is not None:
            rec.figure(part, f"{n}_exact_walk_p95_ms", exact, "ms")
    part.table = table(sizes)
    part.figures["walk_scale"] = results
    if not sizes:
        raise RuntimeError("walk_scale.py measured no size")
    at_100k = next((r for r in sizes if r["passages"] == 100_000), None)
    rec.check(
        part,
        "walk p95 at 100k passages (ms)",
        None if at_100k is None else _worst(at_100k, "approximate", "walk_p95_ms"),
        30.0,
        "<=",
    )
    largest = max(sizes, key=lambda r: r["passages"])
    rec.check(
        part,
        f"walk p95 at the largest size, {largest['passages']:,} passages (ms)",
        _worst(largest, "approximate", "walk_p95_ms"),
        150.0,
        "<=",
    )
    overlaps = [
        k["top10_overlap"] for r in sizes for k in r.get("kinds", {}).values() if "top10_overlap" in k
    ]
    rec.check(
        part, "approximate walk's top-10 overlap with the exact walk", min(overlaps, default=None), 0.95, ">="
    )


def _worst(row: dict[str, Any], path: str, key: str) -> float | None:
    """The largest value of ``key`` over the query kinds measured on ``path``, or None."""
    values = [k[path][key] for k in row.get("kinds", {}).values() if path in k and key in k[path]]
    return max(values) if values else None


def table(sizes: list[dict[str, Any]]) -> str:
    lines = [
        "| passages | queries | walk | p50 ms | p95 ms | top-10 overlap | RSS MB | peak RSS MB | "
        "arrays B/passage |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sizes:
        for kind, r in row.get("kinds", {}).items():
            for path in ("exact", "approximate"):
                if path not in r:
                    continue
                w = r[path]
                overlap = r.get("top10_overlap", "–") if path == "approximate" else ""
                lines.append(
                    f"| {row['passages']:,} | {kind} | {path} | {w.get('walk_p50_ms')} | "
                    f"{w.get('walk_p95_ms')} | "
                    f"{overlap} | {row.get('rss_mb', '–')} | {row.get('peak_rss_mb', '–')} | "
                    f"{row.get('array_bytes_per_passage_total', '–')} |"
                )
    return "\n".join(lines)
