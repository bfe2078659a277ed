/**
 * What Bulwark knows about an asset: the products and versions it runs, its OS and installed updates. The same
 * shape comes from a facts file, an agent's inventory or a remote scan, and the server's API takes and documents
 * this schema as it is.
 */
import { type Static, Type } from '@sinclair/typebox';
import { productId } from '../advisory/model.js';
import type { DataIssue } from '../datafile.js';
import { Defaulted, dataValidator, type StaticOutput, StrictObject, withMessage } from '../schema.js';

const nonEmpty = Type.String({ minLength: 1 });

/**
 * Most products one asset's facts hold: an agent's inventory lists every installed package (a Debian or RHEL
 * server has 1,000-5,000). The one limit for every source; a request's body limit bounds a push of many assets.
 */
export const MAX_ASSET_PRODUCTS = 20_000;

export const productFactSchema = StrictObject({
  product: productId,
  version: nonEmpty,
  name: Type.Optional(Type.String()),
});

/** One asset's facts; the lists are bounded, as one request or file entry may hold them. */
export const assetFactsSchema = StrictObject(
  {
    id: nonEmpty,
    name: Type.Optional(Type.String()),
    tenant: Type.Optional(Type.String()),
    os: Type.Optional(productFactSchema),
    products: Defaulted(Type.Array(productFactSchema, { maxItems: MAX_ASSET_PRODUCTS }), []),
    /** Installed Microsoft updates (KB ids), as EOMT reads them from the uninstall registry. */
    installed_kbs: Defaulted(
      Type.Array(
        withMessage(Type.String({ pattern: '^[Kk][Bb]\\d{6,8}$' }), 'expected a KB id such as KB5000871'),
        { maxItems: 5000 },
      ),
      [],
    ),
    endpoints: Defaulted(Type.Array(nonEmpty, { maxItems: 500 }), []),
    tags: Defaulted(Type.Array(nonEmpty, { maxItems: 500 }), []),
  },
  {
    description: 'An asset: the products it runs with their versions, its OS, installed KBs, endpoints, tags',
  },
);

/** A facts file holds one asset, a list of assets, or `{ assets: [...] }`. */
export const factsFileSchema = Type.Union([
  StrictObject({ assets: Type.Array(assetFactsSchema) }),
  Type.Array(assetFactsSchema),
  assetFactsSchema,
]);

export type ProductFact = StaticOutput<typeof productFactSchema>;
export type AssetFacts = StaticOutput<typeof assetFactsSchema>;
export type AssetFactsInput = Static<typeof assetFactsSchema>;

export const assetFactsValidator = dataValidator(assetFactsSchema);

/** The assets of a facts file, in the file's order. */
function assetsOf(file: StaticOutput<typeof factsFileSchema>): AssetFacts[] {
  return Array.isArray(file) ? file : 'assets' in file ? file.assets : [file];
}

/** No asset id twice in one file. */
function checkFactsFile(file: StaticOutput<typeof factsFileSchema>): DataIssue | undefined {
  const seen = new Set<string>();
  for (const [i, a] of assetsOf(file).entries()) {
    if (seen.has(a.id)) {
      const path = Array.isArray(file) ? [i, 'id'] : 'assets' in file ? ['assets', i, 'id'] : ['id'];
      return { path, message: `asset id "${a.id}" is used twice` };
    }
    seen.add(a.id);
  }
  return undefined;
}

/** A facts file's text (see parseDataText) → its assets. */
export const factsFileValidator = dataValidator(factsFileSchema, {
  check: checkFactsFile,
  normalize: assetsOf,
});
