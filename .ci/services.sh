#!/usr/bin/env bash
# Installs the Debian service binaries the server tests start themselves (loopback, temp dirs):
# redis-server (shared rate limits) and PostgreSQL (storage backend). Idempotent; a no-op when present.
# The tests FAIL (not skip) when CI is set and a binary is missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "services: redis-server and postgresql already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "services: installing ${need[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
# the packages may start system-wide instances; the tests never use them (they start their own on free ports)
