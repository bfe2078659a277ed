/**
 * Where live updates enter the console. Today a job that has not finished is read again every 2 seconds while
 * its page is open; the server's event stream (GET /api/v1/events, `job.updated`) is to replace the polling here,
 * without changes to the pages that subscribe.
 */
import { useEffect, useRef } from 'react';

const POLL_MS = 2_000;
/** A page left open stops asking after this long (the Refresh button still works). */
const POLL_FOR_MS = 30 * 60_000;

/** Calls `changed` while `watching` is true, until the component unmounts. */
export function useJobUpdates(watching: boolean, changed: () => void): void {
  const ref = useRef(changed);
  ref.current = changed;
  useEffect(() => {
    if (!watching) return;
    const until = Date.now() + POLL_FOR_MS;
    const timer = window.setInterval(() => {
      if (Date.now() > until) window.clearInterval(timer);
      else ref.current();
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [watching]);
}
