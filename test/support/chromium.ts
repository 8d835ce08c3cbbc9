import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's Chromium, installed by `.ci/run` (or here, as root, when missing). */
export const CHROMIUM = '/usr/bin/chromium';

export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const help = 'The browser test needs Debian\'s Chromium: apt-get install -y chromium';
  if (process.getuid?.() !== 0) throw new Error(help);
  process.stderr.write('chromium not found: installing Debian\'s chromium with apt-get\n');
  try {
    execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'], { stdio: 'inherit' });
  } catch {
    throw new Error(help);
  }
}
