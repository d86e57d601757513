"""The safe default: an open service (no admin key) answers only on a loopback address."""

from __future__ import annotations

import ipaddress
import logging

from service.settings import AuthSettings

logger = logging.getLogger(__name__)


class UnsafeBind(RuntimeError):
    """Binding a service without keys to an address other machines can reach."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_exposure(auth: AuthSettings, host: str) -> None:
    """Raises ``UnsafeBind`` for keys off on a non-loopback ``host`` unless auth is switched off
    explicitly (``auth.disabled``), which is logged as a warning on every start."""
    if auth.disabled:
        logger.warning(
            "authentication is switched off (HIPPOGRAPH_AUTH__DISABLED=true): anyone who can reach "
            "%s may read, write and delete every namespace",
            host,
        )
        return
    if auth.enabled:
        logger.info("API keys are on: every request but /healthz and /readyz needs a key")
        return
    if not is_loopback(host):
        raise UnsafeBind(
            f"refusing to serve on {host} without API keys: set HIPPOGRAPH_AUTH__ADMIN_KEY (a random "
            "string of 24+ characters) to turn keys on, bind to 127.0.0.1, or set "
            "HIPPOGRAPH_AUTH__DISABLED=true if an open service on the network is really meant"
        )
    logger.info("no admin key: the service is open, on loopback address %s only", host)
