"""The ``hippograph`` command: serve | worker | migrate | import-openie | export | import | eval |
bench | keys."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from service.cli_keys import add_parser as add_keys_parser
from service.domain.records import JobStatus
from service.observability.logs import setup_logging
from service.settings import Settings

logger = logging.getLogger("hippograph")


def _container(settings: Settings):
    from service.container import Container

    return Container.from_settings(settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.app import create_app
    from service.auth.exposure import UnsafeBind, check_exposure

    host = args.host or settings.host
    try:
        check_exposure(settings.auth, host)
    except UnsafeBind as exc:
        logger.error("%s", exc)
        return 2
    container = _container(settings)
    app = create_app(
        container,
        run_worker=not args.no_worker and settings.worker.in_process,
        migrate=True if args.migrate else None,
    )
    uvicorn.run(
        app,
        host=host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
        # JSON logs: uvicorn's records go through our root handler instead of its own format.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    container = _container(settings)
    try:
        if args.drain:
            n = container.worker().drain()
            logger.info("processed %d job(s)", n)
            return 0
        if settings.metrics.worker_port:
            from service.observability.metrics import serve_process_metrics

            serve_process_metrics(settings.metrics.worker_port)
            logger.info("worker metrics on port %d (/metrics)", settings.metrics.worker_port)
        background = container.start_background_worker()
        # SIGTERM/SIGINT: finish the document in hand (at most shutdown_grace_s), give the job
        # back to the queue, exit.
        signal.signal(signal.SIGTERM, lambda *_: background.stop.set())
        signal.signal(signal.SIGINT, lambda *_: background.stop.set())
        while not background.stop.wait(1.0):
            pass
        background.shutdown(settings.worker.shutdown_grace_s)
        return 0
    finally:
        container.close()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    container = _container(settings)
    try:
        container.migrate()
    finally:
        container.close()
    logger.info(
        "migrated %s (graph backend: %s)", settings.database_url.split("@")[-1], settings.graph.backend
    )
    return 0


def cmd_import_openie(args: argparse.Namespace, settings: Settings) -> int:
    """Import a HippoRAG OpenIE file into a namespace and index it here, with a progress bar."""
    from service.errors import Conflict
    from service.jobs.drain import drain_showing
    from service.progress import Progress

    container = _container(settings)
    try:
        container.migrate()
        try:
            container.documents.create_namespace(args.namespace)
        except Conflict:
            pass
        imported = container.import_openie(args.namespace, Path(args.file).read_bytes())
        sub = imported.submission
        if args.no_wait:
            sys.stdout.write(json.dumps({"job_id": sub.job_id, "documents": len(sub.document_ids)}) + "\n")
            return 0
        progress = Progress(len(sub.document_ids), "import", "doc")
        job = drain_showing(container.worker(), container.jobs, sub.job_id, progress)
        stats = container.stats(args.namespace)
        sys.stdout.write(
            json.dumps(
                {
                    "job_id": job.id,
                    "status": job.status,
                    "documents": len(sub.document_ids),
                    "failed": len(job.errors),
                    "dropped_triples": imported.dropped_triples,
                    "passages": stats.passages,
                    "entities": stats.entities,
                    "facts": stats.facts,
                    "synonym_edges": stats.synonym_edges,
                }
            )
            + "\n"
        )
        return 0 if job.status == JobStatus.SUCCEEDED else 1
    finally:
        container.close()


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write a namespace's documents, metadata and extractions to a file (``-``: stdout)."""
    from service.errors import HippographError
    from service.pipeline.transfer_format import open_for_writing
    from service.stores.sql.db import schema_is_current

    container = _container(settings)
    try:
        # Reads only the relational store (no graph, no model); its schema is migrate's business.
        if not schema_is_current(container.engine):
            logger.error("the database schema is not at this version's revision: run `hippograph migrate`")
            return 1
        try:
            with open_for_writing(args.file) as out:
                summary = container.export_namespace(args.namespace, out)
        except HippographError as exc:
            logger.error("%s", exc.detail)
            return 1
        except OSError as exc:
            logger.error("cannot write %s: %s", args.file, exc.strerror or exc)
            return 1
        logger.info(
            "%d documents written to %s: %d with their extraction, %d to be extracted on import",
            summary.documents,
            args.file,
            summary.with_extraction,
            summary.to_extract,
        )
        return 0
    finally:
        container.close()


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Check an export file whole, queue its documents, and (unless --no-wait) index them here."""
    from service.errors import HippographError
    from service.jobs.drain import drain_showing_all
    from service.progress import Progress

    container = _container(settings)
    try:
        container.migrate()
        try:
            summary = container.import_namespace(args.file, args.namespace)
        except HippographError as exc:
            logger.error("%s", exc.detail)
            return 1
        result = {
            "namespace": summary.namespace,
            "documents": summary.documents,
            "with_extraction": summary.with_extraction,
            "to_extract": summary.to_extract,
            "job_ids": summary.job_ids,
        }
        succeeded = True
        if not args.no_wait:
            progress = Progress(summary.documents, "import", "doc")
            jobs = drain_showing_all(container.worker(), container.jobs, summary.job_ids, progress)
            stats = container.stats(summary.namespace)
            result |= {
                "failed": sum(len(j.errors) for j in jobs),
                "jobs": {j.id: str(j.status) for j in jobs},
                "passages": stats.passages,
                "entities": stats.entities,
                "facts": stats.facts,
                "synonym_edges": stats.synonym_edges,
            }
            succeeded = all(j.status == JobStatus.SUCCEEDED for j in jobs)
        sys.stdout.write(json.dumps(result) + "\n")
        return 0 if succeeded else 1
    finally:
        container.close()


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from service.evaluation.harness import run_cli

    return run_cli(args, settings)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from service.bench.runner import run_cli

    return run_cli(args, settings)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hippograph", description="Hippograph memory service")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the REST API (and, by default, an in-process worker)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--no-worker", action="store_true", help="do not run the in-process ingestion worker")
    s.add_argument("--migrate", action="store_true", help="migrate on start even when not on SQLite")
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="run an ingestion worker")
    w.add_argument("--drain", action="store_true", help="process the queued jobs, then exit")
    w.set_defaults(func=cmd_worker)

    m = sub.add_parser("migrate", help="create or upgrade the relational schema and graph indexes")
    m.set_defaults(func=cmd_migrate)

    i = sub.add_parser("import-openie", help="import a HippoRAG OpenIE file into a namespace")
    i.add_argument("namespace")
    i.add_argument("file")
    i.add_argument("--no-wait", action="store_true", help="queue the job and exit (a worker indexes it)")
    i.set_defaults(func=cmd_import_openie)

    x = sub.add_parser(
        "export", help="write a namespace's documents, metadata and extractions to a file (backup, move)"
    )
    x.add_argument("namespace")
    x.add_argument("file", help="output file; *.gz is compressed; - writes to stdout")
    x.set_defaults(func=cmd_export)

    im = sub.add_parser("import", help="import an export file (into its namespace, or --namespace)")
    im.add_argument("file")
    im.add_argument("--namespace", default=None, help="import into this namespace instead")
    im.add_argument("--no-wait", action="store_true", help="queue the jobs and exit (a worker indexes them)")
    im.set_defaults(func=cmd_import)

    e = sub.add_parser("eval", help="multi-hop retrieval evaluation on a HippoRAG-format dataset")
    e.add_argument("dataset_dir")
    e.add_argument("--openie", help="HippoRAG OpenIE file to import instead of running the extractor")
    e.add_argument("--modes", default="dense,bm25,graph")
    e.add_argument("--out", default=None, help="output folder (default eval-out/<dataset>)")
    e.add_argument("--limit", type=int, default=None, help="only the first N questions")
    e.set_defaults(func=cmd_eval)

    add_keys_parser(sub)

    b = sub.add_parser("bench", help="measure ingestion, query latency and freshness; write bench.json/.md")
    b.add_argument("--out", default="bench-out", help="report folder (default bench-out)")
    b.add_argument("--only", default=None, help="parts to run, comma separated: a,b,c,d,e,f (default all)")
    b.add_argument("--quick", action="store_true", help="small inputs: every part in a few minutes")
    # Hidden: other inputs and sizes (the smoke test), and keeping the data directories.
    b.add_argument("--musique-dir", default=None, help=argparse.SUPPRESS)
    b.add_argument("--twowiki-corpus", default=None, help=argparse.SUPPRESS)
    b.add_argument("--passages", type=int, default=None, help=argparse.SUPPRESS)
    b.add_argument("--questions", type=int, default=None, help=argparse.SUPPRESS)
    b.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    sys.exit(args.func(args, settings))
