/** Small building blocks shared by the pages: the page heading, form fields, status messages, pagers, times. */

import { type ComponentPropsWithRef, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { hasNavigated, Link } from './router';

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

/** A select with its label; `options` are [value, text] pairs. */
export function SelectField({
  label,
  options,
  hint,
  ...select
}: {
  label: string;
  options: readonly (readonly [string, string])[];
  hint?: string;
} & ComponentPropsWithRef<'select'>) {
  const id = useId();
  const hintId = `${id}-hint`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-describedby={hint ? hintId : undefined} {...select}>
        {options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

/** The page for something that does not exist or is not yours to see (the API answers both with 404). */
export function NotFoundState({ what }: { what: string }) {
  return (
    <main id="main">
      <PageHeading title="Not found">Not found</PageHeading>
      <p>
        There is no {what} at this address, or your account cannot see it.{' '}
        <Link to="/">Go to the overview</Link>.
      </p>
    </main>
  );
}

/** "Loading…" or the failure, for a page whose data is not there yet. */
export function LoadState({ error }: { error?: string }) {
  return error ? <Message kind="error">{error}</Message> : <p role="status">Loading…</p>;
}

/** Previous and next page links of a list; either is left out when there is no such page. */
export function Pager({ label, previous, next }: { label: string; previous?: string; next?: string }) {
  if (!previous && !next) return null;
  return (
    <nav className="pager" aria-label={label}>
      {previous ? <Link to={previous}>Previous page</Link> : null}
      {next ? <Link to={next}>Next page</Link> : null}
    </nav>
  );
}

/** "first–last of total" for a page of a list. */
export function rangeText(offset: number, shown: number, total: number): string {
  return `${offset + 1}–${offset + shown} of ${total}`;
}

/** A time from the API (ISO-8601 UTC) as the reader's local date and time; the exact value in a tooltip. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <>—</>;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return <>{iso}</>;
  return (
    <time dateTime={iso} title={iso}>
      {d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}
    </time>
  );
}

/** Copies `text` to the clipboard; says whether that worked. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState<'' | 'copied' | 'failed'>('');
  return (
    <>
      <button
        type="button"
        onClick={() => {
          navigator.clipboard
            .writeText(text)
            .then(() => setDone('copied'))
            .catch(() => setDone('failed'));
        }}
      >
        {label}
      </button>
      <span role="status" className="copy-status">
        {done === 'copied'
          ? 'Copied.'
          : done === 'failed'
            ? 'Copying failed; select the text and copy it.'
            : ''}
      </span>
    </>
  );
}

/** The offset in a URL's query: a whole number ≥ 0, 0 for anything else. */
export function offsetParam(query: URLSearchParams): number {
  return Math.max(0, Math.floor(Number(query.get('offset') ?? 0)) || 0);
}

/**
 * A frame that scrolls when its content (a table, a long text) is larger than the screen allows; it takes the
 * focus, so that it can be scrolled with the keyboard, and is named after its content.
 */
export function Scrollable({
  label,
  className = 'table-wrap',
  children,
}: {
  label: string;
  className?: string;
  children: ReactNode;
}) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section className={className} aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}
