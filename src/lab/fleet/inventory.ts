/**
 * The simulated fleet's inventories: a realistic spread of Exchange servers on catalog builds (2013/2016/2019,
 * vulnerable and fixed alike), Windows servers with installed KBs, Debian and RHEL hosts with packages. Agent i's
 * facts follow from (seed, i) alone, so nothing is stored per agent: they are rebuilt when the agent reports them.
 */
import type { AssetFacts } from '../../core/index.js';
import { EXCHANGE_PRODUCT } from '../../core/products.js';

export type HostKind = 'exchange' | 'windows' | 'debian' | 'rhel';

export interface FleetHost {
  kind: HostKind;
  hostname: string;
  /** The OS string sent at enrolment. */
  os: string;
  /** Exchange hosts: the build the catalog lists. */
  exchangeBuild?: string;
}

/** Small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WINDOWS = [
  {
    product: 'microsoft:windows_server_2012_r2',
    name: 'Windows Server 2012 R2',
    base: '6.3.9600',
    ubr: [19000, 2000],
  },
  {
    product: 'microsoft:windows_server_2016',
    name: 'Windows Server 2016',
    base: '10.0.14393',
    ubr: [4000, 2500],
  },
  {
    product: 'microsoft:windows_server_2019',
    name: 'Windows Server 2019',
    base: '10.0.17763',
    ubr: [1500, 4000],
  },
  {
    product: 'microsoft:windows_server_2022',
    name: 'Windows Server 2022',
    base: '10.0.20348',
    ubr: [500, 2000],
  },
] as const;
const WINDOWS_KBS = [
  'KB5000822',
  'KB5000803',
  'KB5001342',
  'KB5003171',
  'KB4601345',
  'KB5005030',
  'KB5009557',
];
/** The March 2021 Exchange security update (ProxyLogon). */
const EXCHANGE_SU_KB = 'KB5000871';
const DEBIAN_PACKAGES: [string, string[]][] = [
  ['openssl', ['3.0.11-1~deb12u1', '3.0.11-1~deb12u2', '3.0.13-1~deb12u1', '1.1.1w-0+deb11u1']],
  ['nginx', ['1.22.1-9', '1.22.1-9+deb12u1', '1.18.0-6.1+deb11u3']],
  ['openssh-server', ['1:9.2p1-2+deb12u2', '1:9.2p1-2+deb12u3', '1:8.4p1-5+deb11u3']],
  ['libc6', ['2.36-9+deb12u4', '2.36-9+deb12u7', '2.31-13+deb11u8']],
  ['curl', ['7.88.1-10+deb12u5', '7.88.1-10+deb12u8', '7.74.0-1.3+deb11u11']],
  ['sudo', ['1.9.13p3-1+deb12u1', '1.9.5p2-3+deb11u1']],
  ['postgresql-15', ['15.6-0+deb12u1', '15.8-0+deb12u1']],
  ['bash', ['5.2.15-2+b2', '5.1-2+deb11u1']],
  ['systemd', ['252.22-1~deb12u1', '252.26-1~deb12u2', '247.3-7+deb11u4']],
  ['tzdata', ['2024a-0+deb12u1', '2024a-0+deb11u1']],
];
const RHEL_PACKAGES: [string, string[]][] = [
  ['openssl', ['3.0.7-25.el9_3', '3.0.7-27.el9', '1:1.1.1k-12.el8_9']],
  ['httpd', ['2.4.57-5.el9', '2.4.57-8.el9', '2.4.37-62.module+el8.9.0+19699+7a7a2044']],
  ['openssh-server', ['8.7p1-34.el9', '8.7p1-38.el9', '8.0p1-19.el8_9.2']],
  ['glibc', ['2.34-83.el9_3.7', '2.34-100.el9', '2.28-236.el8_9.12']],
  ['kernel', ['5.14.0-362.24.1.el9_3', '5.14.0-427.13.1.el9_4', '4.18.0-513.24.1.el8_9']],
  ['sudo', ['1.9.5p2-10.el9_3', '1.8.29-10.el8_9']],
  ['curl', ['7.76.1-26.el9_3.3', '7.61.1-33.el8_9.5']],
];

export interface InventoryPlan {
  seed: number;
  /** Share of Exchange servers, 0..1. */
  exchangeShare: number;
  /** Exchange 2013/2016/2019 builds of the catalog (src/scan exchangeCatalogBuilds). */
  exchangeBuilds: readonly { build: string; name: string }[];
}

const rngFor = (plan: InventoryPlan, index: number) => prng((plan.seed * 0x9e3779b1) ^ (index + 1));
/** A Windows host's OS, the same in its enrolment and in its facts. */
const windowsOf = (plan: InventoryPlan, index: number) =>
  WINDOWS[
    Math.floor(prng((plan.seed * 0x85ebca6b) ^ (index + 1))() * WINDOWS.length)
  ] as (typeof WINDOWS)[number];

/** What agent `index` is: kind, host name and, for Exchange, its build. */
export function hostOf(plan: InventoryPlan, index: number, tenant: string): FleetHost {
  const r = rngFor(plan, index);
  const n = String(index).padStart(6, '0');
  if (r() < plan.exchangeShare && plan.exchangeBuilds.length) {
    const b = plan.exchangeBuilds[Math.floor(r() * plan.exchangeBuilds.length)] as { build: string };
    return {
      kind: 'exchange',
      hostname: `EXCH${n}.${tenant}.example`,
      os: windowsOf(plan, index).name,
      exchangeBuild: b.build,
    };
  }
  r();
  const x = r();
  if (x < 0.5)
    return { kind: 'windows', hostname: `SRV${n}.${tenant}.example`, os: windowsOf(plan, index).name };
  if (x < 0.8) return { kind: 'debian', hostname: `deb${n}.${tenant}.example`, os: 'Debian GNU/Linux' };
  return { kind: 'rhel', hostname: `rhel${n}.${tenant}.example`, os: 'Red Hat Enterprise Linux' };
}

/**
 * Agent `index`'s facts as its inventory reports them; the asset id is the agent id. `exchangeBuild` overrides the
 * planned build (a patch applied to the agent's emulator).
 */
export function factsOf(
  plan: InventoryPlan,
  index: number,
  agentId: string,
  host: FleetHost,
  exchangeBuild?: string,
): AssetFacts {
  const r = rngFor(plan, index);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const kbs = WINDOWS_KBS.filter(() => r() < 0.3);
  const facts: AssetFacts = {
    id: agentId,
    name: host.hostname,
    products: [],
    installed_kbs: [],
    endpoints: [],
    tags: ['agent', host.kind],
  };
  if (host.kind === 'exchange' || host.kind === 'windows') {
    const win = windowsOf(plan, index);
    facts.os = { product: win.product, version: `${win.base}.${win.ubr[0] + Math.floor(r() * win.ubr[1])}` };
    if (host.kind === 'exchange') {
      if (r() < 0.3) kbs.push(EXCHANGE_SU_KB);
      facts.products = [
        {
          product: EXCHANGE_PRODUCT,
          version: exchangeBuild ?? host.exchangeBuild ?? '15.1.2176.2',
          name: 'Microsoft Exchange Server',
        },
        { product: 'microsoft:iis', version: '10.0' },
        { product: 'microsoft:net_framework', version: pick(['4.7.2', '4.8', '4.8.1']) },
      ];
    } else {
      facts.products =
        r() < 0.5
          ? [
              {
                product: 'microsoft:sql_server',
                version: pick(['13.0.6300.2', '15.0.4153.1', '16.0.4003.1']),
              },
            ]
          : [{ product: 'microsoft:iis', version: '10.0' }];
    }
    facts.installed_kbs = kbs.sort();
  } else {
    const debian = host.kind === 'debian';
    facts.os = debian
      ? { product: 'debian:debian_linux', version: pick(['11', '12']) }
      : { product: 'redhat:enterprise_linux', version: pick(['8', '9']) };
    const packages = debian ? DEBIAN_PACKAGES : RHEL_PACKAGES;
    facts.products = packages
      .filter(() => r() < 0.8)
      .map(([name, versions]) => ({
        product: debian ? `pkg:deb/debian/${name}` : `pkg:rpm/redhat/${name}`,
        version: pick(versions),
      }));
    facts.installed_kbs = [];
  }
  return facts;
}

/** The inventory hash the agent reports and the server compares (src/api/agent-inventory.ts). */
export { factsHash } from '../../api/agent-inventory.js';
