/**
 * The `bulwark` command line in a process of its own, run from the TypeScript sources (agent.testkit.ts transpiles
 * this file and what it imports): `node cli-child.js agent run --state-dir D` is `bulwark agent run`.
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
