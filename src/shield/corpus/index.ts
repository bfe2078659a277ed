/**
 * The shield's labelled request corpus: ProxyLogon attacks and evasions, benign Exchange traffic, and requests
 * built at run time from the shared GoTestWAF / CRS corpora (other attacks, expected to pass the ProxyLogon patch).
 */
import { crsRegressionRequests, type ExternalOptions, gotestwafRequests } from './external.js';
import { proxylogonAttacks, proxylogonBenign } from './proxylogon.js';
import type { LabelledRequest } from './types.js';

export { crsRegressionRequests, gotestwafRequests, SHARED_CORPUS_DIR } from './external.js';
export { proxylogonAttacks, proxylogonBenign, rawRequest } from './proxylogon.js';
export type { LabelledRequest } from './types.js';

export interface Corpus {
  attacks: LabelledRequest[];
  benign: LabelledRequest[];
}

/** All labelled requests. External corpora are skipped silently when ../shared/corpus is not present. */
export function buildCorpus(opts: ExternalOptions & { external?: boolean } = {}): Corpus {
  const external =
    opts.external === false ? [] : [...gotestwafRequests(opts), ...crsRegressionRequests(opts)];
  return { attacks: proxylogonAttacks(), benign: [...proxylogonBenign(), ...external] };
}
