/** One labelled HTTP/1.x request of the shield corpora. */
export interface LabelledRequest {
  name: string;
  /** The exact request bytes sent on one connection (several requests = pipelining). */
  raw: Buffer;
  /** Expected outcome under the ProxyLogon rule set (eomt.conf + cve-2021-27065.conf, plus strict.conf if `strictOnly`). */
  expect: 'block' | 'allow';
  /** Where the request comes from (tool, attack, corpus file). */
  source: string;
  /** Blocked only when strict.conf is loaded too; EOMT alone lets it through (expected `allow` without strict). */
  strictOnly?: boolean;
  /** Free-text remark (e.g. "rejected by nginx before ModSecurity"). */
  note?: string;
}
