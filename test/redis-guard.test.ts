import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { RedisGuard } from '../src/redis/guard.js';
import { FakeClock } from './support/clock.js';
import { cleanRedisUrl, RedisProxy } from './support/redis.js';

/** The one way to Redis, against a real Redis behind a proxy that can make it hang. */
describe('Redis guard', () => {
  let proxy: RedisProxy;
  let client: Redis;
  beforeAll(async () => {
    proxy = new RedisProxy(await cleanRedisUrl());
    await proxy.start();
    client = new Redis(proxy.url, { commandTimeout: 100, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    await new Promise((resolve) => client.once('ready', resolve));
  });
  afterAll(async () => {
    client.disconnect();
    await proxy.kill();
  });

  it('counts every failure, skips a hanging Redis after repeated failures, and tries again after the cool-down', async () => {
    const clock = new FakeClock();
    const errors: string[] = [];
    const guard = new RedisGuard(client, clock, createLogger('silent'), (op) => errors.push(op), { failures: 3, cooldownMs: 1000 });
    await client.set('guarded', 'yes');
    expect(await guard.run('get', (r) => r.get('guarded'))).toBe('yes');
    expect(await guard.run('get', (r) => r.get('absent'))).toBeNull(); // Redis' own "none" is not a failure
    expect(guard.state).toBe('up');

    proxy.hang();
    for (const op of ['get', 'lock', 'budget']) expect(await guard.run(op, (r) => r.get('guarded'))).toBeUndefined();
    expect(errors).toEqual(['get', 'lock', 'budget']);
    // Open: the next command does not wait for the command timeout.
    const started = performance.now();
    expect(await guard.run('write', (r) => r.get('guarded'))).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(20);
    expect(errors).toEqual(['get', 'lock', 'budget', 'write']);
    expect(guard.state).toBe('down');

    // After the cool-down a command is tried again (it waits for the timeout: Redis still hangs).
    clock.advance(1000);
    const probe = performance.now();
    expect(await guard.run('get', (r) => r.get('guarded'))).toBeUndefined();
    expect(performance.now() - probe).toBeGreaterThanOrEqual(90);

    // Redis back: the client reconnects (swallowed replies leave the old connection out of step), and
    // the new connection is used at once.
    proxy.hang(false);
    client.disconnect(true);
    await new Promise((resolve) => client.once('ready', resolve));
    expect(await guard.run('get', (r) => r.get('guarded'))).toBe('yes');
    expect(guard.state).toBe('up');
  });
});
