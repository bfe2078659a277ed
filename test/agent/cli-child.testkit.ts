/**
 * The `bulwark` command line in a process of its own, run from the TypeScript sources (agent.testkit.ts transpiles
 * this file and everything it imports): `node cli-child.js agent run --state-dir D` is `bulwark agent run`; with no
 * arguments it is `bulwark serve` configured by BULWARK_* variables, as server/process.testkit.ts starts it.
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.length > 2 ? process.argv.slice(2) : ['serve']);
