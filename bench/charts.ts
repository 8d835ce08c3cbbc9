import { writeFileSync } from 'node:fs';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * The bench's figures as SVG, drawn by Vega-Lite (compiled to Vega and rendered headless, no browser),
 * so a chart is a declaration of its data and encodings rather than hand-placed shapes.
 */
async function render(file: string, spec: TopLevelSpec): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  writeFileSync(file, await view.toSVG());
  view.finalize();
}

const font = { config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 }, legend: { labelFontSize: 11, labelLimit: 400 } } };

/** Each server's throughput relative to bare node:http, and its CPU time per request (both medians). */
export function sideBySideChart(file: string, rows: Array<{ server: string; rpsRatio: number; cpuUs: number; kind: string }>): Promise<void> {
  const bar = (field: string, title: string, labels: boolean) => ({
    width: 240,
    height: { step: 18 },
    mark: { type: 'bar' as const },
    encoding: {
      y: { field: 'server', type: 'nominal' as const, sort: null, title: null, axis: labels ? {} : null },
      x: { field, type: 'quantitative' as const, title },
      color: { field: 'kind', type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const } },
    },
  });
  return render(file, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Cache hits side by side: GET /packages, 50 connections, medians of interleaved rounds',
    data: { values: rows },
    hconcat: [bar('rpsRatio', 'req/s relative to bare node:http', true), bar('cpuUs', 'server CPU µs per request (lower is better)', false)],
    ...font,
  });
}

/** Upstream calls a minute against consumer requests a minute, log-log, for the service and a pass-through. */
export function upstreamChart(file: string, points: Array<{ series: string; consumerPerMinute: number; upstreamPerMinute: number }>): Promise<void> {
  return render(file, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Upstream calls a minute, against consumer requests a minute',
    width: 420,
    height: 280,
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'consumerPerMinute', type: 'quantitative', scale: { type: 'log' }, title: 'consumer requests a minute' },
      y: { field: 'upstreamPerMinute', type: 'quantitative', scale: { type: 'log' }, title: 'upstream calls a minute' },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 1, labelLimit: 400 } },
      // The service's two lines lie on each other (one call per key per freshness, however many instances).
      strokeDash: { field: 'series', type: 'nominal', legend: null },
    },
    ...font,
  });
}

/** Bytes of each answer in each content coding. */
export function bytesChart(file: string, rows: Array<{ answer: string; coding: string; bytes: number }>): Promise<void> {
  return render(file, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Bytes per answer, by content coding',
    width: 420,
    height: 240,
    data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'answer', type: 'nominal', title: null, axis: { labelAngle: 0, labelLimit: 200 } },
      xOffset: { field: 'coding', type: 'nominal', sort: ['identity', 'gzip', 'br'] },
      y: { field: 'bytes', type: 'quantitative', title: 'bytes' },
      color: { field: 'coding', type: 'nominal', sort: ['identity', 'gzip', 'br'], title: 'coding' },
    },
    ...font,
  });
}
