/** Small building blocks shared by the pages: the page heading, form fields and status messages. */

import { type ComponentPropsWithRef, type ReactNode, useEffect, useId, useRef } from 'react';
import { hasNavigated } from './router';

/**
 * The page's h1. It names the browser tab and, after a navigation inside the console, takes the focus, so that
 * keyboard and screen reader users start at the new page's top; on a page load the browser's own start (the skip
 * link first) stays.
 */
export function PageHeading({ children, title }: { children: ReactNode; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Bulwark`;
    if (hasNavigated()) ref.current?.focus();
  }, [title]);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function Field({
  label,
  hint,
  ...input
}: { label: string; hint?: string } & ComponentPropsWithRef<'input'>) {
  const id = useId();
  const hintId = `${id}-hint`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-describedby={hint ? hintId : undefined} {...input} />
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

/** A failure (role=alert, read out at once) or a confirmation (role=status). */
export function Message({ kind, children }: { kind: 'error' | 'ok' | 'info'; children: ReactNode }) {
  if (!children) return null;
  return (
    <p className={`message message-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}

/** Form values by input name (text inputs only). */
export function formValues(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of new FormData(form)) if (typeof value === 'string') out[key] = value;
  return out;
}
