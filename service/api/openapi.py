"""The OpenAPI document as committed in ``openapi.yaml``.

Regenerate with ``python -m service.api.openapi > openapi.yaml``; a test fails when the file and
the served schema differ.
"""

from __future__ import annotations

import sys

import yaml


def openapi_yaml() -> str:
    from service.app import create_app
    from service.container import Container
    from service.settings import DatabaseSettings, Settings

    # Building the schema touches no storage: the container is never opened.
    app = create_app(Container.from_settings(Settings(database=DatabaseSettings(url="sqlite://"))))
    return yaml.safe_dump(app.openapi(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(openapi_yaml())
