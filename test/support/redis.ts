import { createServer, connect, type Server, type Socket } from 'node:net';
import { inject } from 'vitest';
import { Redis } from 'ioredis';

/**
 * A clean logical database on the run's real Redis, for one test file: files run in parallel, so each
 * takes its own database number and flushes it.
 */
export async function cleanRedisUrl(): Promise<string> {
  const base = new URL(inject('redisUrl'));
  base.pathname = '/0';
  const admin = new Redis(base.toString());
  const n = await admin.incr('kbff-test:db');
  const db = 1 + (n % 15);
  await admin.select(db);
  await admin.flushdb();
  await admin.quit();
  base.pathname = `/${db}`;
  return base.toString();
}

/**
 * A loopback TCP proxy in front of a real Redis, so a test can make Redis vanish (connections reset,
 * new ones refused) or hang (bytes swallowed), then bring it back, whatever Redis the run uses.
 */
export class RedisProxy {
  #server: Server | null = null;
  #sockets = new Set<Socket>();
  #hanging = false;
  #delayMs = 0;
  /** Answers held back while Redis is stalled, in order; null when it is not. */
  #held: Array<() => void> | null = null;
  port = 0;

  constructor(private readonly target: string) {}

  get url(): string {
    const t = new URL(this.target);
    return `redis://127.0.0.1:${this.port}${t.pathname}`;
  }

  async start(): Promise<void> {
    const t = new URL(this.target);
    const server = createServer((client) => {
      const upstream = connect(Number(t.port || 6379), t.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (d) => this.#hanging || upstream.write(d));
      upstream.on('data', (d) => {
        if (this.#hanging) return;
        if (this.#held) this.#held.push(() => client.write(d));
        // Timers of one delay fire in the order they were set: answers stay in order.
        else if (this.#delayMs) setTimeout(() => client.write(d), this.#delayMs);
        else client.write(d);
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Redis is gone: open connections reset, new ones refused. */
  async kill(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#server = null;
  }

  /** Redis answers late: its answers are held back until `stall(false)`, then delivered in order. */
  stall(on = true): void {
    const held = this.#held;
    this.#held = on ? (held ?? []) : null;
    if (!on) for (const deliver of held ?? []) deliver();
  }

  /** Redis is `ms` away: every answer arrives that much later, so each round trip a request waits on costs `ms`. */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Redis accepts bytes and never answers. */
  hang(on = true): void {
    this.#hanging = on;
  }
}
