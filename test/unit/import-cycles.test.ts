// The folders of src/ are layers: no runtime import cycle between them (a file at the root of src/
// counts as a folder of its own; `import type` does not count). A cycle found is printed with
// the imports that make it.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { describeCycle, folderCycles, runtimeImports } from '../fixtures/import-graph.js';

const SRC = join(import.meta.dirname, '../../src');

test('no runtime import cycle between the folders of src/', () => {
  const imports = runtimeImports(SRC);
  expect(imports.length).toBeGreaterThan(100); // the walk found the tree
  const cycles = folderCycles(imports);
  expect(cycles.map((c) => c.folders.join(' → ')), `import cycles between folders of src/:\n${cycles.map(describeCycle).join('\n')}`).toEqual([]);
});

describe('the check itself, on small trees', () => {
  /** A source tree in a temporary directory: path → text. */
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'proxyd-imports-'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  test('finds a cycle through three folders and a root file, the shortest way round, with the imports that make it', () => {
    const root = tree({
      'a/one.ts': "import { b } from '../b/two.js';\nexport const a = () => b;\n",
      'b/two.ts': "import { c } from '../c/index.js';\nexport const b = () => c;\n",
      'c/index.ts': "export { root as c } from '../root.js';\n",
      'root.ts': "export const root = async () => (await import('./a/one.js')).a;\n",
      'd/alone.ts': "import { a } from '../a/one.js';\nexport const d = a;\n",
    });
    const cycles = folderCycles(runtimeImports(root));
    expect(cycles.map(describeCycle)).toEqual([
      ['a → b → c → root.ts → a', '  a/one.ts imports b/two.ts', '  b/two.ts imports c/index.ts', '  c/index.ts imports root.ts', '  root.ts imports a/one.ts'].join('\n'),
    ]);
  });

  test('type-only imports do not count: import type, inline type specifiers, names used only as types', () => {
    const root = tree({
      'a/one.ts': "import type { B } from '../b/two.js';\nexport type { B };\nexport const a = 1;\n",
      'b/two.ts': "import { type C } from '../c/three.js';\nexport interface B { c: C }\n",
      'c/three.ts': "import { a } from '../a/one.js';\nimport { Shape } from '../b/shape.js';\nexport interface C { s: Shape }\nexport const c = a;\n",
      'b/shape.ts': 'export interface Shape { x: number }\n',
    });
    const imports = runtimeImports(root);
    expect(imports).toEqual([{ from: 'c/three.ts', to: 'a/one.ts' }]);
    expect(folderCycles(imports)).toEqual([]);
  });

  test('the outbound ↔ mirror cycle as it was (mirror.ts used the group\'s health, outbound/kinds.ts the mirrors)', () => {
    const root = tree({
      'mirror/mirror.ts': "import { MemberHealth } from '../outbound/group/health.js';\nexport const m = new MemberHealth();\n",
      'mirror/index.ts': "export const load = () => import('./mirror.js');\n",
      'outbound/group/health.ts': 'export class MemberHealth {}\n',
      'outbound/kinds.ts': "import { load } from '../mirror/index.js';\nexport const kinds = { mirror: load };\n",
    });
    expect(folderCycles(runtimeImports(root)).map(describeCycle)).toEqual([
      'mirror → outbound → mirror\n  mirror/mirror.ts imports outbound/group/health.ts\n  outbound/kinds.ts imports mirror/index.ts',
    ]);
  });
});
