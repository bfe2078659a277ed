/**
 * One advisory: its title and summary, CVEs (with the KEV badge), the products it concerns with their affected and
 * fixed versions, references, and the way to its response board (the exposure of every customer in scope).
 */
import { type AdvisoryDetail, advisoryApi } from '../api';
import { useLoad } from '../load';
import { Link, pathOf } from '../router';
import { LoadState, NotFoundState, PageHeading } from '../ui';

function versionsOf(a: NonNullable<AdvisoryDetail['affected']>[number]): {
  affected: string[];
  fixed: string[];
} {
  const affected: string[] = [];
  const fixed: string[] = [];
  for (const r of a.ranges ?? []) {
    const from = r.introduced ?? 'any';
    const to = r.fixed ? `before ${r.fixed}` : r.last_affected ? `up to ${r.last_affected}` : 'onwards';
    affected.push(`${r.train ? `${r.train}: ` : ''}${from} ${to}`);
    if (r.fixed) fixed.push(r.fixed);
  }
  affected.push(...(a.versions ?? []));
  fixed.push(...(a.fixed_versions ?? []));
  return { affected, fixed };
}

export function AdvisoryPage({ params }: { params: Record<string, string> }) {
  const id = params.advisory ?? '';
  const { result } = useLoad(() => advisoryApi.advisory(id), [id]);
  if (result.state === 'not-found') return <NotFoundState what="advisory" />;
  if (result.state !== 'ok') {
    return (
      <main id="main">
        <PageHeading title={`Advisory ${id}`}>Advisory {id}</PageHeading>
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      </main>
    );
  }
  const a = result.data;
  const cves = a.cves ?? [];
  const kev = cves.some((c) => !!c.kev);
  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/advisories">Advisories</Link>
      </p>
      <PageHeading title={`Advisory ${a.id}`}>
        {a.title} <span className="sub">{a.id}</span>
        {kev ? (
          <span className="badge" title="Known exploited (CISA KEV)">
            KEV
          </span>
        ) : null}
      </PageHeading>
      <nav className="actions" aria-label={`Exposure to ${a.id}`}>
        <Link to={pathOf('advisories', a.id, 'board')}>Response board of {a.id}</Link>
        <Link to={`${pathOf('advisories', a.id, 'board')}?sort=exposed`}>Exposure per customer</Link>
      </nav>
      {a.summary ? <p className="advisory-summary">{a.summary}</p> : null}
      <dl className="facts">
        <dt>Published</dt>
        <dd>{a.published ?? 'unknown'}</dd>
      </dl>
      <section aria-labelledby="cves-heading" className="section">
        <h2 id="cves-heading">CVEs</h2>
        {cves.length === 0 ? (
          <p>No CVEs are listed.</p>
        ) : (
          <ul className="advisory-cves">
            {cves.map((c) => (
              <li key={c.id}>
                <strong>{c.id}</strong>
                {c.title ? ` — ${c.title}` : ''}
                {typeof c.cvss?.score === 'number' ? ` (CVSS ${c.cvss.score})` : ''}
                {c.kev ? (
                  <span className="badge" title="Known exploited (CISA KEV)">
                    KEV
                  </span>
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="products-heading" className="section">
        <h2 id="products-heading">Products</h2>
        {(a.affected ?? []).length === 0 ? (
          <p>No products are named.</p>
        ) : (
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Products and versions of {a.id}</caption>
              <thead>
                <tr>
                  <th scope="col">Product</th>
                  <th scope="col">Affected versions</th>
                  <th scope="col">Fixed versions</th>
                  <th scope="col" className="wide-only">
                    Versions outside these
                  </th>
                </tr>
              </thead>
              <tbody>
                {(a.affected ?? []).map((p, i) => {
                  const v = versionsOf(p);
                  return (
                    // biome-ignore lint/suspicious/noArrayIndexKey: one product may appear in several entries
                    <tr key={`${p.product}-${i}`}>
                      <td className="nowrap">{p.product}</td>
                      <td>{v.affected.length ? v.affected.join('; ') : 'unknown'}</td>
                      <td>{v.fixed.length ? v.fixed.join(', ') : 'unknown'}</td>
                      <td className="wide-only">{p.default_status ?? 'not_affected'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {(a.references ?? []).length > 0 ? (
        <section aria-labelledby="refs-heading" className="section">
          <h2 id="refs-heading">References</h2>
          <ul>
            {(a.references ?? []).map((r) => (
              <li key={r.url}>
                {/* The advisory model accepts only http(s) references; the console links nothing else either. */}
                {/^https?:\/\//i.test(r.url) ? (
                  <a href={r.url} rel="noreferrer noopener">
                    {r.title ?? r.url}
                  </a>
                ) : (
                  (r.title ?? r.url)
                )}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </main>
  );
}
