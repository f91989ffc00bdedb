// HTML text made safely: every value put into an html`` template is escaped, unless it is Html
// made by another template (so a target a client named can never become markup).

export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function partText(p: Part): string {
  if (p instanceof Html) return p.text;
  if (Array.isArray(p)) return p.map(partText).join('');
  if (p === null || p === undefined || p === false || p === true) return '';
  return escapeHtml(String(p));
}

export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0]!;
  parts.forEach((p, i) => (out += partText(p) + strings[i + 1]!));
  return new Html(out);
}
