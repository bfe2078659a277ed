/**
 * A value outside a closed set is answered with the values allowed (issue 11 item 6: "must be equal to constant"
 * was all a caller learnt). Checked as a property against Ajv itself (the validator Fastify runs, with the options
 * the app gives it), and over every closed-set query parameter of the running app's OpenAPI document.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestServer, type TestServer } from './app.testkit.js';
import { type SchemaError, validationMessage } from './validation.js';

/** The options app.ts gives Fastify's Ajv. */
const ajv = new Ajv({ removeAdditional: false, coerceTypes: 'array', allErrors: false, verbose: true });

function messageFor(schema: TSchema, value: unknown): string | undefined {
  const validate = ajv.compile(schema);
  if (validate(structuredClone(value))) return undefined;
  return validationMessage(validate.errors as SchemaError[], 'body');
}

const word = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/);

describe('validation messages', () => {
  it('list exactly the allowed values of a union of literals, an enum or a const, wherever the field is', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(word, { minLength: 1, maxLength: 8 }),
        fc.string({ maxLength: 12 }),
        fc.constantFrom('union', 'enum', 'nullable union'),
        fc.boolean(),
        (allowed, candidate, form, nested) => {
          fc.pre(!allowed.includes(candidate));
          // Fastify coerces query strings: '' is null where null is allowed.
          fc.pre(candidate !== '' || form !== 'nullable union');
          const field: TSchema =
            form === 'enum'
              ? Type.Unsafe<string>({ type: 'string', enum: allowed })
              : form === 'union'
                ? Type.Union(allowed.map((a) => Type.Literal(a)))
                : Type.Union([...allowed.map((a) => Type.Literal(a)), Type.Null()]);
          const schema = nested
            ? Type.Object({ items: Type.Array(Type.Object({ kind: field })) })
            : Type.Object({ kind: field });
          const value = nested ? { items: [{ kind: candidate }] } : { kind: candidate };
          const values = form === 'nullable union' ? [...allowed, 'null'] : allowed;
          const where = nested ? 'body.items[0].kind' : 'body.kind';
          const expected =
            values.length === 1
              ? `${where}: must be ${values[0]}`
              : `${where}: must be one of: ${values.join(', ')}`;
          expect(messageFor(schema, value)).toBe(expected);
        },
      ),
      process.env.BULWARK_PROPERTY_RUNS
        ? { numRuns: Number(process.env.BULWARK_PROPERTY_RUNS) }
        : { numRuns: 200, interruptAfterTimeLimit: 10_000 },
    );
  });

  it('keep the other messages as they were', () => {
    const schema = Type.Object(
      {
        id: Type.String({ pattern: '^[a-z]+$' }),
        n: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
      },
      { additionalProperties: false },
    );
    expect(messageFor(schema, {})).toBe('body.id: is required');
    expect(messageFor(schema, { id: 'a', x: 1 })).toBe('body.x: is not a known field');
    expect(messageFor(schema, { id: 'A' })).toBe('body.id: must match pattern "^[a-z]+$"');
    // A union that is not all literals is not a closed set: Ajv's own message stands.
    expect(messageFor(schema, { id: 'a', n: 'x' })).toBe('body.n: must be integer');
  });
});

describe('closed-set query parameters of every route', () => {
  let t: TestServer | undefined;
  beforeAll(async () => {
    t = await openTestServer('sqlite');
    await t!.call(t!.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: 'acme', name: 'Acme' },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
  });

  it('answer a value outside the set with every value allowed', async () => {
    const doc = (await t!.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema: Schema }[] }>>;
    };
    type Schema = { anyOf?: { const?: unknown; enum?: unknown[] }[]; enum?: unknown[] };
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const get = ops.get;
      if (!get) continue;
      for (const p of get.parameters ?? []) {
        if (p.in !== 'query') continue;
        // A union of literals reads as anyOf of one-value enums (or consts) in the document.
        const allowed =
          p.schema.enum ?? p.schema.anyOf?.map((b) => (b.enum?.length === 1 ? b.enum[0] : b.const));
        if (!allowed || allowed.some((v) => v === undefined)) continue;
        const url = `${path.replace('{tenant}', 'acme').replace(/\{\w+\}/g, 'x')}?${p.name}=zz-not-allowed`;
        const res = await t!.call(t!.admin, { method: 'GET', url });
        expect(res.statusCode, url).toBe(400);
        expect(res.json().message, url).toBe(`querystring.${p.name}: must be one of: ${allowed.join(', ')}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2);
  });
});
