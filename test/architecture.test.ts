import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every import between files of src/ (type imports included), as `from → to` paths relative to src/. */
function importGraph(root = 'src'): Map<string, string[]> {
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)[^;]*?from '(\.[^']+)'/gm)].map((m) => relative(root, normalize(join(root, dirname(file), m[1]!))).replace(/\.js$/, '.ts'));
    graph.set(file, targets);
  }
  return graph;
}

/** The first cycle found by a depth-first walk, or null. */
function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('the import graph', () => {
  const graph = importGraph();

  it('has no cycle between files', () => {
    expect(graph.size).toBeGreaterThan(40);
    expect(findCycle(graph)).toBeNull();
  });

  it('has no two folders importing each other', () => {
    const folders = new Map<string, string[]>();
    for (const [file, targets] of graph) {
      const from = dirname(file);
      folders.set(from, [...(folders.get(from) ?? []), ...targets.map(dirname).filter((to) => to !== from)]);
    }
    expect(findCycle(folders)).toBeNull();
  });

  it('finds a cycle where there is one (the check itself works)', () => {
    expect(findCycle(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']]]))).toEqual(['a.ts', 'b.ts', 'c.ts', 'a.ts']);
  });
});
