#!/usr/bin/env bash
# Installs Debian's docker.io and debootstrap (for the docker provider's node image) WITHOUT
# letting the package start its service: a default dockerd creates docker0, adds NAT rules and
# sets ip_forward=1 on the host, which svclab never allows. scripts/docker/start-dockerd.sh
# starts the daemon with safe flags instead.
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "svclab: installing ${need[*]} needs root" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then saved=$(mktemp); cp -p "$policy" "$saved"; fi
restore() { if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi; }
trap restore EXIT
# 101: "action not allowed" - invoke-rc.d starts no service while packages install.
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod +x "$policy"
echo "svclab: installing ${need[*]} (service start disabled)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Where systemd runs, the unit may still be enabled for the next boot: disable it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
fi
