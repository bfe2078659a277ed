/**
 * "Contains" text filters in SQL. The text is matched literally: its `%`, `_` and `\` are escaped, so `q=%` finds
 * names with a percent sign instead of every row (a bulk selection by `%` would otherwise act on everything).
 */
import { type Expression, type RawBuilder, sql } from 'kysely';

/** The LIKE pattern for "contains `text`" (lower case), with `\` as the escape character. */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** `lower(expr) like '%text%' escape '\'`: the same on SQLite and PostgreSQL. */
export function containsText(expr: Expression<unknown>, text: string): RawBuilder<boolean> {
  return sql<boolean>`lower(${expr}) like ${containsPattern(text)} escape '\\'`;
}
