#!/usr/bin/env bash
# Make sure a Docker engine answers: install it when missing, start it when stopped,
# and wait until it answers. The engine it starts declares crun, which sandboxes start
# under where it works (sandbox/docker/oci.py). Idempotent: on a set-up machine it
# returns in well under a second.
set -euo pipefail

state_dir=${SANDPIT_STATE_DIR:-$(pwd)/.sandpit}
config="$state_dir/dockerd.json"
log="$state_dir/dockerd.log"
crun_wrapper="$state_dir/bin/crun"
start_timeout_s=60

say() { printf 'docker-engine: %s\n' "$*" >&2; }

# crun, and how this engine runs it: crun 1.8 refuses a host whose cgroup v2 mount sits
# beside cgroup v1 ("hybrid": cgroups in hybrid mode not supported), so there it runs in
# a mount namespace of its own without that mount, and uses cgroup v1 as runc does.
write_crun_wrapper() {
  mkdir -p "$(dirname "$crun_wrapper")"
  cat >"$crun_wrapper.new" <<'SH'
#!/bin/sh
# crun for Sandpit's sandboxes, written by scripts/docker-engine.sh.
if grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts; then
  exec unshare --mount --propagation private \
    sh -c 'umount -l /sys/fs/cgroup/unified && exec crun "$@"' crun "$@"
fi
exec crun "$@"
SH
  chmod 755 "$crun_wrapper.new"
  mv "$crun_wrapper.new" "$crun_wrapper"
}

write_config() {
  # No default bridge and no iptables: sandbox containers run with network "none", and
  # image builds use the host network, so Docker never needs to touch the host's firewall.
  if command -v crun >/dev/null 2>&1; then
    write_crun_wrapper
    printf '{"bridge": "none", "iptables": false, "ip6tables": false, "runtimes": {"crun": {"path": "%s"}}}\n' \
      "$crun_wrapper" >"$config"
  else
    echo '{"bridge": "none", "iptables": false, "ip6tables": false}' >"$config"
  fi
}

install_crun() {
  if ! command -v crun >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing crun from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q crun >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q crun >/dev/null; } \
      || say "crun could not be installed: sandboxes will run under runc"
  fi
}

if docker info >/dev/null 2>&1; then
  # An engine this script started, from before it declared crun: declare it now. Docker
  # reloads its runtimes on SIGHUP, without stopping a container.
  ours=$(pgrep -f -- "dockerd --config-file $config" | head -n 1 || true)
  if [ -n "$ours" ] && ! docker info --format '{{json .Runtimes}}' | grep -qF "\"$crun_wrapper\""; then
    install_crun
    if command -v crun >/dev/null 2>&1; then
      write_config
      kill -HUP "$ours"
      say "declared crun in the running engine"
    fi
  fi
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  say "DOCKER_HOST=$DOCKER_HOST does not answer. Start that engine, or unset DOCKER_HOST to use a local one."
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  say "no Docker engine answers and only root can install or start one. Run 'make' as root, or start Docker yourself (Debian: apt-get install docker.io; dockerd) and add your user to the docker group."
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "Docker is not installed and this is not a Debian-like system with apt-get. Install Docker Engine, then run this again."
    exit 1
  fi
  say "installing docker.io from Debian's packages"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
  # The package may have started an engine through systemd.
  if docker info >/dev/null 2>&1; then exit 0; fi
fi

mkdir -p "$state_dir"
install_crun
write_config
say "starting dockerd (log: $log)"
# setsid + every descriptor redirected: the daemon must not hold make's or CI's output open.
setsid dockerd --config-file "$config" >>"$log" 2>&1 </dev/null &

for _ in $(seq 1 $((start_timeout_s * 4))); do
  if docker info >/dev/null 2>&1; then
    say "ready"
    exit 0
  fi
  sleep 0.25
done
say "dockerd did not answer within ${start_timeout_s}s; see $log"
exit 1
