#!/usr/bin/env bash
# The full test suite from a fresh clone: installs the package with its dev tools, fetches the
# pinned Neo4j jars from Maven Central (the test session starts a real Neo4j from them), then
# runs ruff and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
mvn -B -q -f tools/neo4j/pom.xml dependency:copy-dependencies -DincludeScope=runtime >/dev/null

python3 -m ruff check service tests benchmarks migrations

set +e
python3 -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
