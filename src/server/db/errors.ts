/** Database errors the server answers on purpose, recognised on either driver. */

/** A foreign key violation: PostgreSQL SQLSTATE 23503, better-sqlite3's SQLITE_CONSTRAINT_FOREIGNKEY. */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** A unique or primary key violation: PostgreSQL SQLSTATE 23505, better-sqlite3's SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
