"""API keys in the relational store (every deployment): create, list, revoke, and the lookup
that authentication makes on each request (one primary-key read; revocation holds at once)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from service.auth.keys import new_key
from service.auth.principal import Scope
from service.errors import InvalidInput, NotFound
from service.stores.sql import tables as t
from service.stores.sql.db import reader
from service.stores.sql.documents import NAMESPACE_PATTERN, now


class KeyNotFound(NotFound):
    code = "key_not_found"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scope: Scope
    namespaces: list[str]
    requests_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None
    secret_hash: str = ""  # only for authentication; never returned by the API

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # the whole key: shown once, never stored


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, name: str, scope: Scope, namespaces: Iterable[str], requests_per_minute: int | None = None
    ) -> CreatedKey:
        """A new key for ``namespaces`` (one at least; they need not exist yet)."""
        names = sorted(set(namespaces))
        if not names:
            raise InvalidInput("a key needs at least one namespace")
        for ns in names:
            if not NAMESPACE_PATTERN.fullmatch(ns):
                raise InvalidInput(f"invalid namespace name {ns!r}")
        if not 0 < len(name) <= 200:
            raise InvalidInput("a key's name must be 1-200 characters")
        if requests_per_minute is not None and requests_per_minute < 0:
            raise InvalidInput("requests_per_minute must be 0 (no limit) or more")
        made = new_key()
        created = now()
        with self._engine.begin() as conn:
            conn.execute(
                insert(t.api_keys).values(
                    id=made.id,
                    name=name,
                    secret_hash=made.secret_hash,
                    scope=Scope(scope).value,
                    requests_per_minute=requests_per_minute,
                    created_at=created,
                )
            )
            conn.execute(insert(t.api_key_namespaces), [{"key_id": made.id, "namespace": ns} for ns in names])
        key = ApiKey(made.id, name, Scope(scope), names, requests_per_minute, created, None)
        return CreatedKey(key, made.token)

    def get(self, key_id: str) -> ApiKey:
        with reader(self._engine) as conn:
            row = conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
            if row is None:
                raise KeyNotFound(f"key {key_id!r} not found")
            names = conn.execute(
                select(t.api_key_namespaces.c.namespace)
                .where(t.api_key_namespaces.c.key_id == key_id)
                .order_by(t.api_key_namespaces.c.namespace)
            ).scalars()
            return _key(row, list(names))

    def find(self, key_id: str) -> ApiKey | None:
        try:
            return self.get(key_id)
        except KeyNotFound:
            return None

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        with reader(self._engine) as conn:
            query = select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)
            if not include_revoked:
                query = query.where(t.api_keys.c.revoked_at.is_(None))
            rows = conn.execute(query).all()
            bound: dict[str, list[str]] = {}
            for key_id, ns in conn.execute(
                select(t.api_key_namespaces.c.key_id, t.api_key_namespaces.c.namespace).order_by(
                    t.api_key_namespaces.c.namespace
                )
            ):
                bound.setdefault(key_id, []).append(ns)
        return [_key(r, bound.get(r.id, [])) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revokes the key (idempotent); it authenticates nothing from the next request on."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(t.api_keys)
                .where(t.api_keys.c.id == key_id, t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
            if (
                result.rowcount == 0
                and conn.execute(select(t.api_keys.c.id).where(t.api_keys.c.id == key_id)).first() is None
            ):
                raise KeyNotFound(f"key {key_id!r} not found")
        return self.get(key_id)

    def purge(self, key_id: str) -> None:
        """Removes a key's row for good (tests, and cleaning up revoked keys)."""
        with self._engine.begin() as conn:
            conn.execute(delete(t.api_keys).where(t.api_keys.c.id == key_id))


def _key(row, namespaces: list[str]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scope=Scope(row.scope),
        namespaces=namespaces,
        requests_per_minute=row.requests_per_minute,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        secret_hash=row.secret_hash,
    )
