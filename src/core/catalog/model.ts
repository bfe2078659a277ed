/**
 * A product catalog lists every known release of one product, grouped in release trains (an Exchange CU, a
 * Windows feature update, …) with the updates released for each train. It answers "what is build X?" and
 * "which builds exist after X?", which the exposure engine needs to never guess an unknown build safe.
 */
import { Type } from '@sinclair/typebox';
import { isoDate, kbId, productId, schemeId } from '../advisory/model.js';
import { Defaulted, dataValidator, type StaticOutput, StrictObject, withMessage } from '../schema.js';

const nonEmpty = Type.String({ minLength: 1 });

export const catalogUpdateSchema = StrictObject({
  /** Short name as used by Microsoft's tooling, e.g. "Mar21SU". */
  name: nonEmpty,
  /** Human title, e.g. "March 2021 Security Update". */
  title: Type.Optional(Type.String()),
  build: nonEmpty,
  kb: Type.Optional(kbId),
  released: Type.Optional(isoDate),
  notes: Type.Optional(Type.String()),
});

export const catalogTrainSchema = StrictObject({
  /** Stable id, e.g. "exchange-2016-cu19". */
  id: withMessage(Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }), 'expected a lower-case id'),
  /** Product line, e.g. "Exchange Server 2016". */
  product_name: nonEmpty,
  /** Train name within the line, e.g. "CU19", "SP3 RU31", "RTM". */
  name: nonEmpty,
  /** The build the train starts at (its RTM build). */
  build: nonEmpty,
  kb: Type.Optional(kbId),
  released: Type.Optional(isoDate),
  updates: Defaulted(Type.Array(catalogUpdateSchema), []),
  notes: Type.Optional(Type.String()),
});

export const catalogSchema = StrictObject({
  schema_version: Type.Literal(1),
  id: withMessage(
    Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
    'expected a lower-case id such as exchange',
  ),
  product: productId,
  name: nonEmpty,
  scheme: schemeId,
  /** Where the facts come from; disagreements between sources are noted on the entries themselves. */
  sources: Type.Array(
    StrictObject({
      title: nonEmpty,
      url: Type.Optional(Type.String()),
      notes: Type.Optional(Type.String()),
    }),
  ),
  trains: Type.Array(catalogTrainSchema, { minItems: 1 }),
});

export const catalogValidator = dataValidator(catalogSchema);

export type Catalog = StaticOutput<typeof catalogSchema>;
export type CatalogTrain = StaticOutput<typeof catalogTrainSchema>;
export type CatalogUpdate = StaticOutput<typeof catalogUpdateSchema>;
