/**
 * HTML with escaping by default: `markup` is a tagged template whose interpolations are escaped
 * unless they are already `Html` (a fragment built the same way, or markup from a generator that
 * escapes its own text, like the SVG charts). The report's inputs carry user-controlled names
 * (suites, tests, topology files, failure messages), so no string reaches the page unescaped.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Markup that is trusted as is (it escapes its own text). */
export function raw(markup: string): Html {
  return new Html(markup);
}

export type Interpolation = Html | string | number | boolean | null | undefined | Interpolation[];

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function render(v: Interpolation): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

export function markup(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

/** A table cell: text (escaped) or markup; `num` right-aligns it, `pre` keeps its line breaks. */
export type Cell =
  string | number | Html | { value: string | number | Html; num?: boolean; pre?: boolean };

export interface TableSpec {
  /** Unique on the page: the browser test finds tables by it. */
  id: string;
  caption: string;
  head: string[];
  rows: Cell[][];
  /** Shown instead of an empty table. */
  empty?: string;
}

export function table(t: TableSpec): Html {
  if (t.rows.length === 0 && t.empty !== undefined)
    return markup`<p class="empty" id="${t.id}">${t.caption}: ${t.empty}</p>`;
  const cell = (c: Cell) => {
    const { value, num, pre } =
      typeof c === 'object' && !(c instanceof Html)
        ? c
        : { value: c, num: typeof c === 'number', pre: false };
    const cls = num ? raw(' class="num"') : pre ? raw(' class="pre"') : '';
    return markup`<td${cls}>${value}</td>`;
  };
  return markup`<table id="${t.id}">
<caption>${t.caption}</caption>
<thead><tr>${t.head.map((h) => markup`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>
${t.rows.map((r) => markup`<tr>${r.map(cell)}</tr>\n`)}</tbody>
</table>
`;
}
