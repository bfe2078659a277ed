/**
 * Issue 11 item 6: the hunt's outputs read right to the people they are for. Timelines use paths relative to what
 * was given, skipped files are named with the reason, and the HTML report handed to a customer holds no command
 * lines and mentions a timeline only when it has one.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKnowledgeBase } from '../../advisories/index.js';
import { generateLogs } from '../../lab/loggen/index.js';
import { huntConfig } from '../config.js';
import { hunt } from '../hunt.js';
import { renderHtml, renderText } from './render.js';

const kb = loadKnowledgeBase();
const proxylogon = kb.advisories.find((a) => a.id === 'proxylogon-2021-03')!;
const config = huntConfig({
  advisories: [{ advisory: proxylogon, file: kb.fileOf.get(proxylogon.id)! }],
  sigmaPaths: [],
  iocFiles: [],
  strict: false,
});
const run = (paths: string[]) => hunt({ paths, rules: config.rules, assess: config.assess, workers: 1 });

const IIS =
  '#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n';

/** Command lines and references to CLI output a customer cannot act on. */
const CLI_TALK = /\bbulwark\s+[a-z]|--(json|html|csv|iocs|sigma|host)\b|<drive root>|<build>/;

describe('what the reports say', () => {
  it('a compromised server: relative paths, named skipped files, no command lines in the HTML', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bulwark-customer-'));
    const logs = join(root, 'EXCH01', 'inetpub', 'logs', 'LogFiles', 'W3SVC1');
    mkdirSync(logs, { recursive: true });
    writeFileSync(
      join(logs, 'u_ex210303.log'),
      `${IIS}2021-03-03 01:02:04 10.0.0.1 POST /aspnet_client/system_web/shell.aspx - 443 - 203.0.113.9 curl - 200 0 0 1\n`,
    );
    writeFileSync(join(root, 'readme.txt'), 'collected by the MSP\n');
    const r = await run([root]);
    expect(r.hosts.map((h) => h.verdict)).toEqual(['compromised']);
    const shown = `${basename(root)}/EXCH01/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log`;
    expect(r.hosts[0]!.timeline.map((t) => t.file)).toEqual([shown]);
    expect(r.skipped).toEqual([{ file: `${basename(root)}/readme.txt`, reason: 'not a recognised log' }]);

    const text = renderText(r, (_s, t) => t);
    expect(text).toContain(`  ${basename(root)}/readme.txt: not a recognised log`);
    expect(text).not.toContain(root);

    const html = renderHtml(r, { title: 'Assessment', generated: '2026-12-07' });
    expect(html).not.toMatch(CLI_TALK);
    expect(html).not.toContain(root);
    expect(html).toContain('Files not examined');
    expect(html).toContain(`${basename(root)}/readme.txt`);
    expect(html).toContain('timeline of this report');
    expect(html).toMatch(/<h3>Timeline<\/h3>/);
  });

  it('a clean server: no timeline, and no step that points at one', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bulwark-customer-'));
    await generateLogs({ out: root, bytes: 1e6, seed: 5, attacks: 0 });
    const r = await run([root]);
    expect(r.hosts.map((h) => [h.verdict, h.timeline.length])).toEqual([['clean', 0]]);
    const html = renderHtml(r, { title: 'Assessment', generated: '2026-12-07' });
    expect(html).not.toMatch(CLI_TALK);
    expect(html).not.toMatch(/timeline/i);
    for (const h of r.hosts) for (const s of h.next_steps) expect(s).not.toMatch(CLI_TALK);
  });
});
