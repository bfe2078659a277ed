/**
 * The fleet simulator against a real server on 127.0.0.1 (SQLite and PostgreSQL): 50 simulated agents over 3
 * tenants enrol through the REST route and connect over real WebSockets from several loopback source addresses;
 * each becomes an asset of its tenant with source `agent`, every one reads online at the server, every job sent
 * to them is answered (inventory to all, a hunt to every Exchange agent through the fan-out route), and after every
 * channel is dropped at once they all come back. Also `bulwark lab fleet` end to end, and the derived keys.
 */
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKnowledgeBase } from '../../advisories/index.js';
import { publicKeyToRaw } from '../../api/agent-protocol.js';
import { runLabFleet } from '../../cli/commands/lab-fleet.js';
import type { Io } from '../../cli/io.js';
import { assetFactsValidator } from '../../core/index.js';
import { exchangeCatalogBuilds } from '../../scan/index.js';
import { openTestServer, type TestServer } from '../../server/app.testkit.js';
import { TEST_DIALECTS } from '../../server/db/db.testkit.js';
import { labIsVulnerable } from '../knowledge.js';
import { DerivedKeys, Fleet, factsOf, fleetEmulators, hostOf } from './index.js';

const kb = loadKnowledgeBase({});
const BUILDS = exchangeCatalogBuilds(kb).filter((b) => /^15\.[012]\./.test(b.build));
const AGENTS = 50;
const TENANTS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(probe: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('derived keys and inventories', () => {
  it('derives one stable Ed25519 key per index from the fleet secret', () => {
    const keys = new DerivedKeys(Buffer.alloc(32, 7));
    const again = new DerivedKeys(Buffer.alloc(32, 7));
    expect(keys.publicKeyRaw(5)).toBe(again.publicKeyRaw(5));
    expect(keys.publicKeyRaw(5)).not.toBe(keys.publicKeyRaw(6));
    expect(publicKeyToRaw(createPublicKey(keys.privateKey(9)))).toBe(keys.publicKeyRaw(9));
    expect(keys.publicKeyRaw(5)).not.toBe(new DerivedKeys(Buffer.alloc(32, 8)).publicKeyRaw(5));
  });

  it('spreads hosts over Exchange catalog builds, Windows, Debian and RHEL with valid facts', () => {
    const plan = { seed: 3, exchangeShare: 0.4, exchangeBuilds: BUILDS };
    const kinds = new Map<string, number>();
    const builds = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const host = hostOf(plan, i, 'fleet-001');
      kinds.set(host.kind, (kinds.get(host.kind) ?? 0) + 1);
      const facts = factsOf(plan, i, `ag-${i}`, host);
      expect(assetFactsValidator.parse(facts)).toEqual(facts);
      expect(factsOf(plan, i, `ag-${i}`, host)).toEqual(facts);
      if (host.exchangeBuild) builds.add(host.exchangeBuild);
    }
    expect([...kinds.keys()].sort()).toEqual(['debian', 'exchange', 'rhel', 'windows']);
    expect((kinds.get('exchange') ?? 0) / 2000).toBeGreaterThan(0.3);
    // 2013, 2016 and 2019 builds all appear, vulnerable and fixed alike.
    for (const major of ['15.0.', '15.1.', '15.2.'])
      expect([...builds].some((b) => b.startsWith(major))).toBe(true);
    const judge = (b: string) =>
      kb.engine.evaluate({
        id: b,
        products: [{ product: 'microsoft:exchange_server', version: b }],
        installed_kbs: [],
        endpoints: [],
        tags: [],
      });
    const verdicts = new Set([...builds].flatMap((b) => judge(b).verdicts.map((v) => v.verdict)));
    expect(verdicts.has('affected')).toBe(true);
    expect(verdicts.has('fixed') || verdicts.has('not_affected')).toBe(true);
  });
});

describe.each(TEST_DIALECTS)('fleet against a real server (%s)', (dialect) => {
  let server: TestServer | undefined;
  let base = '';
  let token = '';

  beforeAll(async () => {
    server = await openTestServer(dialect, { agent_heartbeat_s: 2 });
    if (!server) return;
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = server.app.server.address();
    if (!addr || typeof addr === 'string') throw new Error('no address');
    base = `http://127.0.0.1:${addr.port}`;
    const caller = await server.token({ role: 'admin' });
    token = (caller.headers.authorization as string).slice('Bearer '.length);
  }, 60_000);
  afterAll(async () => server?.dispose());

  it('50 agents over 3 tenants: enrolled assets with source agent, online, every job answered, storm recovered', async (ctx) => {
    if (!server) return ctx.skip();
    const s = server;
    const fleet = new Fleet({
      server: base,
      apiToken: token,
      agents: AGENTS,
      tenants: TENANTS,
      sources: 4,
      exchangeShare: 0.5,
      exchangeBuilds: BUILDS,
      seed: 11,
      backoff: { baseMs: 100, capMs: 1000, resetAfterMs: 60_000 },
    });
    try {
      await fleet.enroll();
      fleet.connect();
      expect(await fleet.waitOnline(AGENTS, 30_000)).toBe(true);
      const agents = fleet.agents();
      expect(agents).toHaveLength(AGENTS);
      expect(new Set(agents.map((a) => a.tenant_id))).toEqual(new Set(fleet.tenantIds));
      const exchange = agents.filter((a) => a.kind === 'exchange').length;
      expect(exchange).toBeGreaterThan(0);

      // Every agent is an asset of its tenant with source agent, and online at the server (presence ≤ 1 s).
      for (const tenant of fleet.tenantIds) {
        const mine = agents.filter((a) => a.tenant_id === tenant);
        const assets = await s.call(s.admin, {
          method: 'GET',
          url: `/api/v1/tenants/${tenant}/assets?limit=1000`,
        });
        expect(assets.statusCode).toBe(200);
        const items = assets.json().items as { id: string; source: string }[];
        expect(items.map((a) => a.id).sort()).toEqual(mine.map((a) => a.agent_id).sort());
        expect(items.every((a) => a.source === 'agent')).toBe(true);
        await until(
          async () => {
            const res = await s.call(s.admin, {
              method: 'GET',
              url: `/api/v1/tenants/${tenant}/agents?limit=1000`,
            });
            const list = res.json().items as { id: string; online: boolean }[];
            return list.length === mine.length && list.every((a) => a.online) ? true : undefined;
          },
          10_000,
          `every agent of ${tenant} online at the server`,
        );
      }

      // An inventory job to every agent of each tenant: each answered and succeeded.
      const jobIds: [string, string][] = [];
      for (const tenant of fleet.tenantIds) {
        const res = await s.call(s.admin, {
          method: 'POST',
          url: `/api/v1/tenants/${tenant}/agent-jobs`,
          payload: { kind: 'inventory', all: true },
        });
        expect(res.statusCode).toBe(202);
        for (const j of res.json().jobs as { id: string }[]) jobIds.push([tenant, j.id]);
      }
      expect(jobIds).toHaveLength(AGENTS);
      await until(
        async () => (fleet.stats().jobs.acked >= AGENTS ? true : undefined),
        20_000,
        'inventory results',
      );
      for (const [tenant, id] of jobIds) {
        let last: { state?: string; reason?: string | null } = {};
        await until(
          async () => {
            const res = await s.call(s.admin, {
              method: 'GET',
              url: `/api/v1/tenants/${tenant}/agent-jobs/${id}`,
            });
            last = res.json();
            return last.state === 'succeeded' ? true : undefined;
          },
          10_000,
          `job ${id} succeeded`,
        ).catch(() => undefined);
        expect(last, `job ${id}`).toMatchObject({ state: 'succeeded' });
      }

      // One hunt job to every Exchange agent through the fan-out route.
      fleet.resetJobs();
      const fan = await s.call(s.admin, {
        method: 'POST',
        url: '/api/v1/agent-jobs/fan-out',
        payload: {
          kind: 'hunt',
          params: { advisory_id: 'proxylogon-2021-03' },
          filter: { tenants: fleet.tenantIds, product: 'microsoft:exchange_server' },
        },
      });
      expect(fan.statusCode).toBe(202);
      await until(
        async () => (fleet.stats().jobs.acked >= exchange ? true : undefined),
        30_000,
        'hunt results',
      );
      const stats = fleet.stats();
      expect(stats.jobs.received).toBe(exchange);
      expect(stats.jobs.byKind).toEqual({ hunt: exchange });
      expect(stats.jobs.refused).toBe(0);

      // Every channel dropped at once: all back online, none stopped.
      expect(fleet.dropAll()).toBe(AGENTS);
      expect(await fleet.waitOnline(AGENTS, 30_000)).toBe(true);
      const after = fleet.stats();
      expect(after.stopped).toBe(0);
      expect(after.heartbeats.acked).toBeGreaterThan(0);
      expect(after.errors.bad_server_signature).toBeUndefined();
    } finally {
      await fleet.close();
    }
  }, 120_000);

  it('an emulator-backed Exchange agent: patch() changes the emulator build and the asset at the server', async (ctx) => {
    if (!server) return ctx.skip();
    const s = server;
    const fleet = new Fleet({
      server: base,
      apiToken: token,
      agents: 2,
      tenants: 1,
      tenantPrefix: 'emu',
      exchangeShare: 1,
      exchangeBuilds: BUILDS,
      emulators: fleetEmulators(1, labIsVulnerable(kb)),
    });
    try {
      await fleet.enroll();
      fleet.connect();
      expect(await fleet.waitOnline(2, 30_000)).toBe(true);
      const backed = fleet.agents().filter((a) => a.emulator_url);
      expect(backed).toHaveLength(1);
      const agent = backed[0] as (typeof backed)[number];
      const target = BUILDS.map((b) => b.build).find((b) => b !== agent.exchange_build) as string;
      const { url } = await fleet.patch(agent.agent_id, target);
      const owa = await fetch(new URL('/owa/', url));
      await owa.body?.cancel();
      expect(owa.headers.get('x-owa-version')).toBe(target);
      const build = await until(
        async () => {
          const res = await s.call(s.admin, {
            method: 'GET',
            url: `/api/v1/tenants/emu-001/assets/${agent.agent_id}`,
          });
          const p = (res.json().facts?.products ?? []) as { product: string; version: string }[];
          const v = p.find((x) => x.product === 'microsoft:exchange_server')?.version;
          return v === target ? v : undefined;
        },
        10_000,
        'the patched build at the server',
      );
      expect(build).toBe(target);
    } finally {
      await fleet.close();
    }
  }, 60_000);

  it('bulwark lab fleet enrols N agents across M tenants and prints the fleet as JSON', async (ctx) => {
    if (!server) return ctx.skip();
    const out: string[] = [];
    const err: string[] = [];
    const io: Io = {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      color: false,
      env: { BULWARK_TOKEN: token },
      cwd: process.cwd(),
    };
    const code = await runLabFleet(io, kb, {
      agents: 6,
      tenants: 2,
      server: base,
      tenantPrefix: 'cli',
      duration: 0,
      json: true,
    });
    expect(code, err.join('')).toBe(0);
    const first = JSON.parse(out[0] as string);
    expect(first.online).toBe(6);
    expect(first.tenants).toEqual(['cli-001', 'cli-002']);
    expect(first.agents_list).toHaveLength(6);
    for (const t of first.tenants) {
      const res = await server.call(server.admin, { method: 'GET', url: `/api/v1/tenants/${t}/assets` });
      expect(res.json().total).toBe(3);
    }
  }, 60_000);
});
