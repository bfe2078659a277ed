/** Exchange OAB generator log (Logging\OABGeneratorLog): Sigma `exchange/oabgen`. */
import { nativeField } from '../sigma/fields.js';
import type { LogTypeDescriptor } from './types.js';

export const exchangeOabgen: LogTypeDescriptor = {
  type: 'exchange-oabgen',
  title: 'Exchange OAB generator log',
  label: 'OABGenerator',
  pathLabel: (p) => (/\/OABGeneratorLog\//i.test(p) ? 'OABGenerator' : undefined),
  exchangeLogTypes: ['oab gen', 'oabgen'],
  parse: { recordLevel: false, keywords: 'csv' },
  sigma: {
    logsources: [{ product: 'exchange', service: 'oabgen', taxonomy: 'native' }],
    field: (taxonomy, name) => (taxonomy === 'native' ? nativeField('exchange-oabgen', name) : undefined),
  },
  locations: { win32: ['%ExchangeInstallPath%Logging\\OABGeneratorLog'] },
};
