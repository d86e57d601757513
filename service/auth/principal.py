"""The caller of a use case and what it may do (docs/security.md).

A ``Principal`` is what authentication yields: the service admin (the admin key, or anyone while
keys are off), or an API key bound to namespaces with one scope. Scopes nest: ``read`` (look,
query) < ``write`` (add and delete documents, cancel jobs) < ``admin`` (create and delete the
namespace). Namespaces a principal may not see do not exist for it: the checks here raise the
same ``NotFound`` error, with the same text, as a namespace that really does not exist, so a
key learns nothing about other tenants. Every entry point calls these checks (the REST API does
through ``api/access.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from service.errors import Forbidden, JobNotFound, NamespaceNotFound


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """``namespaces`` None: every namespace (the service admin)."""

    name: str  # "admin", "anonymous" (keys off) or "key:<id>"; for logs and rate limits
    scope: Scope
    namespaces: frozenset[str] | None
    requests_per_minute: int | None = None  # None: the service's default

    @property
    def is_service_admin(self) -> bool:
        return self.namespaces is None and self.scope == Scope.ADMIN

    def sees(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces

    def visible(self, namespaces: Iterable[str]) -> list[str]:
        return [n for n in namespaces if self.sees(n)]

    def require(self, scope: Scope, namespace: str) -> None:
        """Raises ``NamespaceNotFound`` (exactly as for a missing namespace) when this principal
        may not see ``namespace``, ``Forbidden`` when it sees it with a lesser scope."""
        if not self.sees(namespace):
            raise NamespaceNotFound.named(namespace)
        if self.scope.rank < scope.rank:
            raise Forbidden(f"this key's scope is {self.scope.value!r}; the operation needs {scope.value!r}")

    def require_job(self, scope: Scope, job_id: str, namespace: str) -> None:
        """As ``require``, for a job of ``namespace``: an invisible job is ``JobNotFound``."""
        if not self.sees(namespace):
            raise JobNotFound.for_id(job_id)
        self.require(scope, namespace)

    def require_service_admin(self) -> None:
        if not self.is_service_admin:
            raise Forbidden("only the admin key may do this")


ANONYMOUS = Principal("anonymous", Scope.ADMIN, None)  # keys are off: the service is open
ADMIN = Principal("admin", Scope.ADMIN, None)
