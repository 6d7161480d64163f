#!/usr/bin/env bash
# Make sure a Docker engine answers: install it when missing, start it when stopped,
# and wait until it answers. Idempotent: on a set-up machine it returns in well under a second.
set -euo pipefail

state_dir=${SANDPIT_STATE_DIR:-$(pwd)/.sandpit}
config="$state_dir/dockerd.json"
log="$state_dir/dockerd.log"
start_timeout_s=60

say() { printf 'docker-engine: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
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
# No default bridge and no iptables: sandbox containers run with network "none", and
# image builds use the host network, so Docker never needs to touch the host's firewall.
cat >"$config" <<JSON
{"bridge": "none", "iptables": false, "ip6tables": false}
JSON
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
