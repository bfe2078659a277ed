/**
 * The scaffolding of the list pages: a table in a scrollable frame with sortable column headers, a filter form
 * whose values become the page's URL, and the pager of a keyset-paged list (the cursor in the URL).
 */
import type { FormEvent, ReactNode } from 'react';
import { withQuery } from './api';
import { Link, navigate } from './router';
import { Scrollable } from './ui';

export interface Column<T> {
  header: ReactNode;
  /** Classes of the header and the cells: `num` aligns numbers, `wide-only` hides the column on narrow screens. */
  className?: string;
  /** Classes of the body cells only (besides className). */
  cellClassName?: string;
  /** The list's sort key for this column, when the list can be sorted by it. */
  sort?: string;
  /** The order that sort key gives (counts: most first). */
  sortOrder?: 'ascending' | 'descending';
  cell(row: T): ReactNode;
}

/**
 * A table of `rows`, named by `label` (the frame's name and the table's hidden caption). With `sorted` and
 * `sortHref`, the headers of sortable columns link to the list sorted by them and the current one says so
 * (aria-sort).
 */
export function DataTable<T>({
  label,
  columns,
  rows,
  rowKey,
  sorted,
  sortHref,
  rowCurrent,
}: {
  label: string;
  columns: readonly Column<T>[];
  rows: readonly T[];
  rowKey(row: T): string;
  sorted?: string;
  sortHref?(sort: string): string;
  rowCurrent?(row: T): boolean;
}) {
  const classes = (...names: (string | undefined)[]) => names.filter(Boolean).join(' ') || undefined;
  return (
    <Scrollable label={label}>
      <table>
        <caption className="visually-hidden">{label}</caption>
        <thead>
          <tr>
            {columns.map((c, i) => {
              const active = c.sort !== undefined && c.sort === sorted;
              return (
                <th
                  // biome-ignore lint/suspicious/noArrayIndexKey: columns are fixed per table
                  key={i}
                  scope="col"
                  className={c.className}
                  aria-sort={active ? (c.sortOrder ?? 'descending') : undefined}
                >
                  {c.sort !== undefined && sortHref && !active ? (
                    <Link to={sortHref(c.sort)} className="sort-link">
                      {c.header}
                    </Link>
                  ) : (
                    c.header
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} aria-current={rowCurrent?.(row) ? 'true' : undefined}>
              {columns.map((c, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: columns are fixed per table
                <td key={i} className={classes(c.className, c.cellClassName)}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </Scrollable>
  );
}

/**
 * The submit handler of a filter form: its non-empty values (trimmed), plus `keep`, become the query of `base`,
 * and the console goes there; the URL is the filter.
 */
export function filterSubmit(base: string, keep: Record<string, string | undefined> = {}) {
  return (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const next: Record<string, string | undefined> = { ...keep };
    for (const [k, v] of new FormData(e.currentTarget))
      if (typeof v === 'string' && v.trim()) next[k] = v.trim();
    navigate(withQuery(base, next));
  };
}

/** The pager of a keyset-paged list: back to the first page, on to the next (whose cursor the server gave). */
export function CursorPager({
  label,
  first,
  next,
}: {
  label: string;
  /** The first page's URL, when this is not the first page. */
  first?: string;
  next?: string;
}) {
  if (!first && !next) return null;
  return (
    <nav className="pager" aria-label={label}>
      {first ? <Link to={first}>First page</Link> : null}
      {next ? <Link to={next}>Next page</Link> : null}
    </nav>
  );
}
