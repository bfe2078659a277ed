/**
 * A product catalog lists every known release of one product, grouped in release trains (an Exchange CU, a
 * Windows feature update, …) with the updates released for each train. It answers "what is build X?" and
 * "which builds exist after X?", which the exposure engine needs to never guess an unknown build safe.
 */
import { z } from 'zod';
import { isoDate, kbId, productId, schemeId } from '../advisory/model.js';

const nonEmpty = z.string().min(1, 'must not be empty');

export const catalogUpdateSchema = z.strictObject({
  /** Short name as used by Microsoft's tooling, e.g. "Mar21SU". */
  name: nonEmpty,
  /** Human title, e.g. "March 2021 Security Update". */
  title: z.string().optional(),
  build: nonEmpty,
  kb: kbId.optional(),
  released: isoDate.optional(),
  notes: z.string().optional(),
});

export const catalogTrainSchema = z.strictObject({
  /** Stable id, e.g. "exchange-2016-cu19". */
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lower-case id'),
  /** Product line, e.g. "Exchange Server 2016". */
  product_name: nonEmpty,
  /** Train name within the line, e.g. "CU19", "SP3 RU31", "RTM". */
  name: nonEmpty,
  /** The build the train starts at (its RTM build). */
  build: nonEmpty,
  kb: kbId.optional(),
  released: isoDate.optional(),
  updates: z.array(catalogUpdateSchema).default([]),
  notes: z.string().optional(),
});

export const catalogSchema = z.strictObject({
  schema_version: z.literal(1),
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lower-case id such as exchange'),
  product: productId,
  name: nonEmpty,
  scheme: schemeId,
  /** Where the facts come from; disagreements between sources are noted on the entries themselves. */
  sources: z.array(
    z.strictObject({ title: nonEmpty, url: z.string().optional(), notes: z.string().optional() }),
  ),
  trains: z.array(catalogTrainSchema).min(1),
});

export type Catalog = z.infer<typeof catalogSchema>;
export type CatalogTrain = z.infer<typeof catalogTrainSchema>;
export type CatalogUpdate = z.infer<typeof catalogUpdateSchema>;
