import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { LogSink } from '../src/observability/log-sink.js';

/** The batched log destination, on a real file: lines are written in order, in batches, and never held long. */
describe('log sink', () => {
  const file = () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kbff-log-')), 'out.log');
    return { path, fd: openSync(path, 'w'), read: () => readFileSync(path, 'utf8') };
  };

  it('holds lines until its buffer fills, then writes them all, in order, after the current turn', async () => {
    const f = file();
    const sink = new LogSink(f.fd, 100, 60_000);
    for (let i = 0; i < 9; i++) sink.write(`line ${i} ..\n`); // 9 × 11 bytes: under the buffer
    await new Promise((r) => setImmediate(r));
    expect(f.read()).toBe('');
    sink.write('line 9 ..\n');
    expect(f.read()).toBe(''); // not inside the write that filled it
    await new Promise((r) => setImmediate(r));
    expect(f.read().split('\n').slice(0, -1)).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i} ..`));
    sink.close();
    closeSync(f.fd);
  });

  it('writes a line that waits alone within flushMs, and writes at once after close()', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const f = file();
      const sink = new LogSink(f.fd, 64 * 1024, 50);
      sink.write('first\n');
      vi.advanceTimersByTime(49);
      expect(f.read()).toBe('');
      vi.advanceTimersByTime(1);
      expect(f.read()).toBe('first\n');
      sink.close();
      sink.write('after close\n');
      expect(f.read()).toBe('first\nafter close\n');
      closeSync(f.fd);
    } finally {
      vi.useRealTimers();
    }
  });
});
