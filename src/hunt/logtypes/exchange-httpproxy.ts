/** Exchange HttpProxy logs (Logging\HttpProxy\<Protocol>\HttpProxy_*.LOG): Sigma `webserver` and `exchange/httpproxy`. */
import { nativeField, webserverField } from '../sigma/fields.js';
import type { LogTypeDescriptor } from './types.js';

export const exchangeHttpProxy: LogTypeDescriptor = {
  type: 'exchange-httpproxy',
  title: 'Exchange HttpProxy log',
  label: 'HttpProxy',
  pathLabel: (p) => {
    const proxy = /\/HttpProxy\/([^/]+)\//i.exec(p);
    return proxy ? `HttpProxy/${proxy[1]}` : undefined;
  },
  exchangeLogTypes: ['httpproxy'],
  clientField: 'ClientIpAddress',
  parse: { recordLevel: false, keywords: 'csv' },
  sigma: {
    logsources: [
      {
        category: 'webserver',
        products: ['windows', 'iis', 'exchange'],
        services: ['iis'],
        taxonomy: 'webserver',
      },
      { product: 'exchange', service: 'httpproxy', taxonomy: 'native' },
    ],
    field: (taxonomy, name) =>
      taxonomy === 'webserver'
        ? webserverField('exchange-httpproxy', name)
        : taxonomy === 'native'
          ? nativeField('exchange-httpproxy', name)
          : undefined,
  },
  locations: { win32: ['%ExchangeInstallPath%Logging\\HttpProxy\\*'] },
};
