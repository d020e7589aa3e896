/**
 * The numbers of the talk svclab grew from ("Kubernetes Service 在大规模场景下的优化实战", Du Jun,
 * Huawei Cloud; seed/talk-kubernetes-service-at-scale.txt), as printed. Its setup is not stated
 * beyond what is quoted here (kernel, machine and iptables version unknown), so comparisons are
 * about shapes, not absolute values.
 */

/** "增加 1 条规则时延": time to add one rule with N Services present (rules: 8 / 40,000 / 160,000). */
export const TALK_ADD_RULE = [
  { services: 1, iptables: '50 us', ipvs: '30 us', iptablesMs: 0.05, ipvsMs: 0.03 },
  { services: 5000, iptables: '11 min', ipvs: '50 us', iptablesMs: 11 * 60_000, ipvsMs: 0.05 },
  { services: 20000, iptables: '5 hours', ipvs: '70 us', iptablesMs: 5 * 3_600_000, ipvsMs: 0.07 },
] as const;

/** iperf bandwidth (unit not printed) to the first and last Service; each Service exposes 4 ports. */
export const TALK_IPERF = [
  { services: 1, iptablesFirst: 66.6, iptablesLast: 66.6, ipvsFirst: 65.3, ipvsLast: 65.3 },
  { services: 1000, iptablesFirst: 64, iptablesLast: 56, ipvsFirst: 61.7, ipvsLast: 55.3 },
  { services: 5000, iptablesFirst: 50, iptablesLast: 38.6, ipvsFirst: 53.5, ipvsLast: 53.8 },
  { services: 10000, iptablesFirst: 15, iptablesLast: 6, ipvsFirst: 43, ipvsLast: 43.5 },
  { services: 25000, iptablesFirst: 0, iptablesLast: 0, ipvsFirst: 30, ipvsLast: 28.5 },
  { services: 50000, iptablesFirst: 0, iptablesLast: 0, ipvsFirst: 24, ipvsLast: 23.8 },
] as const;

/** Memory use (of the node; what was counted is not stated) and CPU use. */
export const TALK_MEMORY = [
  { services: 1000, ipvs: '386 MB', iptables: '1.1 GB', cpuIpvs: 'N/A', cpuIptables: 'N/A' },
  { services: 5000, ipvs: 'N/A', iptables: '1.9 GB', cpuIpvs: 'N/A', cpuIptables: '50%-85%' },
  { services: 10000, ipvs: '542 MB', iptables: '2.3 GB', cpuIpvs: '0%', cpuIptables: '50%-100%' },
  { services: 15000, ipvs: 'N/A', iptables: 'OOM', cpuIpvs: 'N/A', cpuIptables: 'N/A' },
  { services: 50000, ipvs: '1272 MB', iptables: 'OOM', cpuIpvs: 'N/A', cpuIptables: 'N/A' },
] as const;
