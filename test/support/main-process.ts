import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { freePort } from './ports.js';

/**
 * The real process, as `npm start` runs it, in front of `upstream` (a Katapult base URL); resolves once
 * it has said it listens. Its stdout lines are collected in `lines`.
 */
export async function startMain(upstream: string, token: string, env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: token, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const listening = new Promise<void>((resolve) =>
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      if (l.includes('"listening"')) resolve();
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await listening;
  return { child, lines, exited, base: `http://127.0.0.1:${port}` };
}

/**
 * A process's resident memory in bytes (`/proc/<pid>/status`): now (`VmRSS`) and its peak (`VmHWM`)
 * since it started or since `resetPeak`.
 */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Starts a new peak of `memoryOf` at the process's current resident size (Linux `clear_refs`). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
