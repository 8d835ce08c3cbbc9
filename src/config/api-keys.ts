import { createHash, timingSafeEqual } from 'node:crypto';
import { organizationParam } from '../domain/scope.js';
import type { OrgScope } from '../domain/scope.js';

/** A consumer of this service, known by its API key. `scopes` lists the organizations it may read. */
export interface Consumer {
  name: string;
  /** '*' for every organization; otherwise organization ids and sub-domains, as configured. */
  scopes: '*' | ReadonlySet<string>;
}

interface KeyEntry {
  consumer: Consumer;
  digest: Buffer;
}

/**
 * The configured API keys (`API_KEYS`: `name:key:scopes` joined by commas or newlines, `#` lines are
 * comments; `scopes` is `*` or
 * organizations joined by `|`; a key may be given as `sha256=<hex>`). Only SHA-256 digests are kept, and a
 * presented key is compared against every one of them in constant time.
 */
export class ConsumerKeys {
  private constructor(private readonly entries: KeyEntry[]) {}

  static readonly none = new ConsumerKeys([]);

  /** Throws an Error whose message names the entry by position, never by its key. */
  static parse(spec: string): ConsumerKeys {
    const entries: KeyEntry[] = [];
    const names = new Set<string>();
    spec
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'))
      .flatMap((line) => line.split(','))
      .map((s) => s.trim())
      .filter(Boolean)
      .forEach((item, i) => {
        const where = `entry ${i + 1}`;
        const parts = item.split(':');
        if (parts.length !== 3) throw new Error(`${where} must be name:key:scopes`);
        const [name, key, scopes] = parts as [string, string, string];
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`${where}: the name may hold letters, digits, ".", "_" and "-"`);
        if (names.has(name)) throw new Error(`${where}: the name ${name} is used twice`);
        names.add(name);
        entries.push({ consumer: { name, scopes: parseScopes(scopes, where) }, digest: parseKey(key, where) });
      });
    return new ConsumerKeys(entries);
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * `path` with each segment that is a configured key (as sent or percent-decoded) replaced by `[key]`:
   * a key a client puts in a URL by mistake never reaches a log line. Only digests are held, so each
   * segment is hashed and compared.
   */
  redactPath(path: string): string {
    if (this.entries.length === 0) return path;
    let changed = false;
    const segments = path.split('/').map((segment) => {
      if (!segment || !(this.identify(segment) || (segment.includes('%') && this.identify(decoded(segment))))) return segment;
      changed = true;
      return '[key]';
    });
    return changed ? segments.join('/') : path;
  }

  /** The consumer whose key this is, or null. Every configured key is compared, match or not. */
  identify(presented: string): Consumer | null {
    const digest = sha256(presented);
    let found: Consumer | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest)) found = entry.consumer;
    }
    return found;
  }
}

/** May `consumer` read `scope`? Public packages need no scope; an organization must be listed (or `*`). */
export function mayRead(consumer: Consumer, scope: OrgScope): boolean {
  return scope.kind === 'public' || consumer.scopes === '*' || consumer.scopes.has(scope.value);
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function parseKey(key: string, where: string): Buffer {
  if (key.startsWith('sha256=')) {
    const hex = key.slice(7);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`${where}: sha256= must be followed by 64 hex digits`);
    return Buffer.from(hex, 'hex');
  }
  if (key.length < 16) throw new Error(`${where}: the key must be at least 16 characters`);
  return sha256(key);
}

function parseScopes(scopes: string, where: string): Consumer['scopes'] {
  if (scopes === '*') return '*';
  const set = new Set<string>();
  for (const s of scopes.split('|')) {
    const parsed = organizationParam.safeParse(s);
    if (!parsed.success) throw new Error(`${where}: scope "${s}" is not an organization id or sub-domain`);
    set.add(parsed.data.value);
  }
  return set;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
