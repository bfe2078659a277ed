/**
 * Shared shapes of the feed importers. Every importer is a pure function from an already-parsed document
 * (JSON value or XML text) to Bulwark advisories, so the CLI and the server share them and tests need no I/O.
 */
import type { AdvisoryInput, Catalog, Kev } from '../../core/index.js';

export type ImportFormat = 'kev' | 'cve5' | 'nvd' | 'csaf' | 'osv' | 'cvrf';

/** Something the importer could not use. `path` names the field in the source, e.g. `containers.cna.affected[3].versions[0].lessThan`. */
export interface ImportWarning {
  path: string;
  message: string;
}

export interface ImportContext {
  /** Shown in warnings and stored as the advisory's `origin`, e.g. the file name. */
  origin: string;
  /** Product catalogs used to turn product names such as "Exchange Server 2016 Cumulative Update 19" into version ranges. */
  catalogs: readonly Catalog[];
}

export interface ImportResult {
  format: ImportFormat;
  advisories: AdvisoryInput[];
  /** KEV enrichment keyed by CVE id (only the KEV importer fills it). */
  kev: Map<string, Kev>;
  warnings: ImportWarning[];
}

/** A document that is not the format at all (wrong top-level shape): thrown, not warned, so nothing is half-imported. */
export class ImportError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'ImportError';
  }
}
