#!/usr/bin/env bash
# The main job: install what is missing, build, and run the default suites against the embedded
# netns lab (iptables mode, as kube-proxy's default). Usage: scripts/main.sh [svclab test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec node bin/svclab.js test "$@"
