#!/usr/bin/env bash
# Installs (from Debian's packages, when missing) and starts what the tests talk to: Python's
# venv, Node's npm, PostgreSQL, MariaDB and Redis. Idempotent. Writes the variables the tests read as
# KEY=VALUE lines to the file named by $MCPTK_SERVICES_ENV (stdout when unset; everything else
# goes to stderr); `cargo xtask test` passes them on. A URL already set in the environment is
# kept and its server left alone.
#
# Every command that may leave a daemon behind (package scripts, pg_ctlcluster, the MariaDB
# server) runs through `detached`: with no descriptor of ours open, so that nothing waiting for
# our output to end (a pipe, CI's log) waits for the daemon's lifetime instead.
set -euo pipefail
if [ -n "${MCPTK_SERVICES_ENV:-}" ]; then exec 3>"$MCPTK_SERVICES_ENV"; else exec 3>&1; fi
exec 1>&2

log=/var/tmp/mcptk-services.log
: >"$log"
detached() {
  if ! "$@" </dev/null >>"$log" 2>&1 3>&-; then
    echo "services.sh: '$*' failed; the end of $log:" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
}
# The same, for an attempt whose failure is expected on some machines (no init system).
attempt() { "$@" </dev/null >>"$log" 2>&1 3>&-; }
export DEBIAN_FRONTEND=noninteractive

updated=
apt_install() {
  if [ -z "$updated" ]; then detached apt-get update -qq; updated=1; fi
  detached apt-get install -y -qq "$@"
}

command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v npm >/dev/null || apt_install nodejs npm
# Chromium (Debian's), the real browser the web console's test drives headless through
# playwright-core (tests/node/console.mjs); the test finds it at /usr/bin/chromium.
[ -x /usr/bin/chromium ] || apt_install chromium
# HAProxy, the load balancer in front of three gateway replicas in the scale-out tests. The tests
# start instances of their own; the package's service has no frontend and is left alone.
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || apt_install haproxy
# iproute2 and curl: a second host in a network namespace, whose reader of an HTTP stream
# vanishes when its link is cut (the HTTP transport's test of vanished clients).
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || apt_install iproute2
command -v curl >/dev/null || apt_install curl

if [ -z "${MCPTK_TEST_POSTGRES_URL:-}" ]; then
  { ls /usr/lib/postgresql/*/bin/postgres && command -v pg_lsclusters; } >/dev/null 2>&1 || apt_install postgresql
  if [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
    detached pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main
  fi
  read -r pg_version pg_name pg_port _ < <(pg_lsclusters --no-header | head -n 1)
  attempt pg_ctlcluster "$pg_version" "$pg_name" start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$pg_port" && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p "$pg_port" || { echo "PostgreSQL did not start" >&2; exit 1; }
  su postgres -c "psql -q -p $pg_port -c \"ALTER USER postgres PASSWORD 'mcptk-test'\""
  echo "MCPTK_TEST_POSTGRES_URL=postgres://postgres:mcptk-test@127.0.0.1:$pg_port/postgres" >&3
fi

if [ -z "${MCPTK_TEST_MYSQL_URL:-}" ]; then
  command -v mariadbd >/dev/null || apt_install mariadb-server
  if ! mariadb-admin ping >/dev/null 2>&1; then
    attempt service mariadb start || attempt /etc/init.d/mariadb start || true
  fi
  if ! mariadb-admin ping >/dev/null 2>&1; then
    # No init system: run the server directly.
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || detached mariadb-install-db --user=mysql --datadir=/var/lib/mysql
    (mariadbd --user=mysql --datadir=/var/lib/mysql </dev/null >/var/tmp/mariadbd.log 2>&1 3>&- &)
  fi
  for _ in $(seq 1 30); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 1; done
  mariadb-admin ping >/dev/null 2>&1 || { echo "MariaDB did not start" >&2; exit 1; }
  mariadb -e "CREATE DATABASE IF NOT EXISTS mcptk_test;
    CREATE USER IF NOT EXISTS 'mcptk'@'127.0.0.1' IDENTIFIED BY 'mcptk-test';
    GRANT ALL ON *.* TO 'mcptk'@'127.0.0.1';"
  echo "MCPTK_TEST_MYSQL_URL=mysql://mcptk:mcptk-test@127.0.0.1:3306/mcptk_test" >&3
fi

# A container registry (Debian's docker-registry, the distribution registry) on 127.0.0.1:5055
# over plain HTTP, for mcp-docker's push and pull tests. Our own configuration and storage
# directory, started directly (never the package's init script or unit, and not on its default
# port 5000, where a system instance with htpasswd auth might answer). Podman is told the
# registry is plain HTTP by a registries.conf drop-in (bollard's pull and push requests carry no
# TLS switch), written before Podman's service starts below: the service reads it once, at start.
if [ -z "${MCPTK_TEST_REGISTRY:-}" ]; then
  registry_addr=127.0.0.1:5055
  command -v docker-registry >/dev/null || apt_install docker-registry
  dropin=/etc/containers/registries.conf.d/50-mcptk-test-registry.conf
  dropin_text="# Written by mcptk's tests/services.sh: the test registry speaks plain HTTP.
[[registry]]
location = \"$registry_addr\"
insecure = true"
  if [ "$(cat "$dropin" 2>/dev/null)" != "$dropin_text" ]; then
    mkdir -p "$(dirname "$dropin")"
    printf '%s\n' "$dropin_text" >"$dropin"
    if podman --url unix:///run/mcptk-podman/docker.sock version >/dev/null 2>&1; then
      echo "services.sh: Podman's API service was started before $dropin; restart it to push to the test registry" >&2
    fi
  fi
  if ! curl -fsS "http://$registry_addr/v2/" >/dev/null 2>&1; then
    registry_dir=/var/tmp/mcptk-registry
    rm -rf "$registry_dir/storage"
    mkdir -p "$registry_dir/storage"
    cat >"$registry_dir/config.yml" <<CONF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $registry_dir/storage
  delete:
    enabled: true
http:
  addr: $registry_addr
CONF
    (setsid docker-registry serve "$registry_dir/config.yml" </dev/null >/var/tmp/mcptk-registry.log 2>&1 3>&- &)
    for _ in $(seq 1 30); do curl -fsS "http://$registry_addr/v2/" >/dev/null 2>&1 && break; sleep 1; done
    curl -fsS "http://$registry_addr/v2/" >/dev/null 2>&1 || { echo "the registry did not start" >&2; exit 1; }
  fi
  echo "MCPTK_TEST_REGISTRY=$registry_addr" >&3
fi

# Podman's Docker-compatible API, the real engine mcp-docker's tests (bollard) talk to. Root,
# cgroup v1 through cgroupfs, runc, vfs storage, and host networking only: no container gets a
# network namespace of its own, so nothing creates a bridge on a private address range (networks
# the tests create are CNI files in our own directory, never attached). Podman's default
# ulimits are refused inside this VM, so containers get small fixed ones. The test image comes
# without a registry: a root filesystem of Debian's busybox-static, imported.
if [ -z "${MCPTK_TEST_DOCKER_HOST:-}" ]; then
  command -v podman >/dev/null && command -v runc >/dev/null || apt_install podman runc
  dpkg -s busybox-static >/dev/null 2>&1 || apt_install busybox-static
  podman_dir=/var/tmp/mcptk-podman
  mkdir -p "$podman_dir/cni" /run/mcptk-podman
  cat >"$podman_dir/containers.conf" <<CONF
[containers]
netns = "host"
cgroupns = "host"
log_driver = "k8s-file"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[network]
network_backend = "cni"
network_config_dir = "$podman_dir/cni"
CONF
  cat >"$podman_dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$podman_dir/storage"
runroot = "/run/mcptk-podman/storage"
CONF
  export CONTAINERS_CONF="$podman_dir/containers.conf" CONTAINERS_STORAGE_CONF="$podman_dir/storage.conf"
  docker_sock=/run/mcptk-podman/docker.sock
  if ! podman --url "unix://$docker_sock" version >/dev/null 2>&1; then
    rm -f "$docker_sock"
    (setsid podman system service --time=0 "unix://$docker_sock" </dev/null >/var/tmp/mcptk-podman.log 2>&1 3>&- &)
    for _ in $(seq 1 30); do podman --url "unix://$docker_sock" version >/dev/null 2>&1 && break; sleep 1; done
    podman --url "unix://$docker_sock" version >/dev/null 2>&1 || { echo "Podman's API service did not start" >&2; exit 1; }
  fi
  if ! podman image exists localhost/mcptk-busybox:test; then
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in sh env echo cat sleep ls true; do ln -s busybox "$rootfs/bin/$applet"; done
    tar -C "$rootfs" -cf "$rootfs.tar" .
    detached podman import --change 'CMD ["/bin/sh"]' "$rootfs.tar" localhost/mcptk-busybox:test
    rm -rf "$rootfs" "$rootfs.tar"
  fi
  echo "MCPTK_TEST_DOCKER_HOST=unix://$docker_sock" >&3
  echo "MCPTK_TEST_DOCKER_IMAGE=localhost/mcptk-busybox:test" >&3
fi

# Redis (Debian's redis-server), the shared store of rate limits across gateway replicas. Our own
# instance on 127.0.0.1:6391 (not the package's unit or its default port 6379): no persistence,
# its configuration and directory under /var/tmp/mcptk-redis, started directly and detached.
# Tests that need a Redis of their own to stop and restart start one from the same binary.
if [ -z "${MCPTK_TEST_REDIS_URL:-}" ]; then
  command -v redis-server >/dev/null || apt_install redis-server
  redis_port=6391
  redis_dir=/var/tmp/mcptk-redis
  if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
    mkdir -p "$redis_dir"
    cat >"$redis_dir/redis.conf" <<CONF
bind 127.0.0.1
port $redis_port
dir $redis_dir
save ""
appendonly no
daemonize no
CONF
    (setsid redis-server "$redis_dir/redis.conf" </dev/null >/var/tmp/mcptk-redis.log 2>&1 3>&- &)
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 1; done
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 || { echo "Redis did not start" >&2; exit 1; }
  fi
  echo "MCPTK_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0" >&3
fi
