/**
 * Per-route keep-alive pool of upstream connections (plain TCP or TLS with the route's CA and/or a SHA-256 pin of
 * the leaf certificate). At most `maxSockets` connections are open or in use; further requests wait in order, at
 * most `queueMax` of them and each at most `waitTimeoutMs` (then PoolBusyError: the caller answers 503).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { CompiledUpstream } from './config.js';
import { upstreamCertificateProblem } from './upstream-tls.js';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
}

/** The upstream's certificate was refused: `problem` in words, `pin` to trust this certificate by. */
export class UpstreamCertificateError extends UpstreamError {
  constructor(
    label: string,
    readonly problem: string,
    readonly pin: string,
  ) {
    super(`upstream ${label}: ${problem}${pin ? `; its pin is ${pin}` : ''}`);
  }
}

/** No connection free: the wait queue is full, or the wait lasted `waitTimeoutMs`. */
export class PoolBusyError extends UpstreamError {
  constructor(
    readonly reason: 'queue_full' | 'wait_timeout',
    message: string,
  ) {
    super(message);
  }
}

export interface PoolBounds {
  /** Longest wait for a connection when all `maxSockets` are in use. */
  waitTimeoutMs: number;
  /** Most requests waiting at once; one more is refused at once. */
  queueMax: number;
}

interface Waiter {
  resolve: (l: Lease) => void;
  reject: (e: Error) => void;
  /** Only waiters hold a timer: a request that finds a connection costs none. */
  timer: NodeJS.Timeout;
  owner: object | undefined;
}

export interface Lease {
  socket: net.Socket;
  /** Taken from the idle list (a previous request used it): a failure before any response byte may be retried. */
  reused: boolean;
}

export class UpstreamPool {
  private idle: net.Socket[] = [];
  private active = 0;
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(
    readonly upstream: CompiledUpstream,
    readonly bounds: PoolBounds = { waitTimeoutMs: 10_000, queueMax: 1024 },
  ) {}

  get stats() {
    return { idle: this.idle.length, active: this.active, waiting: this.waiters.length };
  }

  /** A connection; `owner` lets `cancel(owner)` withdraw the wait when the client goes away. */
  acquire(owner?: object): Promise<Lease> {
    if (this.closed)
      return Promise.reject(new UpstreamError('upstream pool closed (configuration reloaded)'));
    const s = this.idle.pop();
    if (s) {
      this.unidle(s);
      this.active++;
      return Promise.resolve({ socket: s, reused: true });
    }
    if (this.active < this.upstream.maxSockets) {
      this.active++;
      return this.connect().then(
        (socket) => ({ socket, reused: false }),
        (e: Error) => {
          this.active--;
          this.next();
          throw e;
        },
      );
    }
    if (this.waiters.length >= this.bounds.queueMax) {
      return Promise.reject(
        new PoolBusyError(
          'queue_full',
          `upstream ${this.upstream.label}: all ${this.upstream.maxSockets} connections busy and ${this.bounds.queueMax} requests already waiting`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        owner,
        timer: setTimeout(() => {
          this.dropWaiter(w);
          reject(
            new PoolBusyError(
              'wait_timeout',
              `upstream ${this.upstream.label}: no connection free within ${this.bounds.waitTimeoutMs} ms (all ${this.upstream.maxSockets} busy)`,
            ),
          );
        }, this.bounds.waitTimeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** Withdraw `owner`'s wait (its client closed): the next connection goes to someone still there. */
  cancel(owner: object): void {
    const w = this.waiters.find((x) => x.owner === owner);
    if (!w) return;
    this.dropWaiter(w);
    w.reject(new UpstreamError('request withdrawn'));
  }

  private dropWaiter(w: Waiter) {
    clearTimeout(w.timer);
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  private takeWaiter(): Waiter | undefined {
    const w = this.waiters.shift();
    if (w) clearTimeout(w.timer);
    return w;
  }

  /** Give a leased socket back: kept for reuse when `reusable`, else destroyed. */
  release(socket: net.Socket, reusable: boolean): void {
    this.active--;
    if (reusable && !this.closed && !socket.destroyed && socket.readyState === 'open') {
      socket.removeAllListeners('data');
      socket.removeAllListeners('end');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket.removeAllListeners('drain');
      socket.removeAllListeners('timeout');
      socket.setTimeout(0);
      socket.resume();
      const waiter = this.takeWaiter();
      if (waiter) {
        this.active++;
        waiter.resolve({ socket, reused: true });
        return;
      }
      const drop = () => {
        const i = this.idle.indexOf(socket);
        if (i >= 0) this.idle.splice(i, 1);
        socket.destroy();
      };
      socket.on('error', drop);
      socket.on('close', drop);
      socket.on('end', drop);
      socket.on('data', drop); // an idle upstream must not talk
      socket.setTimeout(this.upstream.idleTimeoutMs, drop);
      this.idle.push(socket);
    } else {
      socket.destroy();
      this.next();
    }
  }

  /** Close idle connections; refuse new leases; leased ones are destroyed when released. */
  close(): void {
    this.closed = true;
    for (const s of this.idle) s.destroy();
    this.idle = [];
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new UpstreamError('upstream pool closed'));
    }
    this.waiters = [];
  }

  private unidle(s: net.Socket) {
    s.removeAllListeners('error');
    s.removeAllListeners('close');
    s.removeAllListeners('end');
    s.removeAllListeners('data');
    s.setTimeout(0);
  }

  private next() {
    if (this.waiters.length === 0 || this.active >= this.upstream.maxSockets) return;
    const w = this.takeWaiter()!;
    this.active++;
    this.connect().then(
      (socket) => w.resolve({ socket, reused: false }),
      (e: Error) => {
        this.active--;
        w.reject(e);
        this.next();
      },
    );
  }

  private connect(): Promise<net.Socket> {
    const u = this.upstream;
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(e instanceof UpstreamError ? e : new UpstreamError(`upstream ${u.label}: ${e.message}`));
      };
      const timer = setTimeout(
        () => fail(new UpstreamError(`upstream ${u.label}: connect timeout (${u.connectTimeoutMs} ms)`)),
        u.connectTimeoutMs,
      );
      const ok = () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        socket.setNoDelay(true);
        resolve(socket);
      };
      if (!u.tls) {
        socket = net.connect({ host: u.host, port: u.port });
        socket.once('connect', ok);
        socket.once('error', fail);
        return;
      }
      const opts: tls.ConnectionOptions = {
        host: u.host,
        port: u.port,
        ALPNProtocols: ['http/1.1'],
        // Verified in secureConnect (upstream-tls.ts), before any byte is sent, so a refusal can say why.
        rejectUnauthorized: false,
      };
      if (u.servername) opts.servername = u.servername;
      if (u.ca) opts.ca = u.ca;
      if (u.pin && u.ca) opts.checkServerIdentity = () => undefined; // the pin names the certificate
      const t = tls.connect(opts);
      socket = t;
      t.once('error', fail);
      t.once('secureConnect', () => {
        const bad = upstreamCertificateProblem(t, u);
        if (bad) {
          fail(new UpstreamCertificateError(u.label, bad.problem, bad.pin));
          return;
        }
        ok();
      });
    });
  }
}
