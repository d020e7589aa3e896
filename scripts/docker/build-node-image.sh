#!/usr/bin/env bash
# Builds svclab's node image without a container registry: debootstrap a minimal Debian bookworm
# with the lab's tools from the Debian mirror apt already uses here, then `docker import` it.
# Cached: does nothing when the image exists (pass --force to rebuild).
#
# Usage: scripts/docker/build-node-image.sh [--force] [tag]   (default tag: node-image.tag)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

force=0
if [ "${1:-}" = --force ]; then force=1; shift; fi
TAG=${1:-$(cat "$here/node-image.tag")}
# Same package set as node.Dockerfile; libstdc++6 is for the host's node binary that the provider
# bind-mounts into containers.
PACKAGES=iproute2,iptables,ipset,nftables,ipvsadm,conntrack,procps,libstdc++6

if [ "$force" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "svclab: node image $TAG exists; not rebuilding (use --force to rebuild)"
  exit 0
fi
for tool in debootstrap docker; do
  command -v "$tool" >/dev/null 2>&1 || { echo "svclab: $tool not found (apt-get install -y ${tool/docker/docker.io})" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "svclab: debootstrap needs root" >&2; exit 1; }

# The Debian mirror apt uses for bookworm main (deb822 .sources files and one-line .list files),
# so the build reaches exactly what `apt-get install` reaches on this machine.
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""; FS="\n"} {
      uris=""; suites=""; comps=""; enabled=1
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
        if ($i ~ /^Suites:/) { suites = " " $i " " }
        if ($i ~ /^Components:/) { comps = " " $i " " }
        if ($i ~ /^Enabled:[ \t]*no/) enabled = 0
      }
      if (enabled && suites ~ / bookworm / && comps ~ / main /) { split(uris, u, /[ \t]+/); print u[1]; exit }
    }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == "bookworm" && / main/) { print $i; exit } }' "$f"
  done
}
MIRROR=${SVCLAB_DEBIAN_MIRROR:-$(mirror | head -n 1)}
if [ -z "$MIRROR" ]; then
  echo "svclab: found no Debian bookworm main mirror in /etc/apt/sources.list*; set SVCLAB_DEBIAN_MIRROR" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/svclab-node-rootfs.XXXXXX)
trap 'rm -rf --one-file-system "$dir"' EXIT
echo "svclab: debootstrap bookworm ($PACKAGES) from $MIRROR into $dir"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$dir" "$MIRROR" >"$dir.log" 2>&1 || {
  echo "svclab: debootstrap failed; last lines of $dir.log:" >&2
  tail -n 20 "$dir.log" >&2
  exit 1
}
rm -f "$dir.log"
# Smaller image: no package lists or caches (the image is never apt-updated in place).
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
tar -C "$dir" -c . | docker import \
  --change 'CMD ["sleep", "infinity"]' \
  --change 'LABEL dev.svclab.node-image="1"' \
  - "$TAG" >/dev/null
echo "svclab: built node image $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
