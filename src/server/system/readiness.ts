/**
 * Readiness: the database answers and start-up work is done. The answer is public (load balancers call it), so a
 * database error is only `unavailable` there; its text (host names, users, schema) goes to the log.
 */
import type { ReadyState } from '../../api/index.js';
import type { AppContext } from '../context.js';

export async function checkReady(
  ctx: Pick<AppContext, 'db' | 'ready'>,
  log?: { error(obj: object, msg: string): void },
): Promise<ReadyState> {
  if (!ctx.ready) return { ready: false, database: 'starting' };
  try {
    await ctx.db.kysely.selectFrom('installation').select('id').limit(1).execute();
    return { ready: true, database: 'ok' };
  } catch (err) {
    log?.error({ err }, 'readiness check: the database does not answer');
    return { ready: false, database: 'unavailable' };
  }
}
