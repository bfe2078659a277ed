/**
 * The advisories the server knows (read-only): search by id or title, paged; the URL holds the search and page.
 * Each id leads to the advisory's response board.
 */
import { type FormEvent, useEffect, useState } from 'react';
import { type AdvisorySummary, api, messageOf, type Page } from '../api';
import { Link, navigate, pathOf, useLocation } from '../router';
import { Message, PageHeading } from '../ui';

const PAGE_SIZE = 50;

function href(q: string, offset: number): string {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (offset > 0) params.set('offset', String(offset));
  const s = params.toString();
  return s ? `/advisories?${s}` : '/advisories';
}

export function AdvisoriesPage() {
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const offset = Math.max(0, Math.floor(Number(query.get('offset') ?? 0)) || 0);
  const [page, setPage] = useState<Page<AdvisorySummary>>();
  const [error, setError] = useState('');

  useEffect(() => {
    let live = true;
    setError('');
    api
      .advisories({ q, limit: PAGE_SIZE, offset })
      .then((p) => live && setPage(p))
      .catch((err) => live && setError(messageOf(err)));
    return () => {
      live = false;
    };
  }, [q, offset]);

  function search(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const value = new FormData(e.currentTarget).get('q');
    navigate(href(typeof value === 'string' ? value.trim() : '', 0));
  }

  const last = page ? Math.min(page.offset + page.items.length, page.total) : 0;
  return (
    <main id="main">
      <PageHeading title="Advisories">Advisories</PageHeading>
      <search>
        <form className="inline-form" onSubmit={search}>
          <label htmlFor="advisory-q">Search by id or title</label>
          <input id="advisory-q" name="q" type="search" defaultValue={q} key={q} maxLength={200} />
          <button type="submit">Search</button>
        </form>
      </search>
      <Message kind="error">{error}</Message>
      {page ? (
        <>
          <p role="status" className="count">
            {page.total === 0
              ? q
                ? `No advisory matches “${q}”.`
                : 'No advisories are loaded.'
              : `${page.offset + 1}–${last} of ${page.total}`}
          </p>
          {page.items.length > 0 ? (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Advisories</caption>
                <thead>
                  <tr>
                    <th scope="col">Advisory</th>
                    <th scope="col">Title</th>
                    <th scope="col">CVEs</th>
                    <th scope="col" className="wide-only">
                      Products
                    </th>
                    <th scope="col" className="wide-only">
                      Published
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((a) => (
                    <tr key={a.id}>
                      <td className="nowrap">
                        <Link
                          to={pathOf('advisories', a.id, 'board')}
                          aria-label={`Response board of ${a.id}`}
                        >
                          {a.id}
                        </Link>
                        {a.kev ? (
                          <span className="badge" title="Known exploited (CISA KEV)">
                            KEV
                          </span>
                        ) : null}
                      </td>
                      <td>{a.title}</td>
                      <td>{a.cves.join(', ')}</td>
                      <td className="wide-only">{a.products.join(', ')}</td>
                      <td className="wide-only nowrap">{a.published ?? 'unknown'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <nav className="pager" aria-label="Pages of advisories">
            {offset > 0 ? <Link to={href(q, Math.max(0, offset - PAGE_SIZE))}>Previous page</Link> : null}
            {last < page.total ? <Link to={href(q, offset + PAGE_SIZE)}>Next page</Link> : null}
          </nav>
        </>
      ) : error ? null : (
        <p role="status">Loading…</p>
      )}
    </main>
  );
}
