"""The bench's report files: ``bench.json`` (everything measured), ``bench.md`` (acceptance
table with PASS/FAIL marks, then each part's figures) and ``bench.png`` (acceptance ratios
against their limits, and query latency distributions where parts b or f measured them).

Contract: ``write_report`` writes whatever parts ran (errored and unmeasured parts are listed
with their reason) and returns the paths written. The plot is skipped, with a log line, if
matplotlib cannot draw.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from service.bench.common import Check, PartResult

logger = logging.getLogger("hippograph.bench")

MARK = {True: "PASS", False: "FAIL", None: "not measured"}


def report_json(meta: dict[str, Any], parts: dict[str, PartResult]) -> dict[str, Any]:
    checks = [{"part": p.key, **c.to_json()} for p in parts.values() for c in p.checks]
    return {**meta, "acceptance": checks, "parts": {k: p.to_json() for k, p in parts.items()}}


def _value(c: Check) -> str:
    if c.value is None:
        return "–"
    if isinstance(c.value, bool):
        return "yes" if c.value else "no"
    return f"{c.value:g}"


def _limit(c: Check) -> str:
    if c.op == "is":
        return "yes" if c.limit else "no"
    return f"{c.op} {c.limit:g}"


def _figure(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_figure(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return "–" if value is None else str(value)


def report_markdown(meta: dict[str, Any], parts: dict[str, PartResult], plot: str | None) -> str:
    lines = [
        "# hippograph bench",
        "",
        f"`{meta['command']}` — {meta['started_at']}, {meta['seconds']:.0f} s"
        f"{' (quick: small inputs)' if meta.get('quick') else ''}.",
        "",
        f"Machine: {meta['environment']['cores']} cores; load average at start "
        f"{meta['environment']['load_start']}, at end {meta['environment']['load_end']}. "
        f"Embedder: {meta['environment']['embedding']}.",
        "",
        "## Acceptance",
        "",
        "| part | check | measured | limit | result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in parts.values():
        for c in p.checks:
            lines.append(f"| {p.key} | {c.name} | {_value(c)} | {_limit(c)} | {MARK[c.passed]} |")
        if not p.checks:
            lines.append(f"| {p.key} | {p.title} | – | – | {p.status} |")
    if plot:
        lines += ["", f"![acceptance ratios and query latency]({plot})"]
    for p in parts.values():
        lines += [
            "",
            f"## {p.key}. {p.title}",
            "",
            f"`{p.command}` — {p.status}, {p.seconds:.0f} s, load {p.load}",
            "",
        ]
        if p.error:
            lines += ["```", p.error.strip()[-2000:], "```", ""]
        if p.note:
            lines += [p.note, ""]
        shown = {k: v for k, v in p.figures.items() if k != "walk_scale"}
        if shown:
            lines += ["| figure | value |", "| --- | --- |"]
            lines += [f"| {k} | {_figure(v)} |" for k, v in shown.items()]
        if p.table:
            lines += ["", p.table]
    return "\n".join(lines) + "\n"


def _score(c: Check) -> float:
    """Measured over limit for a "<=" check, limit over measured for ">=": at most 1 passes."""
    value, limit = float(c.value or 0.0), float(c.limit)
    return value / limit if c.op == "<=" else limit / max(value, 1e-9)


def _plot(path: Path, parts: dict[str, PartResult]) -> bool:
    checks = [(p.key, c) for p in parts.values() for c in p.checks if c.op != "is" and c.value is not None]
    latencies = {
        f"{p.key}: {name}": samples
        for p in parts.values()
        if p.key in ("b", "f")
        for name, samples in p.samples.items()
    }
    if not checks and not latencies:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = int(bool(checks)) + int(bool(latencies))
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.5), squeeze=False)
    ax_iter = iter(axes[0])
    if checks:
        ax = next(ax_iter)
        scores = [_score(c) for _, c in checks]
        labels = [f"{k}: {c.name}"[:60] for k, c in checks]
        colors = ["tab:green" if s <= 1 else "tab:red" for s in scores]
        ax.barh(range(len(scores)), scores, color=colors)
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_yticks(range(len(scores)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("measured / limit (≤ 1 passes)")
        ax.set_title("Acceptance")
    if latencies:
        ax = next(ax_iter)
        ax.boxplot(list(latencies.values()), whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(latencies) + 1), list(latencies), rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("query wall time, ms (whiskers p5-p95)")
        ax.set_title("Query latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(out: Path, meta: dict[str, Any], parts: dict[str, PartResult]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    plot_path = out / "bench.png"
    plotted = False
    try:
        plotted = _plot(plot_path, parts)
    except Exception:
        logger.exception("the plot could not be drawn; bench.md and bench.json are written without it")
    if plotted:
        written.append(plot_path)
    (out / "bench.json").write_text(json.dumps(report_json(meta, parts), indent=2, default=str) + "\n")
    (out / "bench.md").write_text(report_markdown(meta, parts, plot_path.name if plotted else None))
    return [out / "bench.json", out / "bench.md", *written]
