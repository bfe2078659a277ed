/**
 * Entry of the single executable (scripts/sea/build.mjs): the `bulwark agent` command set only. The server
 * commands need the better-sqlite3 native addon and the data files of the npm package, which a single executable
 * does not carry; the agent needs neither.
 */
import { Command, CommanderError } from 'commander';
import { registerAgentGroup } from '../../src/cli/commands/agent-group.js';
import { processIo, UsageError } from '../../src/cli/io.js';

async function main(): Promise<number> {
  const io = processIo();
  let code = 0;
  const program = new Command('bulwark')
    .description('Bulwark agent (single executable: the agent commands of the bulwark package)')
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) });
  registerAgentGroup(program, { io, setCode: (c) => (code = c) });
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UsageError) {
      io.err(`bulwark: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bulwark: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
