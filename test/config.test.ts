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

  it('throws ConfigError, which main turns into a message and exit code 1', () => {
    expect(() => loadConfig({ PORT: 'x', KATAPULT_API_TOKEN: 't' })).toThrowError(ConfigError);
  });
});
