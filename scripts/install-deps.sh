#!/usr/bin/env bash
# Installs the system packages svclab needs on Debian/Ubuntu, only those missing; then the npm
# dependencies and the build. Safe to run again. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool:package pairs. qemu, busybox and kmod are for the VM runner (IPVS on hosts without IP_VS);
# strace times the kernel's part of nft transactions (bench scale's nftables cost breakdown);
# chromium opens `svclab report`'s page in its browser test (src/report/report.e2e.test.ts).
NEEDED="ip:iproute2 iptables:iptables iptables-legacy-restore:iptables nft:nftables ipset:ipset
conntrack:conntrack ipvsadm:ipvsadm sysctl:procps iperf3:iperf3 qemu-system-x86_64:qemu-system-x86
busybox:busybox-static depmod:kmod cpio:cpio dpkg-deb:dpkg apt-get:apt /usr/bin/time:time
strace:strace chromium:chromium"
missing=()
for pair in $NEEDED; do
  tool=${pair%%:*} pkg=${pair##*:}
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ] && ! [ -x "/sbin/$tool" ] && ! [ -x "/bin/$tool" ]; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "svclab: missing packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "svclab: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "svclab: Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none)); install it (e.g. the nodejs package of your distribution if it is 20+, or NodeSource) and rerun" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "svclab: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

# The control plane is built from source (svclab kube build): Go 1.26 or newer, from the machine
# (go.dev/dl is not reachable from every lab machine; Debian's golang package is older).
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH=$PATH:/usr/local/go/bin; fi
if ! command -v go >/dev/null 2>&1; then
  echo "svclab: Go 1.26+ is needed to build the Kubernetes components (svclab kube build); install it into /usr/local/go" >&2
  exit 1
fi
