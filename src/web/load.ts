/** Loading a page's data from the API: the answer, the failure, or "not found" (404, also for what is out of scope). */
import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, messageOf } from './api';

export type Loaded<T> =
  | { state: 'loading' }
  | { state: 'ok'; data: T }
  | { state: 'not-found'; message: string }
  | { state: 'error'; message: string };

/**
 * Calls `load` when `deps` change and on `reload()`. An answer that arrives after the inputs changed again is
 * dropped, so a slow page never overwrites a newer one. `reload()` keeps the shown data until the new answer.
 */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: DependencyList,
): { result: Loaded<T>; reload: () => void; set: (data: T) => void } {
  const [result, setResult] = useState<Loaded<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller names the inputs of `load` in deps
  useEffect(() => {
    let live = true;
    loadRef
      .current()
      .then((data) => live && setResult({ state: 'ok', data }))
      .catch((err) => {
        if (!live) return;
        if (err instanceof ApiError && err.status === 404) {
          setResult({ state: 'not-found', message: err.message });
        } else setResult({ state: 'error', message: messageOf(err) });
      });
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const set = useCallback((data: T) => setResult({ state: 'ok', data }), []);
  return { result, reload, set };
}
