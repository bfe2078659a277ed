/**
 * `bulwark serve` in a process of its own, run from the TypeScript sources: server/process.testkit.ts transpiles
 * this file and everything it imports, and starts it with the configuration in BULWARK_* variables — read by the
 * serve command exactly as it reads them from a user's shell. SIGINT/SIGTERM stop it gracefully; SIGKILL is a crash.
 */
import { runServe } from './commands/serve.js';
import { EXIT, processIo, UsageError } from './io.js';

try {
  process.exitCode = await runServe(processIo(), undefined, {});
} catch (err) {
  process.stderr.write(`${err instanceof UsageError ? err.message : String((err as Error).stack ?? err)}\n`);
  process.exitCode = err instanceof UsageError ? EXIT.usage : 1;
}
