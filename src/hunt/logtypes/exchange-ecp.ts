/** Exchange ECP server and activity logs (Logging\ECP\Server, Logging\ECP\Activity): Sigma `exchange/ecp-*`. */
import { nativeField } from '../sigma/fields.js';
import type { LogTypeDescriptor } from './types.js';

export const exchangeEcpServer: LogTypeDescriptor = {
  type: 'exchange-ecp-server',
  title: 'Exchange ECP server log',
  label: 'ECP Server',
  pathLabel: (p) => (/\/ECP\/Server\//i.test(p) ? 'ECP Server' : undefined),
  exchangeLogTypes: ['ecp server'],
  parse: { recordLevel: false, keywords: 'csv' },
  sigma: {
    logsources: [{ product: 'exchange', service: 'ecp-server', taxonomy: 'native' }],
    field: (taxonomy, name) => (taxonomy === 'native' ? nativeField('exchange-ecp-server', name) : undefined),
  },
  locations: { win32: ['%ExchangeInstallPath%Logging\\ECP\\Server'] },
};

export const exchangeEcpActivity: LogTypeDescriptor = {
  type: 'exchange-ecp-activity',
  title: 'Exchange ECP activity log',
  label: 'ECP Activity',
  pathLabel: (p) => (/\/ECP\/Activity\//i.test(p) ? 'ECP Activity' : undefined),
  exchangeLogTypes: ['ecp activity'],
  parse: { recordLevel: false, keywords: 'csv' },
  sigma: {
    logsources: [{ product: 'exchange', service: 'ecp-activity', taxonomy: 'native' }],
    field: (taxonomy, name) =>
      taxonomy === 'native' ? nativeField('exchange-ecp-activity', name) : undefined,
  },
  locations: { win32: ['%ExchangeInstallPath%Logging\\ECP\\Activity'] },
};
