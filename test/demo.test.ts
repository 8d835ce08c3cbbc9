import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { freePort } from './support/ports.js';

/** The README's first command: the demo starts on its own simulator and answers what it prints. */
describe('npm run demo', () => {
  it('serves packages from the built-in simulator, with the printed consumer key', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], {
      env: { ...process.env, PORT: String(port), KATAPULT_API_TOKEN: '', REDIS_URL: 'redis://should-be-ignored:1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const printed: string[] = [];
    await new Promise<void>((resolve) =>
      createInterface({ input: child.stdout! }).on('line', (l) => {
        printed.push(l);
        if (l.startsWith('Ctrl-C')) resolve();
      }),
    );
    try {
      const base = `http://127.0.0.1:${port}`;
      expect(printed).toContain(`katapult-bff demo is up at ${base}`);
      expect(((await (await fetch(`${base}/packages`)).json()).packages as unknown[]).length).toBe(20);
      const key = /X-Api-Key: (\S+)'/.exec(printed.join('\n'))![1]!;
      const org = await fetch(`${base}/packages?organization=acme`, { headers: { 'x-api-key': key } });
      expect(org.status).toBe(200);
      // The printed workload token, from the demo's own identity provider, reads acme's packages.
      const token = /Authorization: Bearer (\S+)'/.exec(printed.join('\n'))![1]!;
      const workload = await fetch(`${base}/packages?organization=acme`, { headers: { authorization: `Bearer ${token}` } });
      expect([workload.status, ((await workload.json()).packages as unknown[]).length]).toEqual([200, 22]);
      // The picker, and the sign-in it links to, at the demo's own identity provider.
      expect((await (await fetch(`${base}/`)).text())).toContain('Package picker');
      const login = await fetch(`${base}/auth/login`, { redirect: 'manual' });
      const issuer = /identity provider \((http:\/\/127\.0\.0\.1:\d+)\)/.exec(printed.join('\n'))![1]!;
      expect([login.status, login.headers.get('location')!.startsWith(`${issuer}/auth?`)]).toEqual([302, true]);
      expect((await (await fetch(`${base}/readyz`)).json()).redis).toBe('not configured');
      // Log lines are written in batches, at least every second (LOG_FLUSH_MS).
      for (let i = 0; i < 40 && !printed.some((l) => l.includes('"demo mode')); i++) await new Promise((r) => setTimeout(r, 50));
      expect(printed.some((l) => l.includes('"demo mode'))).toBe(true);
    } finally {
      child.kill('SIGINT');
    }
  });
});
