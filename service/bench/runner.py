"""``hippograph bench``: runs the selected parts in order and writes the report after each.

Contract: ``run_cli(args, settings)`` measures parts ``a``-``f`` (``args.only``: a comma list,
default all) on full inputs or, with ``args.quick``, small ones; figures are printed to stdout
as they are measured; ``bench.json``, ``bench.md`` (and ``bench.png``) are (re)written into
``args.out`` after every part, so a long run that is stopped keeps what finished. A part that
fails is reported as ``error`` with its traceback and the next part runs. Data directories live
in a temporary folder, removed at the end unless ``args.keep``. Returns 0 when no part failed
(acceptance marks do not change it), 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from service.bench.common import (
    PARTS,
    Inputs,
    Recorder,
    available_cores,
    embedding_description,
    run_in_thread,
)
from service.bench.report import write_report
from service.settings import Settings

logger = logging.getLogger("hippograph.bench")


def parse_only(only: str | None) -> list[str]:
    """The selected parts in run order; raises ValueError naming an unknown one."""
    if not only:
        return list(PARTS)
    wanted = {p.strip().lower() for p in only.split(",") if p.strip()}
    unknown = wanted - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {', '.join(sorted(unknown))}: choose from {','.join(PARTS)}")
    return [p for p in PARTS if p in wanted]


def _hidden_flags(args: argparse.Namespace) -> list[str]:
    flags = []
    for name in ("musique_dir", "twowiki_corpus", "passages", "questions"):
        value = getattr(args, name, None)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def command_line(args: argparse.Namespace, only: str | None) -> str:
    parts = ["hippograph", "bench"]
    if only:
        parts += ["--only", only]
    if args.quick:
        parts.append("--quick")
    return " ".join(parts + _hidden_flags(args))


def _load() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    try:
        selected = parse_only(args.only)
    except ValueError as exc:
        sys.stderr.write(f"hippograph bench: {exc}\n")
        return 2
    inputs = Inputs.for_run(
        quick=args.quick,
        musique_dir=args.musique_dir,
        twowiki_corpus=args.twowiki_corpus,
        passages=args.passages,
        questions=args.questions,
    )
    out = Path(args.out)
    command = command_line(args, args.only) + f" --out {args.out}"
    rec = Recorder(lambda key: command_line(args, key))
    meta: dict[str, Any] = {
        "command": command,
        "quick": bool(args.quick),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": 0.0,
        "environment": {
            "cores": available_cores(),
            "load_start": _load(),
            "load_end": None,
            "embedding": embedding_description(settings),
            "python": sys.version.split()[0],
        },
        "inputs": {k: str(v) if isinstance(v, Path) else v for k, v in vars(inputs).items()},
    }
    sys.stdout.write(f"$ {command}\n")
    work = Path(tempfile.mkdtemp(prefix="hippograph-bench-"))
    logger.info("bench data directories in %s", work)
    started = time.perf_counter()
    failed = False
    try:
        failed = _run_parts(selected, settings, work, inputs, rec, out, meta, started)
    finally:
        if args.keep:
            sys.stdout.write(f"data directories kept in {work}\n")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def _run_parts(
    selected: list[str],
    settings: Settings,
    work: Path,
    inputs: Inputs,
    rec: Recorder,
    out: Path,
    meta: dict[str, Any],
    started: float,
) -> bool:
    from service.bench.freshness import freshness
    from service.bench.musique import MusiqueNamespace, import_musique, query_latency
    from service.bench.neo4j_rate import neo4j_against_sql
    from service.bench.serve_load import serve_load
    from service.bench.walk import walk_at_scale

    def _part(key: str, musique: MusiqueNamespace | None) -> MusiqueNamespace | None:
        """Runs part ``key``; returns the MuSiQue namespace parts a and b share."""
        if key == "a":
            return import_musique(settings, work, inputs, rec, rec.parts[key])
        if key == "b":
            musique = musique or import_musique(settings, work, inputs, rec, None)
            query_latency(musique, rec, rec.parts[key])
        elif key == "c":
            freshness(settings, work, inputs, rec, rec.parts[key])
        elif key == "d":
            walk_at_scale(work, inputs, rec, rec.parts[key])
        elif key == "e":
            neo4j_against_sql(settings, work, inputs, rec, rec.parts[key])
        elif key == "f":
            serve_load(settings, work, inputs, rec, rec.parts[key])
        return musique

    failed = False
    musique: MusiqueNamespace | None = None
    try:
        for key in selected:
            part = rec.start(key)
            part_started, load_started = time.perf_counter(), _load().split(",")[0]
            try:
                musique = run_in_thread(partial(_part, key, musique), f"bench-{key}")
            except Exception as exc:
                failed = True
                part.status = "error"
                part.error = traceback.format_exc()
                logger.exception("bench part %s failed", key)
                sys.stdout.write(f"[{key}] ERROR: {exc.__class__.__name__}: {exc}\n")
            part.seconds = time.perf_counter() - part_started
            part.load = f"{load_started} -> {_load().split(',')[0]}"
            if musique is not None and "b" not in selected[selected.index(key) + 1 :]:
                musique.container.close()  # nothing after this part queries it
                musique = None
            meta["seconds"] = time.perf_counter() - started
            meta["environment"]["load_end"] = _load()
            written = write_report(out, meta, rec.parts)
            logger.info("report written: %s", ", ".join(str(p) for p in written))
    finally:
        if musique is not None:
            musique.container.close()
    sys.stdout.write(f"\nreport: {out / 'bench.md'} ({meta['seconds']:.0f} s)\n")
    return failed
