/** Ids of tenants, sites and assets, checked where they are created. */
import { ID_PATTERN } from '../api/index.js';
import { badRequest } from './errors.js';

const ID_RE = new RegExp(ID_PATTERN);

export function isId(id: string): boolean {
  return ID_RE.test(id);
}

/** 400 naming `field` unless `id` matches ID_PATTERN. */
export function checkId(field: string, id: string): void {
  if (!ID_RE.test(id)) throw badRequest(`${field}: "${id}" must match ${ID_PATTERN}`);
}
