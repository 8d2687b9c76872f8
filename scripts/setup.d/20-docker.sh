#!/usr/bin/env bash
# Docker Engine, an image registry and the rootfs sources of the test images, as root;
# and git, which the git sensors (and their tests) run.
# Idempotent: installs only what is missing (apt-get update only then) and starts dockerd
# in the background when `docker info` fails, waiting until it answers.
# podman is optional: tests/executors/test_docker.py runs one member through its
# Docker-compatible API (podman system service), so it is installed too.
set -euo pipefail

packages=(docker.io docker-registry busybox-static apache2-utils python3 podman git)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y "${missing[@]}" >/dev/null
  }
fi

if docker info >/dev/null 2>&1; then
  echo "dockerd is running"
  exit 0
fi
log=/var/log/orecart-dockerd.log
echo "starting dockerd (log: $log)"
nohup dockerd >>"$log" 2>&1 &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    echo "dockerd is ready"
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not become ready within 60s; last lines of $log:" >&2
tail -n 30 "$log" >&2
exit 1
