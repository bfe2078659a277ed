import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assetFactsValidator } from '../../core/exposure/facts.js';
import { parseWindowsInventory, windowsInventoryFacts } from '../../core/inventory/windows.js';
import { collectInventory, factsHash, WINDOWS_SCRIPT } from './index.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./windows/fixtures/${name}`, import.meta.url), 'utf8');

describe('Windows inventory document (recorded-output fixtures)', () => {
  it('Exchange 2016 CU19 with the March 2021 SU on Server 2016: exact build, KBs, EOMT rules, endpoints', () => {
    const facts = parseWindowsInventory(fixture('exchange2016-cu19-mar21su-ws2016.json'), 'ex2016-01');
    expect(assetFactsValidator.safeParse(facts).success).toBe(true);
    expect(facts.name).toBe('EX2016-01');
    expect(facts.os).toEqual({
      product: 'microsoft:windows_server',
      version: '10.0.14393.4283',
      name: 'Microsoft Windows Server 2016 Standard',
    });
    // ExSetup's file version (SU level), not the registry's CU-level 15.1.2176.2.
    expect(facts.products).toContainEqual({
      product: 'microsoft:exchange_server',
      version: '15.1.2176.9',
      name: 'Microsoft Exchange Server',
    });
    expect(facts.products.filter((p) => p.product === 'microsoft:exchange_server')).toHaveLength(1);
    expect(facts.installed_kbs).toEqual(['KB4589210', 'KB5000803', 'KB5000871', 'KB5001078']);
    expect(facts.products).toContainEqual({
      product: 'microsoft:iis_url_rewrite',
      version: '7.2.1993',
      name: 'IIS URL Rewrite Module 2',
    });
    expect(facts.products).toContainEqual({
      product: 'microsoft:visual_c++_2013_redistributable_x64_-_12.0.40664',
      version: '12.0.40664.0',
      name: 'Microsoft Visual C++ 2013 Redistributable (x64) - 12.0.40664',
    });
    expect(facts.endpoints).toEqual([
      'https://ex2016-01.contoso.local/',
      'https://ex2016-01.contoso.local:444/',
    ]);
    expect(facts.tags).toEqual(['exchange', 'iis:url-rewrite', 'mitigation:proxylogon-eomt', 'windows']);
  });

  it('Exchange 2019 CU8 without SU on Server 2019: CU build, no mitigation, host-header endpoints', () => {
    const facts = parseWindowsInventory(fixture('exchange2019-cu8-ws2019.json'), 'mail01');
    expect(facts.os?.version).toBe('10.0.17763.1757');
    expect(facts.products.find((p) => p.product === 'microsoft:exchange_server')?.version).toBe('15.2.792.3');
    expect(facts.installed_kbs).toEqual(['KB4601345', 'KB4601393', 'KB4601558']);
    expect(facts.endpoints).toEqual([
      'https://mail.contoso.com/',
      'https://autodiscover.contoso.com/',
      'https://mail01.contoso.local:444/',
    ]);
    expect(facts.tags).toEqual(['exchange', 'windows']);
  });

  it('Windows 10 client: microsoft:windows with build.UBR, uninstall entries as products', () => {
    const facts = parseWindowsInventory(fixture('windows10-1909-client.json'), 'mylap');
    expect(facts.os).toEqual({
      product: 'microsoft:windows',
      version: '10.0.18363.720',
      name: 'Microsoft Windows 10 Pro',
    });
    expect(facts.products).toContainEqual({
      product: 'igor_pavlov:7-zip_19.00_x64',
      version: '19.00',
      name: '7-Zip 19.00 (x64)',
    });
    expect(facts.products).toContainEqual({
      product: 'mozilla:firefox_72.0.2_x64_en-us',
      version: '72.0.2',
      name: 'Mozilla Firefox 72.0.2 (x64 en-US)',
    });
    expect(facts.tags).toEqual(['windows']);
  });

  it('an EOMT rule counts only with its name, cookie pattern and AbortRequest action; one rule is partial', () => {
    const doc = JSON.parse(fixture('exchange2016-cu19-mar21su-ws2016.json'));
    doc.iis.rewrite_rules[1].pattern = '(.*)X-BEResource=(.*)';
    expect(windowsInventoryFacts(doc, 'x').tags).toContain('mitigation:proxylogon-eomt-partial');
    doc.iis.rewrite_rules[0].action = 'None';
    expect(windowsInventoryFacts(doc, 'x').tags).not.toContain('mitigation:proxylogon-eomt-partial');
  });

  it('collectInventory on win32 runs the collector script and parses its output', async () => {
    const calls: string[][] = [];
    const facts = await collectInventory({
      platform: 'win32',
      id: 'ex2016-01',
      run: async (cmd, args) => {
        calls.push([cmd, ...args]);
        return fixture('exchange2016-cu19-mar21su-ws2016.json');
      },
    });
    expect(calls[0]).toEqual([
      'powershell.exe',
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-File',
      WINDOWS_SCRIPT,
    ]);
    expect(facts.id).toBe('ex2016-01');
    expect(factsHash(facts)).toBe(
      factsHash(parseWindowsInventory(fixture('exchange2016-cu19-mar21su-ws2016.json'), 'other')),
    );
  });

  it('refuses a document that is not the collector output, and never throws on hostile members', () => {
    expect(() => parseWindowsInventory('not json', 'x')).toThrow(
      /not a bulwark-windows-inventory\/1 document/,
    );
    expect(() => parseWindowsInventory('{"schema":"other"}', 'x')).toThrow(/not a/);
    const member = fc.oneof(fc.anything(), fc.string(), fc.array(fc.anything(), { maxLength: 5 }));
    fc.assert(
      fc.property(
        fc.record({
          os: member,
          hotfixes: member,
          uninstall: fc.oneof(
            member,
            fc.array(
              fc.record({ display_name: fc.string(), display_version: fc.string(), publisher: fc.string() }),
            ),
          ),
          exchange: fc.oneof(
            member,
            fc.record({ exsetup_file_version: fc.string(), file_major: fc.anything() }),
          ),
          iis: member,
          computer_name: member,
          fqdn: member,
        }),
        (parts) => {
          const facts = windowsInventoryFacts({ schema: 'bulwark-windows-inventory/1', ...parts }, 'h');
          expect(assetFactsValidator.safeParse(facts).success).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('PowerShell scripts', () => {
  const between = (text: string) => {
    const m = /# BEGIN COLLECTOR\r?\n([\s\S]*?)# END COLLECTOR/.exec(text);
    return m?.[1];
  };
  it('the RMM script carries the agent collector unchanged', () => {
    const agent = readFileSync(WINDOWS_SCRIPT, 'utf8');
    const rmm = readFileSync(new URL('../../../scripts/rmm/bulwark-inventory.ps1', import.meta.url), 'utf8');
    expect(between(agent)).toBeTruthy();
    expect(between(rmm)).toBe(between(agent));
  });
});
