#!/usr/bin/env bash
# The full test suite from a fresh clone: installs PostgreSQL's server package when missing, the
# package with its dev tools, the pinned Neo4j jars from Maven Central (the test session starts a
# real Neo4j and a real PostgreSQL itself), then runs ruff, mypy and pytest. Extra arguments go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# A real PostgreSQL for the postgres tests (Debian's server package; the session starts its own cluster).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL server binaries missing: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
mvn -B -q -f tools/neo4j/pom.xml dependency:copy-dependencies -DincludeScope=runtime >/dev/null

python3 -m ruff check service tests benchmarks migrations
python3 -m mypy  # service/, configured in pyproject.toml

set +e
python3 -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
