/** The one CVE id rule: `CVE-`, a four-digit year, a sequence number of four or more digits (CVE-2021-26855). */
export const CVE_ID_PATTERN = '^CVE-\\d{4}-\\d{4,}$';

/** CVE_ID_PATTERN as a RegExp (upper-case `CVE-` only). */
export const CVE_ID_RE = new RegExp(CVE_ID_PATTERN);

/** Whether `text` is a CVE id; `ignoreCase` also accepts `cve-…` (feeds that write it so). */
export function isCveId(text: string, ignoreCase = false): boolean {
  return ignoreCase ? CVE_ID_RE.test(text.toUpperCase()) : CVE_ID_RE.test(text);
}
