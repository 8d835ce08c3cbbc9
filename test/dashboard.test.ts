import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';

/** The Grafana dashboard under deploy/ asks only for metrics the service exports. */
describe('Grafana dashboard', () => {
  let stack: Stack;
  let exported: Set<string>;
  beforeAll(async () => {
    stack = await startStack({ defaultMetrics: true });
    const text = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    // Every metric declares its type, with or without samples yet; a histogram's series add suffixes.
    exported = new Set(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])),
    );
  });
  afterAll(() => stack.close());

  const dashboard = JSON.parse(readFileSync('deploy/grafana/katapult-bff.json', 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\bkbff_[a-z0-9_]+/g)].map((m) => m[0])));

  it('references only metrics the service exports', () => {
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !exported.has(name))).toEqual([]);
  });

  it('shows what the issue asks to watch: tiers, the budget, stale serves, refusals, Redis and the circuit', () => {
    for (const name of ['kbff_cache_results_total', 'kbff_upstream_ratelimit_permitted', 'kbff_upstream_refusals_total', 'kbff_redis_errors_total', 'kbff_upstream_circuit_state']) {
      expect(used).toContain(name);
    }
  });

  it('would catch a metric that does not exist (the check can fail)', () => {
    expect(exported.has('kbff_no_such_metric_total')).toBe(false);
  });
});
