#!/usr/bin/env bash
# Starts a dockerd for svclab's docker provider when none answers, and waits until it does.
#
# Why these flags: a default dockerd changes the host's root network namespace (it creates
# docker0, adds NAT and filter rules, and sets net.ipv4.ip_forward=1). svclab never changes the
# host's network, so this dockerd makes no default bridge, writes no iptables rules and leaves
# ip_forward alone. svclab's lab networks are `--internal` bridges with nothing routed out.
#
# Idempotent: when a dockerd already answers on the socket (ours or the user's), nothing is
# started. Only a dockerd started here is recorded in the pidfile, so stop-dockerd.sh never stops
# somebody else's daemon.
set -euo pipefail

PIDFILE=${SVCLAB_DOCKERD_PIDFILE:-/run/svclab-dockerd/dockerd.pid}
LOG=${SVCLAB_DOCKERD_LOG:-/tmp/dockerd.log}
DATA_ROOT=${SVCLAB_DOCKERD_DATA_ROOT:-/var/lib/docker}
SOCKET=/var/run/docker.sock
DEADLINE_S=${SVCLAB_DOCKERD_TIMEOUT:-60}

answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then
  echo "svclab: dockerd already answers on $SOCKET (server $(docker version --format '{{.Server.Version}}')); not starting another"
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "svclab: dockerd not found; install it with: apt-get install -y docker.io (its packaged service must not run: a default dockerd changes the host network; see scripts/docker/README.md)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "svclab: starting dockerd needs root" >&2
  exit 1
fi

mkdir -p "$(dirname "$PIDFILE")"
dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false --data-root "$DATA_ROOT" >"$LOG" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"
echo "svclab: started dockerd (pid $pid, log $LOG): --bridge=none --iptables=false --ip6tables=false --ip-forward=false --data-root $DATA_ROOT"

end=$(( $(date +%s) + DEADLINE_S ))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PIDFILE"
    echo "svclab: dockerd exited before answering; last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  if [ "$(date +%s)" -ge "$end" ]; then
    echo "svclab: dockerd (pid $pid) did not answer on $SOCKET within ${DEADLINE_S}s; see $LOG" >&2
    exit 1
  fi
  sleep 0.2
done
echo "svclab: dockerd answers on $SOCKET (server $(docker version --format '{{.Server.Version}}'))"
