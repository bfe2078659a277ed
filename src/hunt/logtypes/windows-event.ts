/**
 * Windows Application event log exports (wevtutil XML, Event Viewer / Export-Csv CSV): Sigma
 * `windows/application`. The live log is not a file; the agent exports it (wevtutil) into its state dir.
 */
import { windowsField } from '../sigma/fields.js';
import type { LogTypeDescriptor } from './types.js';

const logsources = [{ product: 'windows', service: 'application', taxonomy: 'windows' as const }];

export const windowsEventXml: LogTypeDescriptor = {
  type: 'windows-event-xml',
  title: 'Windows event log, wevtutil XML export',
  label: 'Application event log',
  parse: { recordLevel: true, keywords: 'xml' },
  sigma: {
    logsources,
    field: (taxonomy, name) => (taxonomy === 'windows' ? windowsField('windows-event-xml', name) : undefined),
  },
  locations: {},
};

export const windowsEventCsv: LogTypeDescriptor = {
  type: 'windows-event-csv',
  title: 'Windows event log, CSV export',
  label: 'Application event log',
  parse: { recordLevel: true, keywords: 'csv' },
  sigma: {
    logsources,
    field: (taxonomy, name) => (taxonomy === 'windows' ? windowsField('windows-event-csv', name) : undefined),
  },
  locations: {},
};
