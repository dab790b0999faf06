#!/usr/bin/env bash
# Installs (from Debian's packages, when missing) and starts what the tests talk to: Python's
# venv, Node's npm, PostgreSQL and MariaDB. Idempotent. Prints the variables the tests read as
# KEY=VALUE lines on stdout (everything else goes to stderr); `cargo xtask test` passes them on.
# A URL already set in the environment is kept and its server left alone.
set -euo pipefail
exec 3>&1 1>&2

updated=
apt_install() {
  if [ -z "$updated" ]; then apt-get update -qq; updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v npm >/dev/null || apt_install nodejs npm

if [ -z "${MCPTK_TEST_POSTGRES_URL:-}" ]; then
  { ls /usr/lib/postgresql/*/bin/postgres && command -v pg_lsclusters; } >/dev/null 2>&1 || apt_install postgresql
  if [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
    pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main >/dev/null
  fi
  read -r pg_version pg_name pg_port _ < <(pg_lsclusters --no-header | head -n 1)
  pg_ctlcluster "$pg_version" "$pg_name" start 2>/dev/null || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$pg_port" && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p "$pg_port" || { echo "PostgreSQL did not start" >&2; exit 1; }
  su postgres -c "psql -q -p $pg_port -c \"ALTER USER postgres PASSWORD 'mcptk-test'\""
  echo "MCPTK_TEST_POSTGRES_URL=postgres://postgres:mcptk-test@127.0.0.1:$pg_port/postgres" >&3
fi

if [ -z "${MCPTK_TEST_MYSQL_URL:-}" ]; then
  command -v mariadbd >/dev/null || apt_install mariadb-server
  if ! mariadb-admin ping >/dev/null 2>&1; then
    { service mariadb start || /etc/init.d/mariadb start; } >/dev/null 2>&1 || true
  fi
  if ! mariadb-admin ping >/dev/null 2>&1; then
    # No init system: run the server directly.
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    (mariadbd --user=mysql --datadir=/var/lib/mysql >/var/tmp/mariadbd.log 2>&1 &)
  fi
  for _ in $(seq 1 30); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 1; done
  mariadb-admin ping >/dev/null 2>&1 || { echo "MariaDB did not start" >&2; exit 1; }
  mariadb -e "CREATE DATABASE IF NOT EXISTS mcptk_test;
    CREATE USER IF NOT EXISTS 'mcptk'@'127.0.0.1' IDENTIFIED BY 'mcptk-test';
    GRANT ALL ON *.* TO 'mcptk'@'127.0.0.1';"
  echo "MCPTK_TEST_MYSQL_URL=mysql://mcptk:mcptk-test@127.0.0.1:3306/mcptk_test" >&3
fi
