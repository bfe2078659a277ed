/**
 * A tenant's assets: filtered by text, site, product and exposure (advisory, verdict), 50 to a page, paged by
 * key (the API's cursors), so a page is as quick at the 100,000th asset as at the first. Only the page shown is
 * loaded; the URL holds the filters and the page, so a view can be reloaded and shared. Below the table, for
 * principals that may change findings, the two-step bulk status change of the tenant's findings.
 */
import type { FormEvent } from 'react';
import { type AssetQuery, api, withQuery } from '../api';
import { keysetLinks, keysetParams } from '../keyset';
import { useLoad } from '../load';
import { Link, navigate, pathOf, useLocation } from '../router';
import { canWrite, useMe } from '../session';
import { LoadState, NotFoundState, PageHeading, Pager, Scrollable, SelectField, Time } from '../ui';
import { BulkStatusChange } from './bulk-status';

const PAGE_SIZE = 50;
const FILTERS = ['q', 'site', 'product', 'advisory', 'verdict'] as const;
export const VERDICT_OPTIONS = [
  ['', 'Any'],
  ['affected', 'Affected'],
  ['unknown', 'Unknown'],
  ['fixed', 'Fixed'],
  ['not_affected', 'Not affected'],
] as const;

export function AssetsPage({ params }: { params: Record<string, string> }) {
  const tenant = params.tenant ?? '';
  const { query } = useLocation();
  const filters: AssetQuery = {};
  for (const f of FILTERS) {
    const v = query.get(f)?.trim();
    if (v) filters[f] = v;
  }
  const position = keysetParams(query);
  const base = pathOf('tenants', tenant, 'assets');
  const href = (p: { cursor: string; from?: number }) => withQuery(base, { ...filters, ...p });
  const key = JSON.stringify(filters);
  const me = useMe();

  const { result } = useLoad(async () => {
    const [t, sites, page] = await Promise.all([
      api.tenant(tenant),
      api.sites(tenant),
      api.assets(tenant, { ...filters, limit: PAGE_SIZE, cursor: position.cursor }),
    ]);
    return { t, sites, page };
  }, [tenant, key, position.cursor]);

  if (result.state === 'not-found') return <NotFoundState what="tenant" />;

  function filter(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const next: Record<string, string> = {};
    for (const [k, v] of new FormData(e.currentTarget))
      if (typeof v === 'string' && v.trim()) next[k] = v.trim();
    navigate(withQuery(base, next));
  }

  const data = result.state === 'ok' ? result.data : undefined;
  const name = data?.t.name ?? tenant;
  const siteName = new Map(data?.sites.map((s) => [s.id, s.name]));
  const links = data ? keysetLinks(data.page, position, PAGE_SIZE, href) : undefined;
  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/tenants">Tenants</Link> › <Link to={pathOf('tenants', tenant)}>{name}</Link>
      </p>
      <PageHeading title={`Assets of ${name}`}>Assets of {name}</PageHeading>
      <search>
        <form className="filters" onSubmit={filter} key={key}>
          <div className="field">
            <label htmlFor="asset-q">Search by id or name</label>
            <input id="asset-q" name="q" type="search" defaultValue={filters.q} maxLength={200} />
          </div>
          <SelectField
            label="Site"
            name="site"
            defaultValue={filters.site ?? ''}
            options={[['', 'Any'], ...(data?.sites.map((s) => [s.id, s.name] as const) ?? [])]}
          />
          <div className="field">
            <label htmlFor="asset-product">Product</label>
            <input
              id="asset-product"
              name="product"
              defaultValue={filters.product}
              maxLength={200}
              placeholder="microsoft:exchange_server"
            />
          </div>
          <div className="field">
            <label htmlFor="asset-advisory">Advisory</label>
            <input id="asset-advisory" name="advisory" defaultValue={filters.advisory} maxLength={200} />
          </div>
          <SelectField
            label="Verdict"
            name="verdict"
            defaultValue={filters.verdict ?? ''}
            options={VERDICT_OPTIONS}
          />
          <div className="filter-actions">
            <button type="submit" className="primary">
              Filter
            </button>
            {key !== '{}' ? <Link to={base}>Clear filters</Link> : null}
          </div>
        </form>
      </search>
      {data ? (
        <>
          <p role="status" className="count">
            {data.page.total === 0
              ? key === '{}'
                ? 'This tenant has no assets yet.'
                : 'No asset matches these filters.'
              : links?.range}
          </p>
          {data.page.items.length > 0 ? (
            <Scrollable label="Assets">
              <table>
                <caption className="visually-hidden">Assets</caption>
                <thead>
                  <tr>
                    <th scope="col">Asset</th>
                    <th scope="col">Name</th>
                    <th scope="col" className="wide-only">
                      Site
                    </th>
                    <th scope="col" className="wide-only">
                      Source
                    </th>
                    <th scope="col" className="wide-only">
                      Updated
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.page.items.map((a) => (
                    <tr key={a.id}>
                      <td>
                        <Link to={pathOf('tenants', tenant, 'assets', a.id)}>{a.id}</Link>
                      </td>
                      <td>{a.name ?? ''}</td>
                      <td className="wide-only">{a.site_id ? (siteName.get(a.site_id) ?? a.site_id) : ''}</td>
                      <td className="wide-only">{a.source}</td>
                      <td className="wide-only nowrap">
                        <Time iso={a.updated_at} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scrollable>
          ) : null}
          <Pager label="Pages of assets" previous={links?.previous} next={links?.next} />
        </>
      ) : (
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      )}
      {canWrite(me) ? <BulkStatusChange tenant={tenant} verdicts={VERDICT_OPTIONS} /> : null}
    </main>
  );
}
