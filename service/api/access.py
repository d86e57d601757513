"""Who may call which operation: one rule per ``operation_id``, enforced by one dependency.

Every route's operation must have a rule here: ``create_app`` refuses to start otherwise, and
a request to an operation without one would be refused (fail closed). The rules:

- ``PUBLIC``: no key needed (health checks for orchestrators).
- ``NAMESPACE``: the ``namespace`` path parameter must be visible to the key, with ``scope``.
- ``JOB``: the job's namespace must be, with ``scope`` (an invisible job is ``job_not_found``).
- ``LISTING``: any valid key; the route shows only what the key may see (or checks a body).
- ``SERVICE_ADMIN``: the admin key only (managing keys).
- ``METRICS``: the admin key, or no key when ``metrics.public`` is set (a private scraper).

An invisible namespace answers exactly as a missing one (``Principal.require``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from service.api.route_table import api_routes
from service.auth.authenticate import bearer_token
from service.auth.principal import ANONYMOUS, Principal, Scope
from service.container import Container
from service.errors import Forbidden


class Target(StrEnum):
    PUBLIC = "public"
    NAMESPACE = "namespace"
    JOB = "job"
    LISTING = "listing"
    SERVICE_ADMIN = "service_admin"
    METRICS = "metrics"


@dataclass(frozen=True)
class Rule:
    target: Target
    scope: Scope = Scope.READ


RULES: dict[str, Rule] = {
    "health": Rule(Target.PUBLIC),
    "ready": Rule(Target.PUBLIC),
    "createNamespace": Rule(Target.LISTING, Scope.ADMIN),  # the route checks the body's name
    "listNamespaces": Rule(Target.LISTING),
    "getNamespace": Rule(Target.NAMESPACE, Scope.READ),
    "deleteNamespace": Rule(Target.NAMESPACE, Scope.ADMIN),
    "getNamespaceStats": Rule(Target.NAMESPACE, Scope.READ),
    "addDocuments": Rule(Target.NAMESPACE, Scope.WRITE),
    "importOpenIE": Rule(Target.NAMESPACE, Scope.WRITE),
    "listDocuments": Rule(Target.NAMESPACE, Scope.READ),
    "getDocument": Rule(Target.NAMESPACE, Scope.READ),
    "deleteDocument": Rule(Target.NAMESPACE, Scope.WRITE),
    "query": Rule(Target.NAMESPACE, Scope.READ),
    "listJobs": Rule(Target.LISTING),
    "getJob": Rule(Target.JOB, Scope.READ),
    "cancelJob": Rule(Target.JOB, Scope.WRITE),
    "createKey": Rule(Target.SERVICE_ADMIN),
    "listKeys": Rule(Target.SERVICE_ADMIN),
    "getKey": Rule(Target.SERVICE_ADMIN),
    "revokeKey": Rule(Target.SERVICE_ADMIN),
    "metrics": Rule(Target.METRICS),
}


def rule_for(request: Request) -> Rule | None:
    route = request.scope.get("route")
    return RULES.get(getattr(route, "operation_id", None) or "")


async def authorize(request: Request) -> Principal:
    """The request's principal, once the operation's rule holds. Async, so that a request that
    needs no store read here (keys off, or an upload ``BodyLimit`` authenticated) costs no
    thread-pool hop: each hop waits for the GIL, which an ingesting worker holds for long
    stretches (hippograph bench, part f). Store reads go to the thread pool."""
    container: Container = request.app.state.container
    rule = rule_for(request)
    if rule is None:
        raise Forbidden("this operation has no access rule")
    if rule.target is Target.PUBLIC or (rule.target is Target.METRICS and container.settings.metrics.public):
        return ANONYMOUS  # health checks (and public metrics) read no principal
    principal: Principal | None = getattr(request.state, "principal", None)  # set by BodyLimit
    if principal is None:
        if container.authenticator.enabled:
            token = bearer_token(request.headers.get("authorization"))
            principal = await run_in_threadpool(container.authenticator, token)
            assert principal is not None
        else:  # keys off: whatever the header says (a proxy's Basic auth, say) is not ours
            principal = ANONYMOUS
        request.state.principal = principal
    container.rate_limit(principal)
    if rule.target is Target.NAMESPACE:
        principal.require(rule.scope, request.path_params["namespace"])
    elif rule.target is Target.JOB:
        job_id = request.path_params["job_id"]
        job = await run_in_threadpool(container.jobs.get, job_id)
        principal.require_job(rule.scope, job_id, job.namespace)
    elif rule.target in (Target.SERVICE_ADMIN, Target.METRICS):
        principal.require_service_admin()
    return principal


PrincipalDep = Annotated[Principal, Depends(authorize)]


def check_rules(app: FastAPI) -> None:
    """Raises when a route's operation has no rule (a new route must say who may call it)."""
    missing = sorted(
        r.operation_id or r.path
        for r in api_routes(app)
        if getattr(r, "include_in_schema", False)
        and hasattr(r, "operation_id")  # FastAPI's routes (Starlette's have none)
        and (r.operation_id or "") not in RULES
    )
    if missing:
        raise RuntimeError(f"operations without an access rule (service/api/access.py): {', '.join(missing)}")


def secured(operation_id: str) -> bool:
    """Whether an operation needs a key when keys are on (for the OpenAPI document)."""
    rule = RULES.get(operation_id)
    return rule is None or rule.target is not Target.PUBLIC
