#!/usr/bin/env bash
# Makes sure the OS has what a command needs, by mode:
#   run   (make run / dev / dashboard): PostgreSQL server binaries (Debian's `postgresql`) for the
#         embedded server, unless DATABASE_URL or CRIPTOPIPE_PG_BIN is set;
#   test  (make test, CI): that, plus Chromium for the headless browser tests and Debian's
#         docker-compose to validate the compose file.
# Installs them with apt when running as root on Debian/Ubuntu; otherwise says what to install.
# Idempotent and quiet when everything is there.
set -euo pipefail

mode="${1:-test}"
case "$mode" in
  run|test) ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

need=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v pg_config >/dev/null 2>&1 \
   && [ -z "${CRIPTOPIPE_PG_BIN:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
  need+=(postgresql)
fi
if [ "$mode" = "test" ]; then
  if [ "${CRIPTOPIPE_BROWSER_TESTS:-auto}" != "off" ] && ! command -v chromium >/dev/null 2>&1; then
    need+=(chromium)
  fi
  # Debian's docker-compose validates docker-compose.yml (`docker-compose config`) without an engine
  if ! command -v docker-compose >/dev/null 2>&1; then
    need+=(docker-compose)
  fi
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing OS packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing OS packages: ${need[*]}"
  echo "install them (e.g. sudo apt-get install -y ${need[*]}), or set DATABASE_URL / CRIPTOPIPE_PG_BIN"
  [[ " ${need[*]} " == *" postgresql "* ]] && exit 1
fi
exit 0
