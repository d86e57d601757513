"""From credentials to a ``Principal``: the one authentication step of every entry point."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.auth import keys
from service.auth.principal import ADMIN, ANONYMOUS, Principal
from service.errors import Unauthorized
from service.settings import AuthSettings
from service.stores.sql.keys import KeyStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Authenticator:
    """``__call__(token)``: the principal of a bearer token (None: no credentials). Keys off:
    everyone is ``ANONYMOUS`` (the open embedded default). Keys on: the admin key is ``ADMIN``,
    a stored, unrevoked key is its own principal, anything else raises ``Unauthorized`` with one
    text, whatever was wrong (no oracle for which keys exist)."""

    settings: AuthSettings
    keys: KeyStore

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def __call__(self, token: str | None) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        if not token:
            raise Unauthorized("this service needs an API key: send 'Authorization: Bearer <key>'")
        if keys.is_admin_key(token, self.settings.admin_key.get_secret_value()):
            return ADMIN
        parsed = keys.parse(token)
        stored = self.keys.find(parsed[0]) if parsed else None
        valid = keys.secret_matches(parsed[1] if parsed else token, stored.secret_hash if stored else None)
        if stored is None or not valid or stored.revoked:
            raise Unauthorized("the API key is not valid (unknown, malformed or revoked)")
        return Principal(
            name=f"key:{stored.id}",
            scope=stored.scope,
            namespaces=frozenset(stored.namespaces),
            requests_per_minute=stored.requests_per_minute,
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when absent)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <key>'")
    return token.strip()
