"""The application's routes as one flat list, whatever the FastAPI version.

FastAPI up to 0.15x copied every included router's routes into ``app.routes`` as ``APIRoute``
objects; later versions keep an included router whole there (``_IncludedRouter``) and offer
``fastapi.routing.iter_route_contexts`` to list its routes with their prefixed paths. Code that
inspects routes (the access rules' start-up check, the ``Allow`` header of a 405) reads them
here. Each item has ``path``, ``path_regex``, ``methods``, ``operation_id`` and
``include_in_schema`` (Starlette's own routes, e.g. ``/docs``, have no ``operation_id``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def api_routes(app: FastAPI) -> list[Any]:
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # FastAPI before included routers were kept whole
        return list(app.routes)
    return list(iter_route_contexts(app.routes))
