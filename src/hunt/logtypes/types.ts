/**
 * A log type as one descriptor: how it is recognised, parsed, read by Sigma rules, labelled in coverage, and where
 * it lives on a host. The registry (registry.ts) holds one per type; nothing else names a log type's behaviour.
 */
import type { Detected } from '../parse/detect.js';
import type { LineParser, RecordParser, RecordParserOptions } from '../parse/parsers.js';
import type { FieldAccess } from '../sigma/fields.js';
import type { Taxonomy } from '../sigma/model.js';
import type { LogType } from '../types.js';

/** A Sigma `logsource` this type answers to. */
export interface LogSourceMatch {
  /** With a category: the rule's `category` must equal it, and its product/service (if any) be listed below. */
  category?: string;
  /** Without a category: the rule's product (and service, when given here) must equal these. */
  product?: string;
  service?: string;
  /** Products and services a rule may add to `category` (lower case). */
  products?: readonly string[];
  services?: readonly string[];
  /** How the rule's field names read this type's records. */
  taxonomy: Taxonomy;
  /** The log the taxonomy's field names come from (IIS for `webserver`): listed first among the matching types. */
  primary?: boolean;
}

/** Where the logs of this type live on a host: folder patterns per platform. */
export interface HostLocations {
  /**
   * Windows folders. `%NAME%` is an environment variable (ExchangeInstallPath ends in `\`); a `*` in the last
   * segment matches folder names (`W3SVC*`).
   */
  win32?: readonly string[];
  /** Linux folders (same `*` rule). */
  linux?: readonly string[];
}

export interface LogTypeDescriptor {
  type: LogType;
  /** What the log is, in a few words. */
  title: string;
  /** Coverage label when the file's path says nothing more specific. */
  label: string;
  /** A more specific coverage label from the file's path (`/`-separated, leading `/`), if the path gives one. */
  pathLabel?: (path: string) => string | undefined;
  /**
   * Recognition from the first lines (at most DETECT_LINES). Types without it are recognised by the shared
   * Microsoft log detection in parse/detect.ts (its `#Software:`/`#Log-type:`/header evidence spans several
   * types); `exchangeLogTypes` feeds it.
   */
  detect?: (lines: readonly string[]) => Detected | undefined;
  /** The column holding the client address, when records have one (the IOC address rule reads it). */
  clientField?: string;
  /** Lower-case `#Log-type:` prefixes of Microsoft Exchange logs that are this type. */
  exchangeLogTypes?: readonly string[];
  /** Parsing: whole records (events spanning lines) or lines; a type's own parsers replace the format's. */
  parse: {
    recordLevel: boolean;
    lineParser?: (detected: Detected) => LineParser;
    recordParser?: (detected: Detected, file: string, opts: RecordParserOptions) => RecordParser;
    /** How Sigma keyword searches read the raw line: as written, XML entities decoded, or CSV `""` undoubled. */
    keywords: 'raw' | 'xml' | 'csv';
  };
  sigma: {
    logsources: readonly LogSourceMatch[];
    /** How field `name` of a rule of `taxonomy` reads a record, or undefined when the log has no such field. */
    field: (taxonomy: Taxonomy, name: string) => FieldAccess | undefined;
  };
  locations: HostLocations;
}
