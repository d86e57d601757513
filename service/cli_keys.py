"""``hippograph keys create|list|revoke``: API keys from the command line, on the same store as
``/v1/keys`` (the database in the environment's settings; no server needed)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from service.settings import Settings
from service.stores.sql.keys import ApiKey


def _key_json(k: ApiKey) -> dict[str, Any]:
    """The key as ``/v1/keys`` shows it (one shape for REST and the CLI; no secret hash)."""
    from service.api.routes.keys import key_response

    return key_response(k).model_dump(mode="json")


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from service.container import Container
    from service.errors import HippographError

    container = Container.from_settings(settings)
    try:
        container.migrate()
        try:
            if args.keys_command == "create":
                made = container.keys.create(args.name, args.scope, args.namespace, args.requests_per_minute)
                out: Any = {**_key_json(made.key), "key": made.token}
                sys.stderr.write("Store this key now: it is not shown again.\n")
            elif args.keys_command == "list":
                out = [_key_json(k) for k in container.keys.list(include_revoked=args.all)]
            else:
                out = _key_json(container.keys.revoke(args.key_id))
        except HippographError as exc:
            sys.stderr.write(f"error: {exc.code}: {exc.detail}\n")
            return 1
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    finally:
        container.close()


def add_parser(sub: Any) -> None:
    k = sub.add_parser("keys", help="create, list and revoke API keys")
    ks = k.add_subparsers(dest="keys_command", required=True)
    c = ks.add_parser("create", help="create a key (printed once)")
    c.add_argument("--name", required=True, help="what the key is for")
    c.add_argument("--scope", required=True, choices=["read", "write", "admin"])
    c.add_argument("--namespace", action="append", required=True, help="a namespace it may use (repeat)")
    c.add_argument("--requests-per-minute", type=int, default=None, help="its own rate limit (0: none)")
    lst = ks.add_parser("list", help="list keys (never the keys themselves)")
    lst.add_argument("--all", action="store_true", help="include revoked keys")
    r = ks.add_parser("revoke", help="revoke a key by id")
    r.add_argument("key_id")
    k.set_defaults(func=cmd_keys)
