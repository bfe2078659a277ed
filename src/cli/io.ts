/**
 * Where a command writes, and whether it may colour. Injected so commands run in-process in tests exactly as
 * they do from a shell.
 */
import { styleText } from 'node:util';
import { terminalSafeJson } from '../core/index.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Colour only on a TTY and when NO_COLOR is unset (https://no-color.org). */
  color: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function processIo(): Io {
  const env = process.env;
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    color: Boolean(process.stdout.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb',
    env,
    cwd: process.cwd(),
  };
}

type Style = 'red' | 'green' | 'yellow' | 'bold' | 'dim' | 'cyan';

export function paint(io: Io, style: Style, text: string): string {
  return io.color ? styleText(style, text) : text;
}

/** The exit-code convention of every reporting command. */
export const EXIT = { clean: 0, findings: 1, usage: 2 } as const;

/** A problem with the user's input: printed as one line (no stack unless --debug) and exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The exact value as JSON; C1 controls and bidi overrides \u-escaped so that no string acts on the terminal. */
export function printJson(io: Io, value: unknown): void {
  io.out(`${terminalSafeJson(value)}\n`);
}
