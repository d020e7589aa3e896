import { renderDeclarations } from './declared.js';

export const BEGIN =
  '<!-- declared-differences:begin (generated from src/fidelity/declared.ts) -->';
export const END = '<!-- declared-differences:end -->';

/**
 * docs/fidelity/README.md with its declarations table regenerated from src/fidelity/declared.ts
 * (between the markers; the rest of the page is prose kept by hand). A page without the markers
 * is returned as it is.
 */
export function refreshDeclarations(page: string): string {
  const a = page.indexOf(BEGIN);
  const b = page.indexOf(END);
  if (a < 0 || b < a) return page;
  return `${page.slice(0, a + BEGIN.length)}\n\n${renderDeclarations()}\n${page.slice(b)}`;
}
