export {
  AdvisoryCompileError,
  type AssetVerdicts,
  type CveVerdict,
  ExposureEngine,
  type Provenance,
  type Verdict,
} from './engine.js';
export {
  type AssetFacts,
  type AssetFactsInput,
  assetFactsSchema,
  assetFactsValidator,
  factsFileSchema,
  factsFileValidator,
  MAX_ASSET_PRODUCTS,
  type ProductFact,
  productFactSchema,
} from './facts.js';
export { type FixSuggestion, type NearestBuild, reportVersion, type VersionReport } from './report.js';
