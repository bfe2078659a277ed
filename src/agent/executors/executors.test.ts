import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKnowledgeBase } from '../../advisories/index.js';
import { AGENT_PROTOCOL_VERSION, type JobEnvelope, type JobKind } from '../../api/agent-protocol.js';
import type { AssetFacts } from '../../core/index.js';
import { type ExchangeEmulator, startExchangeEmulator } from '../../lab/exchange.js';
import { generateLogs } from '../../lab/loggen/index.js';
import {
  createExecutors,
  type ExecutorContext,
  type HuntOutput,
  type MitigationOutput,
  type VerifyOutput,
} from './index.js';
import { applyRule, checkRule, undoSplice } from './url-rewrite.js';

const root = mkdtempSync(join(tmpdir(), 'bulwark-executors-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const kb = loadKnowledgeBase();
const knowledge = () => kb;

const FACTS: AssetFacts = {
  id: 'ag-test',
  products: [{ product: 'microsoft:exchange_server', version: '15.1.2176.2' }],
  installed_kbs: [],
  endpoints: [],
  tags: [],
};

function envelope(kind: JobKind, params: Record<string, unknown>): JobEnvelope {
  return {
    v: AGENT_PROTOCOL_VERSION,
    job_id: `job-${kind}`,
    agent_id: 'ag-test',
    tenant_id: 't1',
    kind,
    params,
    not_before: '2026-01-01T00:00:00Z',
    expires_at: '2027-01-01T00:00:00Z',
    nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
    key_id: 'k1',
  };
}

function context(
  stateDir: string,
  over: Partial<ExecutorContext> = {},
): ExecutorContext & { events: unknown[] } {
  const events: unknown[] = [];
  return {
    stateDir,
    signal: new AbortController().signal,
    progress: (done, total, message) => events.push([done, total, message]),
    collectInventory: async () => FACTS,
    platform: 'linux',
    events,
    ...over,
  };
}

describe('hunt executor', () => {
  let logs: string;
  beforeAll(async () => {
    logs = join(root, 'logs');
    const truth = await generateLogs({ out: logs, bytes: 300_000, seed: 7, attacks: 3 });
    expect(truth.servers[0]!.verdict).toBe('compromised');
  });

  it('hunts the folders given in params.paths and reports one host report', async () => {
    const ex = createExecutors({ knowledge, deps: { env: {}, readRegistry: async () => undefined } });
    const ctx = context(join(root, 'state-hunt'));
    const out = await ex.hunt(
      envelope('hunt', { advisory_id: 'proxylogon-2021-03', paths: [join(logs, 'EXCH01')] }),
      ctx,
    );
    expect(out.status, out.reason).toBe('succeeded');
    const { advisory_id, report } = out.output as HuntOutput;
    expect(advisory_id).toBe('proxylogon-2021-03');
    expect(report.verdict).toBe('compromised');
    expect(report.window.from).toMatch(/^2021-/);
    expect(report.summary.counts?.post_exploitation ?? 0).toBeGreaterThan(0);
    expect(ctx.events.length).toBeGreaterThan(0);
  });

  it('a cancelled job stops the hunt and fails as cancelled', async () => {
    const ex = createExecutors({ knowledge, deps: { env: {}, readRegistry: async () => undefined } });
    const out = await ex.hunt(
      envelope('hunt', { advisory_id: 'proxylogon-2021-03', paths: [join(logs, 'EXCH01')] }),
      context(join(root, 'state-cancel'), { signal: AbortSignal.abort() }),
    );
    expect(out).toEqual({ status: 'failed', reason: 'cancelled' });
  });

  it('finds the log folders itself on a Windows layout (ExchangeInstallPath from the registry)', async () => {
    const install = `${join(logs, 'EXCH01')}/`;
    const asked: string[] = [];
    const ex = createExecutors({
      knowledge,
      deps: {
        env: { SystemDrive: join(logs, 'EXCH01') },
        readRegistry: async (key, value) => {
          asked.push(`${key} ${value}`);
          return value === 'MsiInstallPath' ? install : undefined;
        },
      },
    });
    const out = await ex.hunt(
      envelope('hunt', { advisory_id: 'proxylogon-2021-03' }),
      context(join(root, 's2'), { platform: 'win32' }),
    );
    expect(out.status, out.reason).toBe('succeeded');
    expect((out.output as HuntOutput).report.verdict).toBe('compromised');
    expect(asked[0]).toMatch(/ExchangeServer\\v15\\Setup MsiInstallPath/);
  });

  it('no log folders is a failure naming where it looked, never clean', async () => {
    const ex = createExecutors({ knowledge, deps: { env: {}, readRegistry: async () => undefined } });
    const win = await ex.hunt(
      envelope('hunt', { advisory_id: 'proxylogon-2021-03' }),
      context(root, { platform: 'win32' }),
    );
    expect(win.status).toBe('failed');
    expect(win.reason).toMatch(/^no log folders found: looked in .*%ExchangeInstallPath% not set/);
    const linux = await ex.hunt(envelope('hunt', { advisory_id: 'proxylogon-2021-03' }), context(root));
    expect(linux.reason).toMatch(/^no log folders found: .*linux; give params\.paths/);
    const empty = mkdtempSync(join(root, 'empty-'));
    const given = await ex.hunt(
      envelope('hunt', { advisory_id: 'proxylogon-2021-03', paths: [empty] }),
      context(root),
    );
    expect(given.status).toBe('failed');
    expect(given.reason).toMatch(/no recognised log/);
    const bad = await ex.hunt(envelope('hunt', { advisory_id: 'nope' }), context(root));
    expect(bad).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^params\.advisory_id: /) });
    const badSeconds = await ex.hunt(
      envelope('hunt', { advisory_id: 'proxylogon-2021-03', max_seconds: 0 }),
      context(root),
    );
    expect(badSeconds.reason).toMatch(/^params\.max_seconds/);
  });
});

const WEB_CONFIG = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<configuration>',
  '    <!-- site settings <rules> in a comment -->',
  '    <system.webServer>',
  '        <rewrite>',
  '            <rules>',
  '                <rule name="HTTP to HTTPS" stopProcessing="true">',
  '                    <match url="(.*)" />',
  '                    <action type="Redirect" url="https://{HTTP_HOST}/{R:1}" />',
  '                </rule>',
  '            </rules>',
  '        </rewrite>',
  '        <httpRedirect enabled="false" />',
  '    </system.webServer>',
  '</configuration>',
  '',
].join('\r\n');

function iisHost(dir: string, webConfig?: string) {
  mkdirSync(join(dir, 'wwwroot'), { recursive: true });
  const appHost = join(dir, 'applicationHost.config');
  writeFileSync(
    appHost,
    `<configuration><system.applicationHost><sites><site name="Default Web Site" id="1"><application path="/"><virtualDirectory path="/" physicalPath="%SiteRoot%/wwwroot" /></application></site></sites></system.applicationHost></configuration>`,
  );
  if (webConfig !== undefined) writeFileSync(join(dir, 'wwwroot', 'web.config'), webConfig);
  return { applicationHostConfig: appHost, env: { SiteRoot: dir }, readRegistry: async () => undefined };
}

describe('mitigate and rollback executors', () => {
  const params = { advisory_id: 'proxylogon-2021-03', mitigation_id: 'backend-cookie-url-rewrite' };

  it('adds the EOMT rules once, reports already the second time, and rollback restores the original bytes', async () => {
    const dir = join(root, 'iis1');
    const ex = createExecutors({ knowledge, deps: iisHost(dir, WEB_CONFIG) });
    const file = join(dir, 'wwwroot', 'web.config');
    const state = join(dir, 'state');
    const first = await ex.mitigate(envelope('mitigate', params), context(state));
    expect(first.status, first.reason).toBe('succeeded');
    const out = first.output as MitigationOutput;
    expect(out.steps.map((s) => [s.id, s.outcome])).toEqual([
      ['rule-anonresource-backend', 'applied'],
      ['rule-beresource', 'applied'],
    ]);
    expect(out.shielded).toBe(true);
    const applied = readFileSync(file, 'utf8');
    expect(applied).toContain('<rule name="X-AnonResource-Backend Abort - inbound" stopProcessing="false">');
    expect(applied).toContain('pattern="(.*)X-BEResource=(.+)/(.+)~(.+)"');
    expect(applied).toContain('<rule name="HTTP to HTTPS" stopProcessing="true">');
    expect(readFileSync(`${file}.bulwark-backup`, 'utf8')).not.toBe(applied);

    const second = await ex.mitigate(envelope('mitigate', params), context(state));
    expect((second.output as MitigationOutput).steps.map((s) => s.outcome)).toEqual(['already', 'already']);
    expect(readFileSync(file, 'utf8')).toBe(applied);

    const back = await ex.rollback(envelope('rollback', params), context(state));
    expect(back.status, back.reason).toBe('succeeded');
    expect((back.output as MitigationOutput).steps.map((s) => [s.id, s.outcome])).toEqual([
      ['rule-beresource', 'undone'],
      ['rule-anonresource-backend', 'undone'],
    ]);
    expect((back.output as MitigationOutput).shielded).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(WEB_CONFIG);
    const again = await ex.rollback(envelope('rollback', params), context(state));
    expect((again.output as MitigationOutput).steps.map((s) => s.outcome)).toEqual(['already', 'already']);
    expect(readFileSync(file, 'utf8')).toBe(WEB_CONFIG);
  });

  it('creates the site web.config when there is none and removes it on rollback', async () => {
    const dir = join(root, 'iis2');
    const ex = createExecutors({ knowledge, deps: iisHost(dir) });
    const file = join(dir, 'wwwroot', 'web.config');
    const ok = await ex.mitigate(envelope('mitigate', params), context(join(dir, 'state')));
    expect(ok.status, ok.reason).toBe('succeeded');
    expect(existsSync(file)).toBe(true);
    await ex.rollback(envelope('rollback', params), context(join(dir, 'state')));
    expect(existsSync(file)).toBe(false);
  });

  it('service and app-pool steps are unsupported off Windows, and shielded is then unknown', async () => {
    const ex = createExecutors({ knowledge, deps: { env: {}, readRegistry: async () => undefined } });
    const out = await ex.mitigate(
      envelope('mitigate', { advisory_id: 'proxylogon-2021-03', mitigation_id: 'stop-ecp-app-pool' }),
      context(join(root, 'state-ps')),
    );
    const o = out.output as MitigationOutput;
    expect(o.steps.map((s) => s.outcome)).toEqual(['unsupported', 'unsupported', 'unsupported']);
    expect(o.steps[0]!.detail).toMatch(/Windows PowerShell; this host is linux/);
    expect(o.shielded).toBeNull();
    // UM does not exist on Exchange 2019: skipped there, by the build the inventory reports.
    const on2019 = await ex.mitigate(
      envelope('mitigate', { advisory_id: 'proxylogon-2021-03', mitigation_id: 'disable-unified-messaging' }),
      context(join(root, 'state-ps'), {
        collectInventory: async () => ({
          ...FACTS,
          products: [{ product: 'microsoft:exchange_server', version: '15.2.792.3' }],
        }),
      }),
    );
    expect((on2019.output as MitigationOutput).steps.map((s) => s.outcome)).toEqual(['skipped', 'skipped']);
  });

  it('runs PowerShell steps on Windows, checks first, and restores the recorded state on rollback', async () => {
    const services = new Map([
      ['MSExchangeUM', 'Running|Automatic'],
      ['MSExchangeUMCR', 'Stopped|Disabled'],
    ]);
    const scripts: string[] = [];
    const powershell = async (script: string) => {
      scripts.push(script);
      const name = /-Name '([^']+)'/.exec(script)![1]!;
      if (script.startsWith('$s = Get-Service')) return services.get(name)!;
      let [status, start] = services.get(name)!.split('|');
      const mode = /-StartupType (\w+)/.exec(script);
      if (mode) start = mode[1];
      if (script.includes('Stop-Service')) status = 'Stopped';
      if (script.includes('Start-Service')) status = 'Running';
      services.set(name, `${status}|${start}`);
      return '';
    };
    const ex = createExecutors({
      knowledge,
      deps: { env: {}, readRegistry: async () => undefined, powershell },
    });
    const p = { advisory_id: 'proxylogon-2021-03', mitigation_id: 'disable-unified-messaging' };
    const state = join(root, 'state-win');
    const out = await ex.mitigate(envelope('mitigate', p), context(state, { platform: 'win32' }));
    expect((out.output as MitigationOutput).steps.map((s) => s.outcome)).toEqual(['applied', 'already']);
    expect((out.output as MitigationOutput).shielded).toBe(true);
    expect(services.get('MSExchangeUM')).toBe('Stopped|Disabled');
    const back = await ex.rollback(envelope('rollback', p), context(state, { platform: 'win32' }));
    expect((back.output as MitigationOutput).steps.map((s) => s.outcome)).toEqual(['already', 'undone']);
    expect(services.get('MSExchangeUM')).toBe('Running|Automatic');
    expect(services.get('MSExchangeUMCR')).toBe('Stopped|Disabled');
  });

  it('refuses bad parameters naming the field', async () => {
    const ex = createExecutors({ knowledge });
    const r = await ex.mitigate(
      envelope('mitigate', { advisory_id: 'proxylogon-2021-03', mitigation_id: 'nope' }),
      context(root),
    );
    expect(r).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^params\.mitigation_id: /) });
    const r2 = await ex.rollback(envelope('rollback', {}), context(root));
    expect(r2.reason).toMatch(/^params\.advisory_id: /);
  });
});

describe('URL Rewrite edit: apply then rollback is the identity', () => {
  const rule = kb.advisories
    .find((a) => a.id === 'proxylogon-2021-03')!
    .mitigations.find((m) => m.id === 'backend-cookie-url-rewrite')!.steps[0]!.apply;
  if (rule.kind !== 'iis_url_rewrite_rule') throw new Error('expected a rewrite rule');

  const ws = fc.constantFrom('', ' ', '  ', '\t', '    ');
  const comment = fc.constantFrom('', '<!-- </rules> <rewrite> -->', '<!-- é ü -->');
  const other = fc.constantFrom(
    '',
    '<httpErrors errorMode="Custom" />',
    '<defaultDocument><files><add value="a&amp;b.htm" /></files></defaultDocument>',
  );
  const existingRule = fc.constantFrom(
    '',
    '<rule name="Other" stopProcessing="true"><match url="x" /><action type="None" /></rule>',
    `<rule name="${rule.rule.name}" stopProcessing="true"><match url="y" /><action type="None" /></rule>`,
  );
  const depth = fc.constantFrom(
    'configuration',
    'system.webServer',
    'rewrite',
    'rules',
    'rules-self',
    'webServer-self',
  );
  const config = fc
    .record({
      decl: fc.boolean(),
      bom: fc.boolean(),
      crlf: fc.boolean(),
      ws,
      comment,
      other,
      existingRule,
      depth,
      trailing: fc.boolean(),
    })
    .map((c) => {
      const nl = c.crlf ? '\r\n' : '\n';
      const i = (n: number) => c.ws.repeat(n);
      let inner: string;
      if (c.depth === 'configuration') inner = '';
      else if (c.depth === 'webServer-self') inner = `${i(1)}<system.webServer />${nl}`;
      else {
        let rw = '';
        if (c.depth === 'rules-self') rw = `${i(2)}<rewrite>${nl}${i(3)}<rules />${nl}${i(2)}</rewrite>${nl}`;
        else if (c.depth === 'rules')
          rw = `${i(2)}<rewrite>${nl}${i(3)}<rules>${c.existingRule ? `${nl}${i(4)}${c.existingRule}` : ''}${nl}${i(3)}</rules>${nl}${i(2)}</rewrite>${nl}`;
        else if (c.depth === 'rewrite') rw = `${i(2)}<rewrite>${nl}${i(2)}</rewrite>${nl}`;
        inner = `${i(1)}<system.webServer>${nl}${rw}${c.other ? `${i(2)}${c.other}${nl}` : ''}${i(1)}</system.webServer>${nl}`;
      }
      const text = `${c.bom ? '\ufeff' : ''}${c.decl ? `<?xml version="1.0" encoding="UTF-8"?>${nl}` : ''}<configuration>${nl}${c.comment ? `${i(1)}${c.comment}${nl}` : ''}${inner}</configuration>${c.trailing ? nl : ''}`;
      return text;
    });

  it('on any valid config file (fast-check)', () => {
    const file = join(root, 'prop-web.config');
    fc.assert(
      fc.property(config, (text) => {
        writeFileSync(file, text);
        const original = readFileSync(file);
        const rec = applyRule(file, rule.rule);
        expect(checkRule(file, rule.rule)).toBe(true);
        undoSplice(rec);
        expect(readFileSync(file).equals(original)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe('verify executor', () => {
  const emulators: ExchangeEmulator[] = [];
  afterAll(async () => {
    for (const e of emulators) await e.close();
  });

  it('re-inventories and runs the scan check against params.url: vulnerable and patched builds', async () => {
    const isVulnerable = (b: string) => b === '15.1.2176.2';
    const vulnerable = await startExchangeEmulator({ build: '15.1.2176.2', http: true, isVulnerable });
    const patched = await startExchangeEmulator({ build: '15.1.2176.9', http: true, isVulnerable });
    emulators.push(vulnerable, patched);
    const ex = createExecutors({ knowledge });
    const a = await ex.verify(
      envelope('verify', { advisory_id: 'proxylogon-2021-03', url: vulnerable.url }),
      context(root),
    );
    expect(a.status, a.reason).toBe('succeeded');
    const va = a.output as VerifyOutput;
    expect(va.facts).toEqual(FACTS);
    expect(va.scan).toMatchObject({ verdict: 'vulnerable', check: 'vulnerable' });
    // Without params.url: the endpoint the inventory lists.
    const b = await ex.verify(
      envelope('verify', { advisory_id: 'proxylogon-2021-03' }),
      context(root, { collectInventory: async () => ({ ...FACTS, endpoints: [patched.url] }) }),
    );
    expect((b.output as VerifyOutput).scan).toMatchObject({ verdict: 'patched' });
    expect((b.output as VerifyOutput).scan!.check).not.toBe('vulnerable');
    const c = await ex.verify(envelope('verify', { advisory_id: 'proxylogon-2021-03' }), context(root));
    expect((c.output as VerifyOutput).scan).toBeUndefined();
    const bad = await ex.verify(
      envelope('verify', { advisory_id: 'proxylogon-2021-03', url: 'ftp://x' }),
      context(root),
    );
    expect(bad.reason).toMatch(/^params\.url/);
  });
});
