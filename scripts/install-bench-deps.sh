#!/usr/bin/env bash
# System packages `npm run bench` needs beyond npm: the etcd server of the etcd3 baseline
# section (Debian's etcd-server). Installs only what is missing; run as root. The benchmark
# starts its own etcd on free loopback ports, so the Debian service must not start.
set -euo pipefail

if command -v etcd >/dev/null 2>&1; then
  echo "== $(etcd --version | sed -n 1p): nothing to install"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "etcd is missing and installing it needs root: sudo $0" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting the etcd service on this machine.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "== apt-get install etcd-server"
apt-get update -qq
apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
echo "== $(etcd --version | sed -n 1p)"
