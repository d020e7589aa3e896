import type { FidelityReport, FidelityResult } from '../report/fidelity.js';
import { DECLARED_DIFFERENCES, renderDeclarations } from './declared.js';
import type { FidelityMode, OwnerComparison } from './diff.js';

export const REPORT_JSON = 'fidelity.json';
export const REPORT_MD = 'fidelity.md';

/** What one mode's comparison was made of, beside its results. */
export interface ModeRun {
  mode: FidelityMode;
  /** The lab the comparison ran in (removed when it ended). */
  lab: string;
  /** kube-proxy's configuration as svclab's planner was set up to follow it. */
  configuration: string[];
  /** Per source (a topology file or a generated set): its comparisons. */
  sources: { source: string; comparisons: OwnerComparison[] }[];
  notes: string[];
}

/**
 * The report `svclab fidelity` writes: the shape src/report/fidelity.ts reads (kind, generatedAt,
 * kubeVersion, one result per mode, source and Service port), plus what the page does not show
 * (the command, the node, per-mode configuration and notes, the declarations in force, and the
 * count of undeclared differences the exit code follows).
 */
/** A result as the page reads it, plus the declaration ids and each side's line count. */
export type FullResult = FidelityResult & {
  declared?: string[];
  lines?: OwnerComparison['lines'];
};

export interface FullFidelityReport extends FidelityReport {
  results: FullResult[];
  command: string;
  /** Runs merged into this report after the first (`--merge-into`), in order. */
  merged?: { command: string; generatedAt: string }[] | undefined;
  node: string;
  topology: string;
  /** Modes compared here (IPVS only when asked for, see notes). */
  modes: {
    mode: FidelityMode;
    lab: string;
    configuration: string[];
    notes: string[];
  }[];
  notes: string[];
  declarations: {
    id: string;
    mode: string;
    side: string;
    what: string;
    why: string;
    since: string;
  }[];
  undeclared: number;
}

export const FENCE_NOTE =
  "svclab's sync fence (svclab-system/svclab-sync-fence, an ExternalName Service, and its EndpointSlice) is in the API both proxies read; neither programs it (kube-proxy skips ExternalName Services, as svclab's API reader does), and a rule for it would show as a difference of no Service port.";

/** For a report without an IPVS run: how to get one. */
export const IPVS_NOTE =
  'IPVS is compared only when asked for (`--mode ipvs`; it runs in the VM when the host kernel has no IP_VS): see docs/fidelity/ipvs/.';

/** For a report with an IPVS run: what that comparison reads, and what it leaves out. */
export const IPVS_COMPARED_NOTE =
  "ipvs: compared are `ipvsadm -Sn` (virtual servers in text order, real servers in text order within theirs, scheduler, persistence, flags, forwarding method and weight as printed) with the node's IPVS timeouts (`ipvsadm -Ln --timeout`), `ipset save` of the KUBE-* sets (create lines with type and options but the kernel's random initval, members sorted), kube-ipvs0's flags, state and addresses (`ip -o link` / `ip -o addr show dev kube-ipvs0`), the IPVS sysctls, and `iptables-save` / `ip6tables-save` as in iptables mode. A virtual server, its real servers, a set member and a kube-ipvs0 address belong to the Service port whose address:port, NodePort, endpoint, healthCheckNodePort or Service IP they hold; set definitions, the set-matching iptables rules, the timeouts, the device and the sysctls IPVS mode sets (`net.ipv4.vs.conntrack`, `conn_reuse_mode`, `expire_nodest_conn`, `expire_quiescent_template`, `net.ipv4.ip_forward`, `conf.all.arp_ignore` and `arp_announce`, per network namespace) are the constant part. Not compared: connection state (what the persistence matrix measures).";

export function buildReport(opts: {
  command: string;
  node: string;
  topology: string;
  kubeVersion: string;
  runs: ModeRun[];
  notes?: string[];
  now?: Date;
}): FullFidelityReport {
  const results: FullResult[] = [];
  for (const run of opts.runs)
    for (const { source, comparisons } of run.sources)
      for (const c of comparisons) {
        // Empty on both sides (a Service port neither proxy writes anything for, which the
        // node-wide groups of a table without Services can be) is still a result: identical.
        const r: FullResult = {
          mode: run.mode,
          source,
          servicePort: c.servicePort,
          status: c.status,
        };
        if (c.declared.length > 0) {
          // One entry per declaration id (its sides share the id and the reason).
          const byId = new Map(c.declared.map((d) => [d.id, d] as const));
          r.reason = [...byId.values()].map((d) => `${d.id}: ${d.why}`).join(' ');
          r.declared = [...byId.keys()];
        }
        r.lines = c.lines;
        if (c.firstDifference) r.firstDifference = c.firstDifference;
        results.push(r);
      }
  return {
    kind: 'FidelityReport',
    generatedAt: (opts.now ?? new Date()).toISOString(),
    kubeVersion: opts.kubeVersion,
    command: opts.command,
    node: opts.node,
    topology: opts.topology,
    modes: opts.runs.map((r) => ({
      mode: r.mode,
      lab: r.lab,
      configuration: r.configuration,
      notes: r.notes,
    })),
    notes: [
      opts.runs.some((r) => r.mode === 'ipvs') ? IPVS_COMPARED_NOTE : IPVS_NOTE,
      FENCE_NOTE,
      ...(opts.notes ?? []),
    ],
    declarations: DECLARED_DIFFERENCES.map((d) => ({
      id: d.id,
      mode: d.mode,
      side: d.side,
      what: d.what,
      why: d.why,
      since: d.since,
    })),
    results,
    undeclared: results.filter((r) => r.status === 'different').length,
  };
}

function counts(results: readonly FidelityResult[]) {
  return {
    identical: results.filter((r) => r.status === 'identical').length,
    declared: results.filter((r) => r.status === 'declared').length,
    different: results.filter((r) => r.status === 'different').length,
  };
}

/** The terminal form: a table per mode and source, then every difference with its first lines. */
export function renderText(r: FullFidelityReport): string {
  const out: string[] = [
    `svclab's planners against kube-proxy ${r.kubeVersion}, node ${r.node} of ${r.topology}`,
    '',
  ];
  const rows: string[][] = [['MODE', 'SOURCE', 'SERVICE PORT', 'STATUS']];
  for (const x of r.results) rows.push([x.mode, x.source, x.servicePort, x.status]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows)
    out.push(
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  const diffs = r.results.filter((x) => x.status !== 'identical');
  if (diffs.length > 0) out.push('', "Differences ('-' kube-proxy, '+' svclab):");
  for (const x of diffs) {
    const why = x.declared ? ` (declared: ${x.declared.join(', ')})` : '';
    out.push('', `${x.mode} ${x.source} ${x.servicePort}: ${x.status}${why}`);
    for (const l of x.firstDifference ?? []) out.push(`    ${l}`);
  }
  out.push('');
  for (const m of r.modes) {
    const c = counts(r.results.filter((x) => x.mode === m.mode));
    out.push(
      `${m.mode}: ${c.identical} identical, ${c.declared} declared, ${c.different} undeclared; planner set up as kube-proxy: ${m.configuration.join(', ')}`,
    );
    for (const n of m.notes) out.push(`  note: ${n}`);
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push(
    r.undeclared === 0
      ? 'no undeclared differences'
      : `${r.undeclared} undeclared difference(s): fix the planner or declare them in src/fidelity/declared.ts`,
  );
  return out.join('\n') + '\n';
}

/** docs/fidelity style: the command, per-mode counts, every difference, the declarations. */
export function renderMarkdown(r: FullFidelityReport): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out: string[] = [
    `# svclab's planners against kube-proxy ${r.kubeVersion}`,
    '',
    `Generated ${r.generatedAt} by \`${r.command}\`${(r.merged ?? []).map((m) => `, merged with ${m.generatedAt}'s \`${m.command}\``).join('')}: node \`${r.node}\` of \`${r.topology}\`, the real kube-proxy's kernel state against svclab's planner's in a twin namespace, on the same Services and EndpointSlices (read from the lab's API server after kube-proxy's sync).`,
    '',
    '| mode | sources | Service ports | identical | declared | undeclared |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const m of r.modes) {
    const of = r.results.filter((x) => x.mode === m.mode);
    const c = counts(of);
    out.push(
      `| ${m.mode} | ${new Set(of.map((x) => x.source)).size} | ${of.length} | ${c.identical} | ${c.declared} | ${c.different} |`,
    );
  }
  out.push('', '## Configuration', '');
  for (const m of r.modes) out.push(`- ${m.mode}: ${m.configuration.join(', ')}`);
  out.push('', '## Results', '');
  out.push(
    '| mode | source | Service port | status | declared | lines (kube-proxy / svclab) |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const x of r.results)
    out.push(
      `| ${x.mode} | ${esc(x.source)} | \`${esc(x.servicePort)}\` | ${x.status} | ${(x.declared ?? []).map((d) => `\`${d}\``).join(', ')} | ${x.lines ? `${x.lines.kubeProxy} / ${x.lines.svclab}` : ''} |`,
    );
  const diffs = r.results.filter((x) => x.status !== 'identical');
  if (diffs.length > 0) {
    out.push('', "## First differing lines ('-' kube-proxy, '+' svclab)", '');
    for (const x of diffs) {
      out.push(`### ${x.mode}, ${x.source}, \`${x.servicePort}\`: ${x.status}`, '', '```');
      out.push(...(x.firstDifference ?? []), '```', '');
    }
  }
  out.push('', '## Notes', '');
  for (const m of r.modes) for (const n of m.notes) out.push(`- ${m.mode}: ${n}`);
  for (const n of r.notes) out.push(`- ${n}`);
  out.push('', '## Declared differences (src/fidelity/declared.ts)', '', renderDeclarations());
  return out.join('\n').replace(/\n{3,}/g, '\n\n') + '\n';
}

/**
 * A report with another run's results added (`svclab fidelity --merge-into`): a long comparison
 * (200 generated sets in the VM) made in parts. Both must compare the same node of the same
 * topology against the same kube-proxy, with the planner set up the same way; a source compared
 * again replaces its results. Results are ordered by mode as first seen, then by source (a
 * generated set by its number).
 */
export function mergeFidelityReports(
  base: FullFidelityReport,
  next: FullFidelityReport,
): FullFidelityReport {
  const mismatch = mergeMismatch(base, next);
  if (mismatch) throw new Error(mismatch);
  // A source compared again replaces its results, and with them what the earlier run noted of it
  // (a note about one source starts with its label, as `compareMode` writes them).
  const again = new Set(next.results.map((x) => `${x.mode}\0${x.source}`));
  const modes = base.modes.map((m) => ({
    ...m,
    notes: m.notes.filter((n) => !again.has(`${m.mode}\0${n.split(': ')[0]}`)),
  }));
  for (const m of next.modes) {
    const had = modes.find((x) => x.mode === m.mode);
    if (!had) {
      modes.push({ ...m, notes: [...m.notes] });
      continue;
    }
    if (JSON.stringify(had.configuration) !== JSON.stringify(m.configuration))
      throw new Error(
        `modes[${m.mode}].configuration: the planner was set up as "${had.configuration.join(', ')}" in the report merged into and as "${m.configuration.join(', ')}" in this run`,
      );
    had.lab = [...new Set([...had.lab.split(', '), m.lab])].join(', ');
    for (const n of m.notes) if (!had.notes.includes(n)) had.notes.push(n);
  }
  const replaced = again;
  const order = modes.map((m) => m.mode as string);
  const results = [
    ...base.results.filter((x) => !replaced.has(`${x.mode}\0${x.source}`)),
    ...next.results,
  ]
    .map((x, i) => ({ x, i }))
    .sort(
      (a, b) =>
        order.indexOf(a.x.mode) - order.indexOf(b.x.mode) ||
        compareSources(a.x.source, b.x.source) ||
        a.i - b.i,
    )
    .map(({ x }) => x);
  return {
    ...next,
    command: base.command,
    generatedAt: base.generatedAt,
    merged: [...(base.merged ?? []), { command: next.command, generatedAt: next.generatedAt }],
    modes,
    notes: [...new Set([...base.notes, ...next.notes])],
    results,
    undeclared: results.filter((r) => r.status === 'different').length,
  };
}

/**
 * Why a run cannot be merged into `base`, for the fields of it that are given (the CLI checks all
 * three before the run, the merge again after it): undefined when they agree.
 */
export function mergeMismatch(
  base: Pick<FullFidelityReport, 'kubeVersion' | 'node' | 'topology'>,
  next: Partial<Pick<FullFidelityReport, 'kubeVersion' | 'node' | 'topology'>>,
): string | undefined {
  for (const field of ['kubeVersion', 'node', 'topology'] as const) {
    const value = next[field];
    if (value !== undefined && base[field] !== value)
      return `${field}: the report merged into has ${JSON.stringify(base[field])}, this run ${JSON.stringify(value)}`;
  }
  return undefined;
}

/** Generated sets (`random seed 11 #12`) by seed and number; anything else by name. */
function compareSources(a: string, b: string): number {
  const key = (s: string) => /^random seed (\d+) #(\d+)$/.exec(s);
  const ka = key(a);
  const kb = key(b);
  if (ka && kb) return Number(ka[1]) - Number(kb[1]) || Number(ka[2]) - Number(kb[2]);
  if (ka || kb) return ka ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}
