/** IIS W3C logs (inetpub\logs\LogFiles\W3SVC*\u_ex*.log): Sigma `webserver` and `exchange/iis`. */
import { nativeField, webserverField } from '../sigma/fields.js';
import type { LogTypeDescriptor } from './types.js';

export const iisW3c: LogTypeDescriptor = {
  type: 'iis-w3c',
  title: 'IIS W3C extended log',
  label: 'IIS',
  pathLabel: (p) => {
    const w3 = /\/(W3SVC\d+)\//i.exec(p);
    return w3 ? `IIS ${w3[1]!.toUpperCase()}` : undefined;
  },
  clientField: 'c-ip',
  parse: { recordLevel: false, keywords: 'raw' },
  sigma: {
    logsources: [
      {
        category: 'webserver',
        products: ['windows', 'iis', 'exchange'],
        services: ['iis'],
        taxonomy: 'webserver',
        primary: true,
      },
      { product: 'exchange', service: 'iis', taxonomy: 'native' },
    ],
    field: (taxonomy, name) =>
      taxonomy === 'webserver'
        ? webserverField('iis-w3c', name)
        : taxonomy === 'native'
          ? nativeField('iis-w3c', name)
          : undefined,
  },
  locations: { win32: ['%SystemDrive%\\inetpub\\logs\\LogFiles\\W3SVC*'] },
};
