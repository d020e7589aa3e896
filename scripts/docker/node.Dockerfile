# svclab's node image for the docker provider: a Debian node with the tools a Service proxy and
# the lab need (the same ones svclab's netns provider uses on the host). Build it where a registry
# is reachable:
#   docker build -f scripts/docker/node.Dockerfile -t "$(cat scripts/docker/node-image.tag)" scripts/docker
# Without a registry, scripts/docker/build-node-image.sh makes the same image with debootstrap
# from the Debian mirror apt already uses.
#
# Node.js is not installed: the provider bind-mounts the host's node binary and svclab's dist/
# read-only into every container (libstdc++6 is here for that binary). An image that installs
# Node.js itself works too; see src/cluster/docker/node.ts.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iproute2 iptables ipset nftables ipvsadm conntrack procps libstdc++6 \
 && rm -rf /var/lib/apt/lists/*
LABEL dev.svclab.node-image="1"
# The container only has to stay up: svclab runs everything with `docker exec`.
CMD ["sleep", "infinity"]
