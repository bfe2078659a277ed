/**
 * The response board of one advisory: every customer in scope with how many of its assets are exposed, shielded,
 * unshielded, compromised, patched and hunted clean; the totals on top; worst first. The order, the text filter
 * and the page (the server's cursor) are part of the URL. Each number leads to that customer's assets in that
 * state. The numbers follow the event stream while the page is open.
 */
import { boardPageQuery, boardPageRequest } from '../../api/console-requests.js';
import type { Board, BoardSort, BoardTenant } from '../api';
import { api, withQuery } from '../api';
import { useLiveRefresh } from '../live';
import { useLoad } from '../load';
import { Link, useLocation } from '../router';
import { type Column, CursorPager, DataTable, filterSubmit } from '../table';
import { LoadState, NotFoundState, PageHeading, SelectField } from '../ui';
import {
  BAD_COUNTS,
  BOARD_EVENTS,
  boardPath,
  boardTenantPath,
  concernsBoard,
  LiveStatus,
  Totals,
} from './board-parts';

const SORTS: readonly (readonly [BoardSort, string])[] = [
  ['worst', 'Worst first'],
  ['name', 'Customer name'],
  ['exposed', 'Most exposed'],
  ['compromised', 'Most compromised'],
  ['patched', 'Most patched'],
];

/** A count that links to the customer's assets in that state (when there are any). */
function countCell(
  advisory: string,
  key: 'exposed' | 'shielded' | 'unshielded' | 'compromised' | 'patched',
  text: string,
) {
  return (t: BoardTenant) => {
    const n = t.counts[key];
    if (n === 0) return 0;
    return (
      <Link
        to={withQuery(boardTenantPath(advisory, t.tenant_id), { state: key })}
        aria-label={`${n} ${text.toLowerCase()} at ${t.name}`}
        className={BAD_COUNTS.has(key) ? 'count-bad' : undefined}
      >
        {n}
      </Link>
    );
  };
}

export function BoardPage({ params }: { params: Record<string, string> }) {
  const advisory = params.advisory ?? '';
  const { query } = useLocation();
  const { q, sort, cursor } = boardPageQuery(query);
  const base = boardPath(advisory);
  const href = (over: { sort?: BoardSort; cursor?: string }) =>
    withQuery(base, {
      q,
      sort: (over.sort ?? sort) === 'worst' ? undefined : (over.sort ?? sort),
      cursor: over.cursor,
    });

  // The request the server names for preloading in the page it serves for this URL.
  const { result, reload } = useLoad(
    () => api.get<Board>(boardPageRequest(advisory, query)),
    [advisory, q, sort, cursor],
  );
  useLiveRefresh(BOARD_EVENTS, (e) => concernsBoard(e, advisory), reload);

  if (result.state === 'not-found') return <NotFoundState what="advisory" />;
  const board = result.state === 'ok' ? result.data : undefined;
  const title = board ? `Response board: ${board.title}` : `Response board: ${advisory}`;

  const columns: Column<BoardTenant>[] = [
    {
      header: 'Customer',
      sort: 'name',
      sortOrder: 'ascending',
      cell: (t) => (
        <>
          <Link to={boardTenantPath(advisory, t.tenant_id)}>{t.name}</Link>
          <div className="sub">{t.tenant_id}</div>
        </>
      ),
    },
    { header: 'Assets', className: 'num wide-only', cell: (t) => t.counts.assets },
    {
      header: 'Exposed',
      className: 'num',
      sort: 'exposed',
      cell: countCell(advisory, 'exposed', 'Exposed'),
    },
    {
      header: 'Shielded',
      className: 'num wide-only',
      cell: countCell(advisory, 'shielded', 'Shielded'),
    },
    { header: 'Unshielded', className: 'num', cell: countCell(advisory, 'unshielded', 'Unshielded') },
    {
      header: 'Compromised',
      className: 'num',
      sort: 'compromised',
      cell: countCell(advisory, 'compromised', 'Compromised'),
    },
    {
      header: 'Patched',
      className: 'num',
      sort: 'patched',
      cell: countCell(advisory, 'patched', 'Patched'),
    },
    { header: 'Clean', className: 'num wide-only', cell: (t) => t.counts.clean },
  ];

  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/advisories">Advisories</Link> › {advisory}
      </p>
      <PageHeading title={title}>
        {board ? board.title : advisory} <span className="sub">Response board · {advisory}</span>
      </PageHeading>
      <LiveStatus />
      {board ? <Totals counts={board.totals} /> : null}
      <search>
        <form className="filters" onSubmit={filterSubmit(base)} key={`${q}|${sort}`}>
          <div className="field">
            <label htmlFor="board-q">Customer id or name</label>
            <input id="board-q" name="q" type="search" defaultValue={q} maxLength={200} />
          </div>
          <SelectField label="Order" name="sort" defaultValue={sort} options={SORTS} />
          <div className="filter-actions">
            <button type="submit" className="primary">
              Show
            </button>
            {q || sort !== 'worst' ? <Link to={base}>Worst first, all customers</Link> : null}
          </div>
        </form>
      </search>
      {board ? (
        <>
          <p role="status" className="count">
            {board.tenants.items.length === 0
              ? q
                ? `No customer matches “${q}”.`
                : 'No customer in your scope yet.'
              : `${board.tenants.items.length} customers${cursor ? ' (a later page)' : ''}, ${
                  SORTS.find(([v]) => v === sort)?.[1].toLowerCase() ?? ''
                }`}
          </p>
          {board.tenants.items.length > 0 ? (
            <DataTable
              label="Customers by response state"
              columns={columns}
              rows={board.tenants.items}
              rowKey={(t) => t.tenant_id}
              sorted={sort}
              sortHref={(s) => href({ sort: s as BoardSort })}
            />
          ) : null}
          <CursorPager
            label="Pages of customers"
            first={cursor ? href({}) : undefined}
            next={board.tenants.next_cursor ? href({ cursor: board.tenants.next_cursor }) : undefined}
          />
        </>
      ) : (
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      )}
    </main>
  );
}
