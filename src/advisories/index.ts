/** Advisory packs, product catalogs and feed importers: the knowledge base every capability reads. */
export { detectFormat, type ImportedFile, importDocument } from './import/index.js';
export { applyKev } from './import/kev.js';
export type { ImportFormat, ImportResult, ImportWarning } from './import/types.js';
export { ImportError } from './import/types.js';
export {
  defaultDataDir,
  KEV_FILE,
  type KnowledgeBase,
  loadKevEnrichment,
  loadKnowledgeBase,
} from './knowledge.js';
export {
  type LoadedAdvisory,
  loadAdvisoryFile,
  loadBuiltinAdvisories,
  loadBuiltinCatalogs,
  loadCatalogFile,
  parseAdvisory,
  readDataFile,
  ruleFilePath,
} from './load.js';
export {
  huntAdvisories,
  huntRuleFiles,
  type PackAdvisory,
  PackError,
  type PackRuleFile,
  packAdvisory,
  packIocs,
  sigmaRuleFiles,
  virtualPatchFiles,
} from './packs.js';
export { type SavedImport, saveImport } from './store.js';
