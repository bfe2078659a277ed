/**
 * The shield's labelled request corpus (a test fixture): ProxyLogon attacks and evasions, benign Exchange traffic,
 * and requests built at run time from the third-party GoTestWAF / CRS corpora (other attacks, expected to pass the
 * ProxyLogon patch).
 */
import { crsRegressionRequests, type ExternalOptions, gotestwafRequests } from './external.js';
import { proxylogonAttacks, proxylogonBenign } from './proxylogon.js';
import type { LabelledRequest } from './types.js';

export { crsRegressionRequests, type ExternalOptions, gotestwafRequests } from './external.js';
export { proxylogonAttacks, proxylogonBenign, rawRequest } from './proxylogon.js';
export type { LabelledRequest } from './types.js';

export interface Corpus {
  attacks: LabelledRequest[];
  benign: LabelledRequest[];
}

/**
 * All labelled requests: the hand-written ones, plus the third-party corpora when `corpusDir` is given (a
 * directory that does not exist adds nothing).
 */
export function buildCorpus(opts: Partial<ExternalOptions> = {}): Corpus {
  const { corpusDir } = opts;
  const external = corpusDir
    ? [...gotestwafRequests({ ...opts, corpusDir }), ...crsRegressionRequests({ ...opts, corpusDir })]
    : [];
  return { attacks: proxylogonAttacks(), benign: [...proxylogonBenign(), ...external] };
}
