/**
 * Shared shapes of the shield capability: a request as the virtual-patch rule engine sees it, and the engine's
 * decision. The gateway builds ShieldRequests from live traffic; tests and the differential harness build them
 * from corpora.
 */

/** A request in the form ModSecurity's variables are taken from. Nothing is decoded here: transformations do that. */
export interface ShieldRequest {
  method: string;
  /** The request-target exactly as received, e.g. `/owa/auth/x.js?a=%41` (REQUEST_URI). */
  uri: string;
  /** `1.0`, `1.1`, … */
  httpVersion: string;
  /** Header lines in order as received, names in their original case; repeated headers stay separate entries. */
  headers: readonly (readonly [name: string, value: string])[];
  /** Client address (REMOTE_ADDR). */
  remoteAddr: string;
  /** Request body as far as it was read (phase 2 only); `bodyTruncated` when the bound cut it. */
  body?: Buffer;
  bodyTruncated?: boolean;
}

export type RulePhase = 1 | 2;

/** One rule (or chain) that matched. */
export interface RuleMatch {
  id: number;
  phase: RulePhase;
  msg?: string;
  tags: string[];
  severity?: string;
  /** The variable that matched, as ModSecurity names it, e.g. `REQUEST_HEADERS:Cookie`. */
  variable: string;
  /** The matched value after transformations, cut to 200 characters. */
  excerpt: string;
  /** What the rule would do: the disruptive action (from the rule or SecDefaultAction). */
  action: 'deny' | 'drop' | 'pass' | 'block' | 'allow';
}

export interface Decision {
  /** `allow` lets the request through; `deny` answers with `status`; `drop` closes the connection without a response. */
  action: 'allow' | 'deny' | 'drop';
  status?: number;
  matches: RuleMatch[];
  /** SecRuleEngine DetectionOnly: matches are reported but `action` is always `allow`. */
  detectionOnly: boolean;
}
