import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';

describe('config', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({ KATAPULT_API_TOKEN: 't0ken' });
    expect(c).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      katapultApiUrl: 'https://api.katapult.io/core/v1',
      katapultTimeoutMs: 10_000,
      redis: null,
      freshMs: 300_000,
      staleMs: 86_400_000,
      logLevel: 'info',
    });
    expect(c.katapultToken?.reveal()).toBe('t0ken');
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT: /],
    [{ PORT: '70000' }, /^PORT: /],
    [{ KATAPULT_API_URL: 'ftp://x' }, /^KATAPULT_API_URL: /],
    [{ KATAPULT_TIMEOUT_MS: '-1' }, /^KATAPULT_TIMEOUT_MS: /],
    [{ REDIS_URL: 'localhost:6379' }, /^REDIS_URL: /],
    [{ CACHE_FRESH_SECONDS: '1.5' }, /^CACHE_FRESH_SECONDS: /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
  ])('rejects %o naming the variable', (env, message) => {
    expect(() => loadConfig({ KATAPULT_API_TOKEN: 't', ...env })).toThrowError(message);
  });

  it('requires a token for npm start, from the variable or a mounted file', () => {
    expect(() => loadConfig({})).toThrowError(/^KATAPULT_API_TOKEN: required/);
    const c = loadConfig({ KATAPULT_API_TOKEN_FILE: '/run/secrets/katapult' }, { readFile: () => 'from-file\n' });
    expect(c.katapultToken?.reveal()).toBe('from-file');
    expect(() => loadConfig({ KATAPULT_API_TOKEN_FILE: '/nope' })).toThrowError(/^KATAPULT_API_TOKEN_FILE: cannot read/);
    expect(() => loadConfig({ KATAPULT_API_TOKEN_FILE: '/x' }, { readFile: () => ' \n' })).toThrowError(/is empty/);
  });

  it('treats an empty variable as unset and never prints the token', () => {
    const c = loadConfig({ KATAPULT_API_TOKEN: 'sekrit-value', PORT: '', REDIS_URL: '' });
    expect(c.port).toBe(8080);
    expect(c.redis).toBeNull();
    expect(JSON.stringify(c)).not.toContain('sekrit-value');
    expect(String(c.katapultToken)).toBe('[redacted]');
  });

  it('takes Redis as one URL, Sentinels or Cluster nodes, and only one of them', () => {
    expect(loadConfig({ KATAPULT_API_TOKEN: 't', REDIS_URL: 'redis://r:6379/2' }).redis).toEqual({ kind: 'single', url: 'redis://r:6379/2' });
    expect(loadConfig({ KATAPULT_API_TOKEN: 't', REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'kbff' }).redis).toMatchObject({
      kind: 'sentinel',
      name: 'kbff',
      sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }],
    });
    expect(loadConfig({ KATAPULT_API_TOKEN: 't', REDIS_CLUSTER_NODES: 'a:7000,b:7001' }).redis).toMatchObject({ kind: 'cluster', nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }] });
    expect(() => loadConfig({ KATAPULT_API_TOKEN: 't', REDIS_URL: 'redis://r', REDIS_CLUSTER_NODES: 'a:1' })).toThrowError(/^REDIS_CLUSTER_NODES: set only one/);
    expect(() => loadConfig({ KATAPULT_API_TOKEN: 't', REDIS_SENTINELS: 'nohost' })).toThrowError(/^REDIS_SENTINELS: "nohost" is not host:port/);
  });

  it('bounds the refresh-ahead window by half the freshness, and derives it from the freshness when unset', () => {
    const t = { KATAPULT_API_TOKEN: 't' };
    expect(loadConfig(t).refreshAheadMs).toBe(30_000);
    expect(loadConfig({ ...t, CACHE_FRESH_SECONDS: '10' }).refreshAheadMs).toBe(1_000);
    expect(loadConfig({ ...t, CACHE_FRESH_SECONDS: '10', CACHE_REFRESH_AHEAD_SECONDS: '5' }).refreshAheadMs).toBe(5_000);
    expect(() => loadConfig({ ...t, CACHE_FRESH_SECONDS: '10', CACHE_REFRESH_AHEAD_SECONDS: '30' })).toThrowError(
      /^CACHE_REFRESH_AHEAD_SECONDS: 30 is more than half of CACHE_FRESH_SECONDS \(10\).*at most 5/,
    );
  });

  it('takes each consumer\'s upstream share and the trusted proxy hops', () => {
    const t = { KATAPULT_API_TOKEN: 't' };
    expect(loadConfig(t)).toMatchObject({ consumerUpstreamPerMinute: null, trustProxyHops: 0 });
    expect(loadConfig({ ...t, CONSUMER_UPSTREAM_PER_MINUTE: '40', TRUST_PROXY_HOPS: '2' })).toMatchObject({ consumerUpstreamPerMinute: 40, trustProxyHops: 2 });
    expect(() => loadConfig({ ...t, CONSUMER_UPSTREAM_PER_MINUTE: '0' })).toThrowError(/^CONSUMER_UPSTREAM_PER_MINUTE: /);
    expect(() => loadConfig({ ...t, TRUST_PROXY_HOPS: '-1' })).toThrowError(/^TRUST_PROXY_HOPS: /);
  });

  it('throws ConfigError, which main turns into a message and exit code 1', () => {
    expect(() => loadConfig({ PORT: 'x', KATAPULT_API_TOKEN: 't' })).toThrowError(ConfigError);
  });
});
