#!/usr/bin/env bash
# Makes sure the programs Sluice's tests drive are on this machine: kcat (a third-party Kafka client), the
# MariaDB server and client (private servers for the MySQL source and the main job), PostgreSQL's initdb and
# postgres (private servers for the PostgreSQL sources, found in PATH or /usr/lib/postgresql/<version>/bin as
# internal/postgres finds them), Chromium (headless, for the status page test in topology) and, with
# "kafka", Java, Maven and Python's venv for real Apache Kafka brokers and the interop tests, and g++ with ICU for
# building Dolt (make test-mysql8). Missing ones are installed with apt-get when this runs as root on Debian;
# otherwise it stops at once with the one command that installs them.
set -euo pipefail

need=()
command -v kcat >/dev/null 2>&1 || need+=(kcat)
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then need+=(mariadb-server); fi
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
if ! { command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; } &&
  ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then need+=(postgresql); fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then need+=(chromium); fi
if [ "${1:-}" = kafka ]; then
  command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
  # javac: internal/opensearchtest compiles test/opensearch/src/Launcher.java (the JDK brings java too)
  command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null 2>&1 || need+=(maven)
  # python3 -m venv (make python-venv: Confluent's Python client for the interop tests) needs ensurepip
  python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  # make dolt (the MySQL 8 primary of make test-mysql8) builds Dolt with cgo: a C++ compiler and ICU
  command -v g++ >/dev/null 2>&1 || need+=(g++)
  dpkg -s libicu-dev >/dev/null 2>&1 || need+=(libicu-dev)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test/deps.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  exit 0
fi
echo "the tests need: ${need[*]}. Install them with:" >&2
echo "  sudo apt-get install -y ${need[*]}" >&2
exit 1
