/**
 * Safe active check for CVE-2021-26855 (proxylogon.md §4, Microsoft's NSE after 2021-03-09): one GET of a static
 * front-end resource with the back-end routing cookies. It reads nothing, writes nothing, logs nobody in.
 * Vulnerable when `X-CalculatedBETarget` names localhost (any status); a connection closed or reset with no
 * response means the EOMT URL Rewrite rule aborted the request (shielded).
 *
 * Not vulnerable needs an answer that can only come from the server's own handling of that file: x.js does not
 * exist on any Exchange, so a 2xx answer, or the OWA logon page at any status, comes from something that answers
 * every path (a catch-all site, a portal or a proxy's page) and proves nothing either way: inconclusive.
 */
import { type Get, LOGON_MARKERS } from './fingerprint.js';

/** The CVE this check proves (a server that routes the request to localhost has the SSRF). */
export const CHECK_CVE = 'CVE-2021-26855';

export const CHECK_PATH = '/owa/auth/x.js';
export const CHECK_COOKIE =
  'X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-BEResource=localhost/owa/auth/logon.aspx?~3;';

export type CheckVerdict = 'vulnerable' | 'not_vulnerable' | 'inconclusive' | 'aborted' | 'error';

export interface CheckResult {
  verdict: CheckVerdict;
  evidence: string;
}

export async function proxyLogonCheck(get: Get): Promise<CheckResult> {
  const o = await get(CHECK_PATH, { Cookie: CHECK_COOKIE });
  if (o.kind === 'aborted') {
    return {
      verdict: 'aborted',
      evidence: `GET ${CHECK_PATH} with routing cookies: connection closed, no response`,
    };
  }
  if (o.kind === 'error') {
    return { verdict: 'error', evidence: `GET ${CHECK_PATH} with routing cookies: ${o.code}: ${o.message}` };
  }
  const be = o.headers['x-calculatedbetarget'];
  if (be !== undefined && /localhost/i.test(be)) {
    return {
      verdict: 'vulnerable',
      evidence: `GET ${CHECK_PATH} with routing cookies: ${o.status}, X-CalculatedBETarget: ${be.slice(0, 100)}`,
    };
  }
  const servedPage = LOGON_MARKERS.find((m) => o.body.includes(m));
  if ((o.status >= 200 && o.status < 300) || servedPage) {
    const what = servedPage ? `the OWA logon page ("${servedPage}")` : `a ${o.status}`;
    return {
      verdict: 'inconclusive',
      evidence: `GET ${CHECK_PATH} with routing cookies: ${o.status}, ${what} for a file Exchange does not have: the server answers paths it does not have, so the check proves nothing`,
    };
  }
  return {
    verdict: 'not_vulnerable',
    evidence: `GET ${CHECK_PATH} with routing cookies: ${o.status}${be !== undefined ? `, X-CalculatedBETarget: ${be.slice(0, 100)}` : ', no X-CalculatedBETarget'}`,
  };
}
