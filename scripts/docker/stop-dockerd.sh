#!/usr/bin/env bash
# Stops the dockerd that start-dockerd.sh started (and only that one: it is found by the pidfile,
# and the PID must still be a dockerd). A dockerd the user runs is never touched.
set -euo pipefail

PIDFILE=${SVCLAB_DOCKERD_PIDFILE:-/run/svclab-dockerd/dockerd.pid}
DEADLINE_S=${SVCLAB_DOCKERD_TIMEOUT:-30}

if [ ! -f "$PIDFILE" ]; then
  echo "svclab: no dockerd started by svclab ($PIDFILE absent); nothing to stop"
  exit 0
fi
pid=$(cat "$PIDFILE")
if ! kill -0 "$pid" 2>/dev/null || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
  rm -f "$PIDFILE"
  echo "svclab: dockerd $pid from $PIDFILE is no longer running; removed the stale pidfile"
  exit 0
fi

# SIGTERM lets dockerd stop its containers and its managed containerd cleanly.
kill -TERM "$pid"
end=$(( $(date +%s) + DEADLINE_S ))
while kill -0 "$pid" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$end" ]; then
    echo "svclab: dockerd $pid did not exit within ${DEADLINE_S}s of SIGTERM; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    break
  fi
  sleep 0.2
done
rm -f "$PIDFILE"
echo "svclab: stopped dockerd $pid"
