import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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

/**
 * Debian's Chromium, headless, as this machine allows it: without the background networking a closed
 * network refuses, and a new empty profile.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
