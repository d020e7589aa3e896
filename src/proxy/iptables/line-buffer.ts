/**
 * Where the iptables planner writes rules: kube-proxy's utiliptables.LineBuffer, as far as a
 * reader of the planner sees it (`write('-A', chain, ...args)`, arguments joined by spaces, an
 * argument may be a list of arguments), with what it takes to keep 400,000 rules at 50,000
 * Services cheap for the garbage collector hidden behind it.
 */

/** One argument of a rule, or several (kube-proxy's Write takes strings and []string alike). */
export type RuleArg = string | readonly string[];

/** The rules of a chain a port has none for; frozen, as plans share it. */
export const NONE: readonly string[] = Object.freeze([]);

/**
 * The restore lines of one Service port for one part of the restore input (node-wide nat rules,
 * its own chains, filter rules), kept as pieces until RestoreText joins them. A scratch buffer,
 * reused for every port: reset() names the chains its rules may go to.
 */
export class LineBuffer {
  private readonly parts: string[] = [];
  private partCount = 0;
  private length = 0;
  private chains: readonly string[] = NONE;
  private positions: Map<string, number> | undefined;
  /** Per rule: its chain (an index in the chains given to reset()), where it starts and ends. */
  readonly chainOf: number[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  ruleCount = 0;

  /** Empties the buffer; its rules may go to `chains` only (declared by the caller). */
  reset(chains: readonly string[]): this {
    this.partCount = this.length = this.ruleCount = 0;
    this.chains = chains;
    // indexOf for the few chains of most ports; a port with hundreds of endpoints gets a Map.
    this.positions = chains.length > 16 ? new Map(chains.map((c, i) => [c, i])) : undefined;
    return this;
  }

  /** Appends `-A <chain> <args...>`, an error for a chain not given to reset(). */
  write(append: '-A', chain: string, ...args: RuleArg[]): void {
    const index = this.positions ? (this.positions.get(chain) ?? -1) : this.chains.indexOf(chain);
    if (index < 0) throw new Error(`internal error: rule for undeclared chain ${chain}`);
    this.piece(append);
    this.piece(' ');
    this.piece(chain);
    this.chainOf[this.ruleCount] = index;
    // The rule as iptables-save prints it after `-A <chain> `.
    this.starts[this.ruleCount] = this.length + 1;
    const before = this.partCount;
    for (const arg of args) {
      if (typeof arg === 'string') {
        this.piece(' ');
        this.piece(arg);
      } else {
        for (const a of arg) {
          this.piece(' ');
          this.piece(a);
        }
      }
    }
    if (this.partCount === before) this.piece(' '); // no arguments: still `-A <chain> `
    this.ends[this.ruleCount++] = this.length;
    this.piece('\n');
  }

  /** `:<chain> - [0:0]` for each chain, kube-proxy's MakeChainLine. */
  declare(chains: readonly string[]): this {
    for (const chain of chains) {
      this.piece(':');
      this.piece(chain);
      this.piece(' - [0:0]\n');
    }
    return this;
  }

  /** The pieces and size, for RestoreText.append. */
  get pieceCount(): number {
    return this.partCount;
  }
  get size(): number {
    return this.length;
  }
  pieceAt(i: number): string {
    return this.parts[i]!;
  }

  private piece(s: string): void {
    this.parts[this.partCount++] = s;
    this.length += s.length;
  }
}

/**
 * The text of many ports' restore lines; its slices are their rules and their parts of the
 * restore input. At 50,000 Services a plan holds 400,000 rules, which later plans reuse, so they
 * outlive the young-generation collections that copy whatever survives them. As template
 * literals, each rule would be a tree of a dozen concatenations, copied once more into a line;
 * here the lines of a few hundred ports are joined into one text, which V8 allocates in its
 * large-object space (never copied), and each rule is one small slice of it. A text lives as long
 * as any slice of it: once partial syncs have replaced some of its Services, the others keep it.
 */
export class RestoreText {
  private readonly parts: string[] = [];
  private partCount = 0;
  private length = 0;
  /** Slices to make once the text exists: into which array and index, from where to where. */
  private readonly arrays: string[][] = [];
  private readonly indices: number[] = [];
  private readonly bounds: number[] = [];
  private sliceCount = 0;
  /** Sections to cut once the text exists: into which object and field, from where to where. */
  private readonly targets: Record<string, string>[] = [];
  private readonly fields: string[] = [];
  private readonly sectionBounds: number[] = [];

  /**
   * Just above V8's largest young-generation object (128 KiB); larger texts join more slowly
   * (per piece), and keep more memory alive per slice.
   */
  static readonly FLUSH_AT = 1 << 17;

  get size(): number {
    return this.length;
  }

  /**
   * Appends the lines and returns their rules per chain (as many arrays as the buffer has
   * chains), which flush() fills. Exactly sized: arrays grown by push keep up to 16 spare slots,
   * and plans keep these.
   */
  append(lines: LineBuffer, chains: number): (readonly string[])[] {
    const counts = new Array<number>(chains).fill(0);
    for (let k = 0; k < lines.ruleCount; k++) counts[lines.chainOf[k]!]!++;
    const rules = counts.map((n) => (n === 0 ? NONE : new Array<string>(n)));
    counts.fill(0);
    for (let k = 0; k < lines.ruleCount; k++) {
      const chain = lines.chainOf[k]!;
      const s = this.sliceCount++;
      this.arrays[s] = rules[chain] as string[];
      this.indices[s] = counts[chain]!++;
      this.bounds[2 * s] = this.length + lines.starts[k]!;
      this.bounds[2 * s + 1] = this.length + lines.ends[k]!;
    }
    for (let p = 0; p < lines.pieceCount; p++) this.parts[this.partCount++] = lines.pieceAt(p);
    this.length += lines.size;
    return rules;
  }

  /** At flush(), `target[field]` is set to the text appended from `start` to `end`. */
  section<K extends string>(start: number, end: number, target: Record<K, string>, field: K): void {
    this.targets.push(target as Record<string, string>);
    this.fields.push(field);
    this.sectionBounds.push(start, end);
  }

  flush(): void {
    this.parts.length = this.partCount;
    const text = this.parts.join('');
    for (let s = 0; s < this.sliceCount; s++)
      this.arrays[s]![this.indices[s]!] = text.slice(this.bounds[2 * s], this.bounds[2 * s + 1]);
    const b = this.sectionBounds;
    for (let i = 0; i < this.targets.length; i++)
      this.targets[i]![this.fields[i]!] = text.slice(b[2 * i], b[2 * i + 1]);
    this.partCount = this.length = this.sliceCount = 0;
    this.targets.length = this.fields.length = this.sectionBounds.length = 0;
  }
}
