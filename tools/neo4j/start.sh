#!/usr/bin/env bash
# Start the development Neo4j (embedded Community + Bolt) in the foreground.
#
#   tools/neo4j/start.sh [HOME_DIR] [PORT] [LAUNCHER OPTIONS...]
#
#   HOME_DIR  Neo4j home (data/ lives under it); default <repo>/.hippograph/neo4j
#   PORT      Bolt port on 127.0.0.1; default 7687
#   LAUNCHER OPTIONS are passed through, e.g. --auth neo4j:secret123 --pagecache 512m
#
# Environment:
#   NEO4J_HEAP   max heap, e.g. 2g (gives -Xmx2g); default -Xms512m -Xmx1g
#   JAVA_HOME    use $JAVA_HOME/bin/java instead of java on PATH
#
# Prints "NEO4J_READY bolt://127.0.0.1:PORT" on stdout when usable; Ctrl-C or
# SIGTERM shuts it down cleanly. Keep this command line in step with
# java_command() in tests/support/neo4j_server.py; the fixed JVM flags live in
# tools/neo4j/jvm.args, which both use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

home="${1:-$repo/.hippograph/neo4j}"
port="${2:-7687}"
shift $(( $# < 2 ? $# : 2 ))

lib="$here/lib"
stamp="$lib/.pom.sha256"
want="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! compgen -G "$lib/*.jar" > /dev/null; then
    echo "fetching Neo4j jars into $lib ..." >&2
    rm -rf "$lib"
    mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib" >&2
    echo "$want" > "$stamp"
fi

if [ -n "${NEO4J_HEAP:-}" ]; then
    heap=("-Xmx$NEO4J_HEAP")
else
    heap=(-Xms512m -Xmx1g)
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

mkdir -p "$home"
exec "$java" "${heap[@]}" "@$here/jvm.args" -cp "$lib/*" "$here/Launcher.java" \
    --home "$home" --port "$port" "$@"
