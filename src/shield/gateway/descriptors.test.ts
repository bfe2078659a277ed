/** The open-file limit read at start-up and what it allows (limits.ts; docs/shield.md, "Limits"). */
import { describe, expect, it } from 'vitest';
import { validateGatewayConfig } from './config.js';
import { connectionsForDescriptors, descriptorCapWarning, softNofileLimit } from './limits.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

const limits = (l: Record<string, number> = {}) =>
  validateGatewayConfig({
    listen: [{ host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'r', upstream: { url: 'http://127.0.0.1:1' }, rules: [] }],
    limits: l,
  }).limits;

describe('open-file limit', () => {
  it('reads the soft limit from /proc/self/limits; unreadable or unlimited → undefined', () => {
    expect(softNofileLimit(() => LIMITS)).toBe(1024);
    expect(softNofileLimit(() => LIMITS.replace('1024   ', 'unlimited'))).toBeUndefined();
    expect(
      softNofileLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
    if (process.platform === 'linux') expect(softNofileLimit()).toBeGreaterThan(0);
  });

  it('two descriptors per connection after a reserve', () => {
    expect(connectionsForDescriptors(1024)).toBe(480);
    expect(connectionsForDescriptors(256)).toBe(96);
    expect(connectionsForDescriptors(8)).toBe(3);
    expect(connectionsForDescriptors(1)).toBe(1);
  });

  it('warns, naming the limit and how to raise it, only when it caps', () => {
    const w = descriptorCapWarning(1024, limits());
    expect(w).toMatch(/RLIMIT_NOFILE soft\) is 1024: connections capped at 480/);
    expect(w).toMatch(/LimitNOFILE=\d+/);
    expect(w).toMatch(/ulimit -n/);
    expect(descriptorCapWarning(1 << 20, limits())).toBeUndefined();
    // A common 20,000-file limit caps the default 10,000 at 9,968: applied, but no warning at every start.
    expect(connectionsForDescriptors(20_000)).toBe(9_968);
    expect(descriptorCapWarning(20_000, limits())).toBeUndefined();
    expect(
      descriptorCapWarning(1024, limits({ max_connections: 400, max_connections_per_address: 100 })),
    ).toBe(undefined);
    expect(descriptorCapWarning(1 << 20, limits({ max_connections_per_address: 0 }))).toBeUndefined();
    expect(descriptorCapWarning(256, limits({ max_connections_per_address: 0 }))).toMatch(/unlimited/);
  });
});
