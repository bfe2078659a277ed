/**
 * Browser tests: Debian's chromium driven by playwright-core. A page opened here fails its test on any console
 * error, uncaught exception, Content-Security-Policy violation or HTTP error answer that the test did not expect,
 * and `scanA11y` runs axe-core over the page and fails on serious or critical violations.
 *
 * Without chromium the browser tests skip (one line says so); under CI=true a missing chromium is an error,
 * because .ci/run installs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.BULWARK_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags for a sandboxed CI machine with no network beyond loopback: no background connections, no component
 * updates, no first-run work. --no-sandbox because tests run as root.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--disable-default-apps',
  '--metrics-recording-only',
  '--password-store=basic',
];

let skipNoted = false;

/** chromium, or undefined (after one line on stderr) when it is not installed outside CI. */
export async function launchChromium(): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM_PATH)) {
    if (process.env.CI) {
      throw new Error(
        `chromium is not installed at ${CHROMIUM_PATH}; .ci/run installs it (apt-get install chromium)`,
      );
    }
    if (!skipNoted) {
      skipNoted = true;
      process.stderr.write(
        `browser tests skipped: no chromium at ${CHROMIUM_PATH} (apt-get install chromium)\n`,
      );
    }
    return undefined;
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

export interface ExpectedHttpError {
  method?: string;
  /** The URL path (without the query). */
  path: string;
  status: number;
}

export interface CheckedPage {
  page: Page;
  /** Allows one kind of HTTP error answer (e.g. 401 from GET /api/v1/me before sign-in) for the rest of the page. */
  expectHttpError(e: ExpectedHttpError): void;
  /** Everything that went wrong so far; empty when the page is clean. */
  problems(): Promise<string[]>;
  /** axe-core over the page as it is now: serious and critical violations, one line each. */
  scanA11y(): Promise<string[]>;
}

const requireHere = createRequire(import.meta.url);
let axeSource: string | undefined;
const axe = () => {
  axeSource ??= readFileSync(requireHere.resolve('axe-core/axe.min.js'), 'utf8');
  return axeSource;
};

/**
 * The pages this test file scanned, by what axe sees: the document's markup with the server's address and every
 * digit left out (times and counts change no rule's outcome), the viewport and the colour scheme. A page rendered
 * as one already scanned (typically the same page on the other database, a minute later) has the same result, so
 * it is not scanned again.
 */
const scanned = new Map<string, string[]>();

/** The markup with the server's origin taken out, and how the page is shown. */
const SCAN_KEY = `(() => {
  const html = document.documentElement.outerHTML
    .replaceAll(location.origin, '')
    .replace(/127\\.0\\.0\\.1:\\d+/g, '')
    .replace(/\\d/g, '0');
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  return innerWidth + 'x' + innerHeight + (dark ? ' dark ' : ' light ') + html;
})()`;

/** A new page in `context` with its problems recorded from the first request on. */
export async function openCheckedPage(context: BrowserContext): Promise<CheckedPage> {
  const page = await context.newPage();
  const found: string[] = [];
  const expected: ExpectedHttpError[] = [];
  const isExpected = (method: string | undefined, url: string, status: number) => {
    const path = new URL(url).pathname;
    return expected.some(
      (e) => e.path === path && e.status === status && (!e.method || !method || e.method === method),
    );
  };
  // Run in the page before its own scripts, by the browser rather than as an inline script, so the CSP allows it.
  await page.addInitScript(`
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')');
    });
  `);
  page.on('pageerror', (err) => found.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // The browser logs every failed request; expected ones are checked on the response below.
    const m = /status of (\d{3})/.exec(text);
    if (m && msg.location().url && isExpected(undefined, msg.location().url, Number(m[1]))) return;
    found.push(`console error: ${text} (${msg.location().url})`);
  });
  page.on('response', (res) => {
    if (res.status() < 400) return;
    const method = res.request().method();
    if (!isExpected(method, res.url(), res.status())) {
      found.push(`HTTP ${res.status()} for ${method} ${res.url()}`);
    }
  });
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? 'failed';
    // A navigation that replaces a page aborts that page's pending requests; that is not a fault.
    if (failure !== 'net::ERR_ABORTED')
      found.push(`request failed: ${req.method()} ${req.url()}: ${failure}`);
  });
  return {
    page,
    expectHttpError: (e) => {
      expected.push(e);
    },
    async problems() {
      const csp = await page.evaluate<string[]>('window.__cspViolations ?? []').catch(() => [] as string[]);
      return [...found, ...csp.map((v) => `CSP violation: ${v}`)];
    },
    async scanA11y() {
      const key = await page.evaluate<string>(SCAN_KEY);
      const known = scanned.get(key);
      if (known) return known;
      // Evaluated through the DevTools protocol, which the page's CSP does not govern (no inline script tag);
      // once per document (a client-side navigation keeps it).
      if ((await page.evaluate<string>('typeof window.axe')) !== 'object') await page.evaluate(axe());
      const result = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as {
        violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
      };
      const found = result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map(
          (v) =>
            `${v.impact} ${v.id}: ${v.help} at ${v.nodes
              .slice(0, 3)
              .map((n) => JSON.stringify(n.target))
              .join(', ')}`,
        );
      scanned.set(key, found);
      return found;
    },
  };
}
