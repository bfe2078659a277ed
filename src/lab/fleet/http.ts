/**
 * The simulator's REST calls: JSON over http(s) from a chosen loopback source address, keep-alive connections per
 * source, and 429/503 answers retried after their Retry-After (bounded).
 */
import http from 'node:http';
import https from 'node:https';

export class FleetHttpError extends Error {
  override readonly name = 'FleetHttpError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly body: string,
  ) {
    super(message);
  }
}

export interface JsonAnswer {
  status: number;
  body: unknown;
}

/** Keep-alive agents, one per source address. */
export class SourceAgents {
  readonly #agents = new Map<string, http.Agent>();
  constructor(
    readonly https: boolean,
    readonly maxSockets = 8,
  ) {}

  get(localAddress: string | undefined): http.Agent {
    const key = localAddress ?? '';
    let a = this.#agents.get(key);
    if (!a) {
      const opts = {
        keepAlive: true,
        maxSockets: this.maxSockets,
        ...(localAddress ? { localAddress } : {}),
      };
      a = this.https ? new https.Agent(opts) : new http.Agent(opts);
      this.#agents.set(key, a);
    }
    return a;
  }

  destroy(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function once(
  base: URL,
  agents: SourceAgents,
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  localAddress: string | undefined,
): Promise<{ status: number; text: string; retryAfter: number | undefined }> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method,
        agent: agents.get(localAddress),
        headers: {
          accept: 'application/json',
          ...headers,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ra = Number(res.headers['retry-after']);
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            retryAfter: Number.isFinite(ra) && ra >= 0 ? ra : undefined,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer in 60 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * One JSON request. 429 and 503 are retried after Retry-After (default 1 s) plus up to 1 s of jitter, at most
 * `retries` times; any other status ≥ 300 not in `accept` is a FleetHttpError naming the route and the answer.
 */
export async function jsonRequest(
  base: URL,
  agents: SourceAgents,
  method: string,
  path: string,
  options: {
    body?: unknown;
    headers?: Record<string, string>;
    localAddress?: string;
    accept?: number[];
    retries?: number;
  } = {},
): Promise<JsonAnswer> {
  const retries = options.retries ?? 20;
  for (let attempt = 0; ; attempt++) {
    let res: Awaited<ReturnType<typeof once>>;
    try {
      res = await once(base, agents, method, path, options.body, options.headers ?? {}, options.localAddress);
    } catch (err) {
      // A keep-alive connection the server closed meanwhile: retried like a busy answer.
      if (attempt >= retries) throw err;
      await sleep(200 + Math.random() * 800);
      continue;
    }
    if ((res.status === 429 || res.status === 503) && attempt < retries) {
      await sleep((res.retryAfter ?? 1) * 1000 + Math.random() * 1000);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      parsed = res.text;
    }
    if (res.status >= 300 && !(options.accept ?? []).includes(res.status))
      throw new FleetHttpError(
        `${method} ${path}: ${res.status} ${res.text.slice(0, 300)}`,
        res.status,
        res.text,
      );
    return { status: res.status, body: parsed };
  }
}
