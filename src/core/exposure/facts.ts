/**
 * What Bulwark knows about an asset: the products and versions it runs, its OS and installed updates. The same
 * shape comes from a facts file, an agent's inventory or a remote scan.
 */
import { z } from 'zod';
import { productId } from '../advisory/model.js';

const nonEmpty = z.string().min(1, 'must not be empty');

export const productFactSchema = z.strictObject({
  product: productId,
  version: nonEmpty,
  name: z.string().optional(),
});

export const assetFactsSchema = z.strictObject({
  id: nonEmpty,
  name: z.string().optional(),
  tenant: z.string().optional(),
  os: productFactSchema.optional(),
  products: z.array(productFactSchema).default([]),
  /** Installed Microsoft updates (KB ids), as EOMT reads them from the uninstall registry. */
  installed_kbs: z.array(z.string().regex(/^KB\d{6,8}$/i, 'expected a KB id such as KB5000871')).default([]),
  endpoints: z.array(nonEmpty).default([]),
  tags: z.array(nonEmpty).default([]),
});

/** A facts file holds one asset, a list of assets, or `{ assets: [...] }`. */
export const factsFileSchema = z
  .union([z.strictObject({ assets: z.array(assetFactsSchema) }), z.array(assetFactsSchema), assetFactsSchema])
  .transform((v) => (Array.isArray(v) ? v : 'assets' in v ? v.assets : [v]))
  .superRefine((assets, ctx) => {
    const seen = new Set<string>();
    assets.forEach((a, i) => {
      if (seen.has(a.id))
        ctx.addIssue({
          code: 'custom',
          path: ['assets', i, 'id'],
          message: `asset id "${a.id}" is used twice`,
        });
      seen.add(a.id);
    });
  });

export type ProductFact = z.infer<typeof productFactSchema>;
export type AssetFacts = z.infer<typeof assetFactsSchema>;
export type AssetFactsInput = z.input<typeof assetFactsSchema>;
