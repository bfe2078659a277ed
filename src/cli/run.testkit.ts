/** Runs the CLI in-process as a shell would, capturing both streams, for tests. */
import type { Io } from './io.js';
import { main } from './main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  cwd = process.cwd(),
  color = false,
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    color,
    env,
    cwd,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}
