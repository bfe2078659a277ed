/**
 * The agent's log: one JSON object per line on standard error, pino's shape (`level` as a number, `time` in
 * milliseconds, `pid`, `hostname`, `msg`, then the event's fields). Callers pass ids, counts and reasons — never a
 * key, a token or a signature.
 */
import { hostname } from 'node:os';

export const LOG_LEVELS = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

export interface AgentLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  fatal(msg: string, fields?: Record<string, unknown>): void;
}

/** A log writing lines to `write` at `level` and above (env BULWARK_AGENT_LOG_LEVEL in the CLI). */
export function jsonLog(write: (line: string) => void, level: LogLevel = 'info'): AgentLog {
  const min = LOG_LEVELS[level];
  const host = hostname();
  const line =
    (name: LogLevel) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (LOG_LEVELS[name] < min) return;
      write(
        `${JSON.stringify({ level: LOG_LEVELS[name], time: Date.now(), pid: process.pid, hostname: host, msg, ...fields })}\n`,
      );
    };
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    fatal: line('fatal'),
  };
}

/** A log that drops everything. */
export const silentLog: AgentLog = jsonLog(() => {}, 'fatal');
