import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForRedis } from './ports.js';

/** Local redis-server processes for Sentinel and Cluster arrangements, all on loopback. */
export const hasRedisServer = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server && command -v redis-cli'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export class RedisProcesses {
  readonly #children: ChildProcess[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'kbff-redis-'));

  async server(args: string[] = [], port?: number): Promise<number> {
    port ??= await freePort();
    this.#children.push(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...args], { stdio: 'ignore' }),
    );
    await waitForRedis(port);
    return port;
  }

  /** A Sentinel watching `masterPort` under `name`, deciding alone (quorum 1) and quickly. */
  async sentinel(masterPort: number, name: string): Promise<number> {
    const port = await freePort();
    const conf = join(this.dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        '',
      ].join('\n'),
    );
    this.#children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    await waitForRedis(port);
    return port;
  }

  /** Three masters in one Cluster, slots spread over them. */
  async cluster(): Promise<number[]> {
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await freePort();
      ports.push(p);
      await this.server(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`, '--cluster-node-timeout', '2000'], p);
    }
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    // Wait until the cluster says it is ok.
    for (let i = 0; i < 100; i++) {
      const info = execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info']).toString();
      if (info.includes('cluster_state:ok')) return ports;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('cluster did not come up');
  }

  stop(): void {
    for (const c of this.#children) c.kill('SIGKILL');
  }
}
