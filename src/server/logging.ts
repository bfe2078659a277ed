/**
 * How the server logs. Structured JSON (one object a line) is for log collectors; a person watching `npm start`
 * in a terminal gets readable lines instead: a time, a level and a message, and one line per request
 * (`GET /api/v1/tenants 200 3 ms`) in place of Fastify's two JSON objects. `log_format: auto` (the default)
 * picks readable lines when standard output is a terminal and JSON otherwise.
 */
import { type FastifyInstance, LogController } from 'fastify';
import { prettyFactory } from 'pino-pretty';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Never log credentials: headers that carry them. */
const REDACT = {
  paths: [
    'req.headers.authorization',
    'req.headers.cookie',
    'req.headers["x-csrf-token"]',
    'res.headers["set-cookie"]',
  ],
  censor: '[redacted]',
};

export interface LoggingSetup {
  /** Fastify's `logger` option. */
  logger: boolean | object;
  /** True when requests are logged by `logRequests` as one readable line, not by Fastify. */
  readable: boolean;
  /** Fastify's `logController` option: turns Fastify's own two request lines off in readable mode. */
  logController?: LogController;
}

/**
 * The logger options. A caller-supplied logger configuration (tests pass a stream) is merged over the defaults so
 * the redaction always applies unless the caller brings its own `redact`.
 */
export function loggingSetup(
  config: { log_level: string; log_format: LogFormat },
  override: boolean | object | undefined,
  stdout: { isTTY?: boolean; write(chunk: string): unknown } = process.stdout,
): LoggingSetup {
  if (override !== undefined) {
    return {
      logger:
        typeof override === 'object' ? { level: config.log_level, redact: REDACT, ...override } : override,
      readable: false,
    };
  }
  const readable = config.log_format === 'pretty' || (config.log_format === 'auto' && stdout.isTTY === true);
  if (!readable) return { logger: { level: config.log_level, redact: REDACT }, readable: false };
  const prettify = prettyFactory({
    colorize: stdout.isTTY === true && !process.env.NO_COLOR,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,reqId',
    singleLine: true,
  });
  // pino writes one JSON line at a time to `stream`; each becomes one readable line.
  const stream = { write: (line: string) => stdout.write(prettify(line)) };
  return {
    logger: { level: config.log_level, redact: REDACT, stream },
    readable: true,
    logController: new LogController({ disableRequestLogging: true }),
  };
}

/** One readable line per answered request (only in readable mode, where Fastify's own request logs are off). */
export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0];
    const line = `${request.method} ${path} ${reply.statusCode} ${Math.round(reply.elapsedTime)} ms`;
    if (reply.statusCode >= 500) request.log.error(line);
    else request.log.info(line);
  });
}
