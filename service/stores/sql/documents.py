"""Namespaces and documents in the relational store."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select, update

from service.domain.records import Document, DocumentStatus, Namespace, PassageExtraction
from service.errors import Conflict, DocumentNotFound, InvalidInput, NamespaceNotFound
from service.stores.sql import tables as t
from service.stores.sql.db import reader
from service.stores.sql.rows import record

NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_namespace_name(name: str) -> str:
    # fullmatch: '$' would also match before a trailing newline ("ops\n").
    if not NAMESPACE_PATTERN.fullmatch(name):
        raise InvalidInput(
            "namespace names are 1-64 characters: letters, digits, '_', '-', '.', starting with a "
            "letter or digit"
        )
    return name


def now() -> datetime:
    return datetime.now(UTC)


def _document(row: Row[Any]) -> Document:
    return record(Document, row, metadata=row.metadata or {}, status=DocumentStatus(row.status))


class DocumentStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction for a use case that spans several of this store's (and the job
        queue's) calls: committed when the block ends, rolled back when it raises."""
        with self._engine.begin() as conn:
            yield conn

    # --- namespaces -------------------------------------------------------------------------

    def create_namespace(self, name: str) -> Namespace:
        check_namespace_name(name)
        with self._engine.begin() as conn:
            row = conn.execute(select(t.namespaces.c.deleting).where(t.namespaces.c.name == name)).first()
            if row is not None and row.deleting:
                raise Conflict(
                    f"namespace {name!r} is being deleted; DELETE it again to finish, then create it"
                )
            if row is not None:
                raise Conflict(f"namespace {name!r} already exists")
            created = now()
            conn.execute(t.namespaces.insert().values(name=name, created_at=created, deleting=False))
        return Namespace(name, created)

    def get_namespace(
        self, name: str, conn: Connection | None = None, *, lock: bool = False, exclusive: bool = False
    ) -> Namespace:
        """The namespace, if it exists and no delete of it has started; else NamespaceNotFound.
        ``lock`` (inside a write transaction) holds a shared row lock on PostgreSQL until commit,
        so a delete that has started marking it is waited for and then seen; ``exclusive`` an
        exclusive one (submissions checking the namespace's quotas, one at a time). On SQLite
        writers are serialized anyway."""

        def run(c: Connection) -> Namespace:
            query = select(t.namespaces).where(t.namespaces.c.name == name)
            if lock or exclusive:
                query = query.with_for_update(read=not exclusive)
            row = c.execute(query).first()
            if row is None or row.deleting:
                raise NamespaceNotFound.named(name)
            return Namespace(row.name, row.created_at)

        if conn is not None:
            return run(conn)
        with reader(self._engine) as c:
            return run(c)

    def list_namespaces(self) -> list[Namespace]:
        with reader(self._engine) as conn:
            rows = conn.execute(
                select(t.namespaces).where(t.namespaces.c.deleting.is_(False)).order_by(t.namespaces.c.name)
            ).all()
        return [Namespace(r.name, r.created_at) for r in rows]

    def lock_for_delete(self, conn: Connection, name: str) -> None:
        """Inside the caller's transaction: lock the namespace row, whether or not a delete of it
        has started (a repeated DELETE finishes an interrupted one); NamespaceNotFound if none."""
        row = conn.execute(
            select(t.namespaces.c.name).where(t.namespaces.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise NamespaceNotFound.named(name)

    def mark_deleting(self, conn: Connection, name: str) -> None:
        """Inside the caller's transaction: from now on the namespace is invisible to every read,
        accepts no documents, and its name cannot be created again until its rows are gone."""
        conn.execute(update(t.namespaces).where(t.namespaces.c.name == name).values(deleting=True))

    def delete_namespace_rows(self, conn: Connection, name: str) -> None:
        """Inside the caller's transaction: the namespace row with its jobs and documents (the
        graph is the caller's business; see ``pipeline.namespaces.DeleteNamespace``)."""
        conn.execute(t.jobs.delete().where(t.jobs.c.namespace == name))
        conn.execute(t.documents.delete().where(t.documents.c.namespace == name))
        conn.execute(t.namespaces.delete().where(t.namespaces.c.name == name))

    def count_documents(self, namespace: str) -> int:
        with reader(self._engine) as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.documents).where(t.documents.c.namespace == namespace)
                ).scalar_one()
            )

    def usage(self, conn: Connection, namespace: str) -> tuple[int, int, int]:
        """(documents, the bytes they store, jobs queued or running) of the namespace, read
        inside the caller's transaction (the quotas of a submission, which holds the namespace's
        row exclusively: ``get_namespace(exclusive=True)``)."""
        docs, size = conn.execute(
            select(func.count(), func.coalesce(func.sum(t.documents.c.stored_bytes), 0)).where(
                t.documents.c.namespace == namespace
            )
        ).one()
        active = conn.execute(
            select(func.count())
            .select_from(t.jobs)
            .where(t.jobs.c.namespace == namespace, t.jobs.c.status.in_(["queued", "running"]))
        ).scalar_one()
        return int(docs), int(size), int(active)

    def usage_of(self, namespace: str) -> tuple[int, int]:
        """(documents, the bytes they store) of an existing namespace; NamespaceNotFound else."""
        with reader(self._engine) as conn:
            self.get_namespace(namespace, conn)
            docs, size, _ = self.usage(conn, namespace)
        return docs, size

    # --- documents --------------------------------------------------------------------------

    def existing(self, conn: Connection, namespace: str, ids: list[str]) -> dict[str, Document]:
        out: dict[str, Document] = {}
        for i in range(0, len(ids), 500):
            for row in conn.execute(
                select(t.documents).where(
                    t.documents.c.namespace == namespace, t.documents.c.id.in_(ids[i : i + 500])
                )
            ):
                out[row.id] = _document(row)
        return out

    def insert(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            # In id order: two overlapping submissions take their row locks in the same order,
            # so on PostgreSQL one waits for the other instead of deadlocking.
            conn.execute(t.documents.insert(), sorted(rows, key=lambda r: r["id"]))

    def update_metadata(self, conn: Connection, namespace: str, document_id: str, metadata: dict) -> None:
        conn.execute(
            update(t.documents)
            .where(t.documents.c.namespace == namespace, t.documents.c.id == document_id)
            .values(metadata=metadata, updated_at=now())
        )

    def reset_for_retry(self, conn: Connection, namespace: str, ids: list[str], job_id: str) -> None:
        ids = sorted(ids)  # lock order, as in ``insert``
        for i in range(0, len(ids), 500):
            conn.execute(
                update(t.documents)
                .where(t.documents.c.namespace == namespace, t.documents.c.id.in_(ids[i : i + 500]))
                .values(status=DocumentStatus.PENDING, error=None, job_id=job_id, updated_at=now())
            )

    def get(self, namespace: str, document_id: str) -> Document:
        with reader(self._engine) as conn:
            self.get_namespace(namespace, conn)
            row = conn.execute(
                select(t.documents).where(
                    t.documents.c.namespace == namespace, t.documents.c.id == document_id
                )
            ).first()
        if row is None:
            raise DocumentNotFound(f"document {document_id!r} not found in namespace {namespace!r}")
        return _document(row)

    def lock_document(self, conn: Connection, namespace: str, document_id: str) -> Document:
        """Inside the caller's transaction: the document, row-locked (PostgreSQL) until commit."""
        self.get_namespace(namespace, conn, lock=True)
        row = conn.execute(
            select(t.documents)
            .where(t.documents.c.namespace == namespace, t.documents.c.id == document_id)
            .with_for_update()
        ).first()
        if row is None:
            raise DocumentNotFound(f"document {document_id!r} not found in namespace {namespace!r}")
        return _document(row)

    def mark_document_deleting(self, conn: Connection, namespace: str, document_id: str) -> None:
        conn.execute(
            update(t.documents)
            .where(t.documents.c.namespace == namespace, t.documents.c.id == document_id)
            .values(status=DocumentStatus.DELETING, updated_at=now())
        )

    def get_many(self, namespace: str, ids: list[str]) -> list[Document]:
        with reader(self._engine) as conn:
            found = self.existing(conn, namespace, ids)
        return [found[i] for i in ids if i in found]

    def list(
        self, namespace: str, *, limit: int, offset: int, status: DocumentStatus | None = None
    ) -> tuple[list[Document], int]:
        with reader(self._engine) as conn:
            self.get_namespace(namespace, conn)
            where = [t.documents.c.namespace == namespace]
            if status:
                where.append(t.documents.c.status == status)
            total = int(
                conn.execute(select(func.count()).select_from(t.documents).where(*where)).scalar_one()
            )
            rows = conn.execute(
                select(t.documents)
                .where(*where)
                .order_by(t.documents.c.created_at, t.documents.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [_document(r) for r in rows], total

    def set_status(
        self,
        namespace: str,
        document_id: str,
        status: DocumentStatus,
        error: str | None = None,
        *,
        job_id: str,
        extraction: Sequence[PassageExtraction] | None = None,
        extractor: str | None = None,
    ) -> bool:
        """Record the outcome of a pending document for the job that indexes it, with (when
        indexed) the extraction it was indexed from, in one transaction; False (nothing changed)
        when the document now belongs to another job, is being deleted or is gone."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(t.documents)
                .where(
                    t.documents.c.namespace == namespace,
                    t.documents.c.id == document_id,
                    t.documents.c.job_id == job_id,
                    t.documents.c.status == DocumentStatus.PENDING,
                )
                .values(status=status, error=error, updated_at=now())
            )
            if result.rowcount != 1:
                return False
            if status == DocumentStatus.INDEXED and extraction is not None:
                key = (t.document_extractions.c.namespace == namespace) & (
                    t.document_extractions.c.document_id == document_id
                )
                conn.execute(t.document_extractions.delete().where(key))  # a re-index replaces it
                conn.execute(
                    t.document_extractions.insert().values(
                        namespace=namespace,
                        document_id=document_id,
                        extractor=extractor or "unknown",
                        passages=[p.to_json() for p in extraction],
                        created_at=now(),
                    )
                )
            return True

    def export_rows(
        self, namespace: str
    ) -> Iterator[tuple[Document, str | None, tuple[PassageExtraction, ...] | None]]:
        """Every document of the namespace but those being deleted, oldest first, with the
        extractor and extraction it was indexed from (None: not indexed, or indexed before
        extractions were recorded). One statement streamed in pages: one consistent view of
        the namespace, in bounded memory. NamespaceNotFound when there is none."""
        x = t.document_extractions
        query = (
            select(t.documents, x.c.extractor, x.c.passages.label("extraction"))
            .select_from(
                t.documents.outerjoin(
                    x, (x.c.namespace == t.documents.c.namespace) & (x.c.document_id == t.documents.c.id)
                )
            )
            .where(t.documents.c.namespace == namespace, t.documents.c.status != DocumentStatus.DELETING)
            .order_by(t.documents.c.created_at, t.documents.c.id)
        )
        with reader(self._engine) as conn:
            self.get_namespace(namespace, conn)
            for row in conn.execution_options(yield_per=500).execute(query):
                passages = (
                    tuple(PassageExtraction.from_json(p) for p in row.extraction)
                    if row.extraction is not None
                    else None
                )
                yield _document(row), row.extractor, passages

    def delete(self, namespace: str, document_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                t.documents.delete().where(
                    t.documents.c.namespace == namespace, t.documents.c.id == document_id
                )
            )
