import { KatapultSimulator } from './simulator.js';

/** `npm run simulator`: a standalone Katapult stand-in on loopback (PORT, default 8081; TOKEN, default sim-token). */
const port = Number(process.argv[2] ?? 8081);
const sim = new KatapultSimulator({ token: process.argv[3] ?? 'sim-token' });
const url = await sim.listen(port, process.argv[4] ?? '127.0.0.1');
process.stdout.write(`Katapult simulator listening at ${url} (token "${sim.token}")\n`);
const stop = () => void sim.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
