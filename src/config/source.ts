// A parsed YAML file that remembers positions, so every problem is reported as FILE:LINE:COL.
import { isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export interface Problem {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col} ${p.message}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

export class Source {
  readonly problems: Problem[] = [];
  readonly doc: Document;
  readonly #lines = new LineCounter();

  constructor(readonly file: string, text: string) {
    this.doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true });
    for (const e of [...this.doc.errors, ...this.doc.warnings]) {
      const pos = this.#lines.linePos(e.pos[0]);
      this.problems.push({ file, line: pos.line, col: pos.col, message: e.message.split('\n')[0]! });
    }
  }

  /** Records a problem at a node; `offset` moves into a scalar's text (past its opening quote). */
  error(node: Node | null | undefined, message: string, offset = 0): void {
    let start = node?.range?.[0] ?? 0;
    if (node && isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')) start += 1;
    const pos = this.#lines.linePos(start + offset);
    this.problems.push({ file: this.file, line: pos.line, col: pos.col, message });
  }
}
