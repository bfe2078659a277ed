/**
 * One customer's part of an advisory's response board: its numbers, and its assets worst first with the four
 * answers (exposure, shield, compromise, patch), each with its source and time; filtered by state and text, paged
 * with the server's cursor, all in the URL. The page follows the event stream while it is open. A tenant outside
 * the user's scope shows as not found.
 */

import { useCallback } from 'react';
import { boardTenantPageQuery, boardTenantPageRequests } from '../../api/console-requests.js';
import type { AssetResponse, AssetStateFilter, Board, BoardAssets, Tenant } from '../api';
import { api, withQuery } from '../api';
import { useLiveRefresh } from '../live';
import { useLoad } from '../load';
import { Link, pathOf, useLocation } from '../router';
import { type Column, CursorPager, DataTable, filterSubmit } from '../table';
import { LoadState, NotFoundState, PageHeading, SelectField } from '../ui';
import {
  AnswerCell,
  BOARD_EVENTS,
  boardPath,
  boardTenantPath,
  concernsBoard,
  LiveStatus,
  StateBadge,
  Totals,
} from './board-parts';

const STATES: readonly (readonly [AssetStateFilter | '', string])[] = [
  ['', 'Any'],
  ['compromised', 'Compromised'],
  ['unshielded', 'Unshielded'],
  ['exposed', 'Exposed'],
  ['shielded', 'Shielded'],
  ['patched', 'Patched'],
  ['unknown', 'Exposure unknown'],
];

export function BoardTenantPage({ params }: { params: Record<string, string> }) {
  const advisory = params.advisory ?? '';
  const tenant = params.tenant ?? '';
  const { query } = useLocation();
  const { state, q, cursor } = boardTenantPageQuery(query);
  const base = boardTenantPath(advisory, tenant);
  const href = (c?: string) => withQuery(base, { state, q, cursor: c });
  // The requests the server names for preloading in the page it serves for this URL. The customer and its numbers
  // load once per customer; a page change or filter loads only the assets.
  const requests = boardTenantPageRequests(advisory, tenant, query);

  const head = useLoad(async () => {
    const [t, board] = await Promise.all([api.get<Tenant>(requests.tenant), api.get<Board>(requests.row)]);
    return { t, board, row: board.tenants.items.find((r) => r.tenant_id === tenant) };
  }, [advisory, tenant]);
  const list = useLoad(() => api.get<BoardAssets>(requests.assets), [advisory, tenant, state, q, cursor]);
  const reloadHead = head.reload;
  const reloadList = list.reload;
  useLiveRefresh(
    BOARD_EVENTS,
    (e) => concernsBoard(e, advisory, tenant),
    useCallback(() => {
      reloadHead();
      reloadList();
    }, [reloadHead, reloadList]),
  );

  if (head.result.state === 'not-found' || list.result.state === 'not-found')
    return <NotFoundState what="customer board" />;
  const top = head.result.state === 'ok' ? head.result.data : undefined;
  const assets = list.result.state === 'ok' ? list.result.data : undefined;
  const error =
    head.result.state === 'error'
      ? head.result.message
      : list.result.state === 'error'
        ? list.result.message
        : undefined;
  const data = top && assets ? { ...top, assets } : undefined;
  const name = top?.t.name ?? tenant;

  const assetHref = (a: AssetResponse) =>
    withQuery(pathOf('tenants', tenant, 'assets', a.asset_id), { advisory });
  const columns: Column<AssetResponse>[] = [
    {
      header: 'Asset',
      cell: (a) => (
        <>
          <Link to={assetHref(a)}>{a.asset_id}</Link>
          {a.name ? <div className="sub">{a.name}</div> : null}
        </>
      ),
    },
    { header: 'Exposure', cell: (a) => <StateBadge state={a.exposure.verdict} /> },
    { header: 'Shield', cell: (a) => <AnswerCell answer={a.shield} /> },
    { header: 'Compromise', cell: (a) => <AnswerCell answer={a.compromise} /> },
    { header: 'Patch', cell: (a) => <AnswerCell answer={a.patch} /> },
  ];

  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/advisories">Advisories</Link> ›{' '}
        <Link to={boardPath(advisory)}>{top?.board.title ?? advisory}</Link>
      </p>
      <PageHeading title={`${name}: response to ${advisory}`}>
        {name} <span className="sub">Response to {top?.board.title ?? advisory}</span>
      </PageHeading>
      <LiveStatus />
      {top?.row ? <Totals counts={top.row.counts} /> : null}
      <search>
        <form className="filters" onSubmit={filterSubmit(base)} key={`${state ?? ''}|${q}`}>
          <SelectField label="State" name="state" defaultValue={state ?? ''} options={STATES} />
          <div className="field">
            <label htmlFor="board-asset-q">Asset id or name</label>
            <input id="board-asset-q" name="q" type="search" defaultValue={q} maxLength={200} />
          </div>
          <div className="filter-actions">
            <button type="submit" className="primary">
              Filter
            </button>
            {state || q ? <Link to={base}>Clear filters</Link> : null}
          </div>
        </form>
      </search>
      {data ? (
        <>
          <p role="status" className="count">
            {data.assets.items.length === 0
              ? state || q
                ? 'No asset matches these filters.'
                : 'This advisory concerns none of this customer’s assets.'
              : `${data.assets.items.length} assets${cursor ? ' (a later page)' : ''}, worst first`}
          </p>
          {data.assets.items.length > 0 ? (
            <DataTable
              label="Assets with their response state, worst first"
              columns={columns}
              rows={data.assets.items}
              rowKey={(a) => a.asset_id}
            />
          ) : null}
          <CursorPager
            label="Pages of assets"
            first={cursor ? href() : undefined}
            next={data.assets.next_cursor ? href(data.assets.next_cursor) : undefined}
          />
        </>
      ) : (
        <LoadState error={error} />
      )}
    </main>
  );
}
