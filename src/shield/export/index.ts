/**
 * `bulwark shield export`: write a parsed SecLang rule set for another enforcement point — ModSecurity (canonical
 * SecLang), nginx (rewrite-module snippet), IIS URL Rewrite (web.config), HAProxy (acls). Pure: text in, text out.
 * Rules a target cannot express are left out and listed in `skipped` with the reason (and as comments in `text`).
 * Each target module documents its mapping at its top.
 */
import type { SecLangAst } from '../seclang/index.js';
import type { ExportFormat, ExportOptions, ExportResult } from './common.js';
import { exportHaproxy } from './haproxy.js';
import { exportIis } from './iis.js';
import { exportModsecurity } from './modsecurity.js';
import { exportNginx } from './nginx.js';

export type {
  ExportFormat,
  ExportNote,
  ExportOptions,
  ExportResult,
  IisRuleSpec,
  SkippedRule,
} from './common.js';
export { exportHaproxy } from './haproxy.js';
export { EOMT_IIS_EQUIVALENTS, EOMT_IIS_RULES, exportIis } from './iis.js';
export { CRS_ID_RANGES, canonicalAst, canonicalRule, exportModsecurity, inCrsRange } from './modsecurity.js';
export { exportNginx } from './nginx.js';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['modsecurity', 'nginx', 'iis', 'haproxy'];

export function exportRules(
  asts: readonly SecLangAst[],
  format: ExportFormat,
  opts: ExportOptions & { allowCrsIds?: boolean } = {},
): ExportResult {
  switch (format) {
    case 'modsecurity':
      return exportModsecurity(asts, opts);
    case 'nginx':
      return exportNginx(asts, opts);
    case 'iis':
      return exportIis(asts, opts);
    case 'haproxy':
      return exportHaproxy(asts, opts);
  }
}
