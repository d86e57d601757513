"""API key material: how a key looks, how it is made, and how it is checked.

A key reads ``hgk_<id>_<secret>``: ``id`` (12 hex digits) names the stored row, ``secret``
(43 URL-safe characters, 256 random bits) is shown once at creation and stored only as its
SHA-256. A fast hash suffices for a secret of that entropy (there is nothing to brute-force
from a dictionary); comparisons are constant-time. Keys never reach a log: ``Principal.name``
carries only the id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "hgk_"
_FORMAT = re.compile(r"^hgk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    id: str
    secret_hash: str
    token: str  # the whole key, to show once


def new_key() -> NewKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, hash_secret(secret), f"{PREFIX}{key_id}_{secret}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    m = _FORMAT.match(token)
    return (m.group(1), m.group(2)) if m else None


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Constant-time check of ``secret`` against a stored hash (None: no such key; a hash is
    still computed and compared so that an unknown id costs the same time)."""
    computed = hash_secret(secret)
    return hmac.compare_digest(computed, stored_hash if stored_hash is not None else "0" * 64) and (
        stored_hash is not None
    )


def is_admin_key(token: str, admin_key: str) -> bool:
    """Constant-time, in the key's length too: digests of equal length are compared."""
    return bool(admin_key) and hmac.compare_digest(hash_secret(token), hash_secret(admin_key))
