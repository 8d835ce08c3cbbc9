import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { Redis } from 'ioredis';
import { ensureChromium } from './chromium.js';
import { freePort, waitForRedis } from './ports.js';

/**
 * Finds a real Redis for the whole run, in this order: REDIS_URL; a `redis-server` on PATH, started on a
 * free loopback port; a container through testcontainers where a Docker engine answers; Debian's
 * redis-server installed with apt-get when running as root. Otherwise it stops and says what to install.
 * Debian's Chromium, for the browser test, the same way.
 */
let child: ChildProcess | undefined;
let stopContainer: (() => Promise<unknown>) | undefined;

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  ensureChromium();
  const url = await findRedis();
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await probe.connect();
  await probe.set('kbff-test:db', '0');
  await probe.quit();
  project.provide('redisUrl', url);
  return async () => {
    child?.kill('SIGKILL');
    await stopContainer?.();
  };
}

async function findRedis(): Promise<string> {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  if (!hasBinary('redis-server')) {
    const fromDocker = await tryContainer();
    if (fromDocker) return fromDocker;
    installWithApt();
  }
  const port = await freePort();
  child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitForRedis(port);
  return `redis://127.0.0.1:${port}`;
}

function hasBinary(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function tryContainer(): Promise<string | undefined> {
  try {
    const { GenericContainer } = await import('testcontainers');
    const container = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
    stopContainer = () => container.stop();
    return `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  } catch {
    return undefined;
  }
}

function installWithApt(): void {
  const help = 'The tests need a real Redis: install redis-server (Debian/Ubuntu: apt-get install -y redis-server), or set REDIS_URL.';
  if (process.getuid?.() !== 0 || !hasBinary('apt-get')) throw new Error(help);
  process.stderr.write('redis-server not found: installing Debian\'s redis-server with apt-get\n');
  try {
    execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server'], { stdio: 'inherit' });
  } catch {
    throw new Error(help);
  }
}
