/** Tenants (customers): search, paged; administrators create one here. The URL holds the search and the page. */
import { type FormEvent, useState } from 'react';
import { api, messageOf, withQuery } from '../api';
import { useLoad } from '../load';
import { Link, navigate, pathOf, useLocation } from '../router';
import { isAdmin, useMe } from '../session';
import {
  Field,
  formValues,
  LoadState,
  Message,
  offsetParam,
  PageHeading,
  Pager,
  rangeText,
  Scrollable,
  Time,
} from '../ui';

const PAGE_SIZE = 50;

const href = (q: string, offset: number) =>
  withQuery('/tenants', { q, offset: offset > 0 ? offset : undefined });

export function TenantsPage() {
  const me = useMe();
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const offset = offsetParam(query);
  const { result, reload } = useLoad(() => api.tenants({ q, limit: PAGE_SIZE, offset }), [q, offset]);

  function search(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const value = new FormData(e.currentTarget).get('q');
    navigate(href(typeof value === 'string' ? value.trim() : '', 0));
  }

  return (
    <main id="main">
      <PageHeading title="Tenants">Tenants</PageHeading>
      <search>
        <form className="inline-form" onSubmit={search}>
          <label htmlFor="tenant-q">Search by id or name</label>
          <input id="tenant-q" name="q" type="search" defaultValue={q} key={q} maxLength={200} />
          <button type="submit">Search</button>
        </form>
      </search>
      {result.state === 'ok' ? (
        <>
          <p role="status" className="count">
            {result.data.total === 0
              ? q
                ? `No tenant matches “${q}”.`
                : 'There are no tenants yet.'
              : rangeText(result.data.offset, result.data.items.length, result.data.total)}
          </p>
          {result.data.items.length > 0 ? (
            <Scrollable label="Tenants">
              <table>
                <caption className="visually-hidden">Tenants</caption>
                <thead>
                  <tr>
                    <th scope="col">Tenant</th>
                    <th scope="col">Name</th>
                    <th scope="col" className="wide-only">
                      Created
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {result.data.items.map((t) => (
                    <tr key={t.id}>
                      <td>
                        <Link to={pathOf('tenants', t.id)}>{t.id}</Link>
                      </td>
                      <td>{t.name}</td>
                      <td className="wide-only nowrap">
                        <Time iso={t.created_at} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scrollable>
          ) : null}
          <Pager
            label="Pages of tenants"
            previous={offset > 0 ? href(q, Math.max(0, offset - PAGE_SIZE)) : undefined}
            next={
              offset + result.data.items.length < result.data.total ? href(q, offset + PAGE_SIZE) : undefined
            }
          />
        </>
      ) : (
        <LoadState error={result.state === 'loading' ? undefined : result.message} />
      )}
      {isAdmin(me) ? <CreateTenant created={reload} /> : null}
    </main>
  );
}

function CreateTenant({ created }: { created: () => void }) {
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const v = formValues(form);
    setBusy(true);
    setError('');
    setDone('');
    try {
      const t = await api.createTenant({ id: v.id ?? '', name: v.name ?? '' });
      form.reset();
      setDone(`Tenant ${t.id} created.`);
      created();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="new-tenant" className="card section">
      <h2 id="new-tenant">New tenant</h2>
      <form onSubmit={submit}>
        <Field
          label="Tenant id"
          hint="Letters, digits and . _ : - (it appears in URLs and cannot change)."
          name="id"
          required
          maxLength={128}
          autoComplete="off"
        />
        <Field label="Name" name="name" required maxLength={200} autoComplete="off" />
        <Message kind="error">{error}</Message>
        <Message kind="ok">{done}</Message>
        <button type="submit" className="primary" disabled={busy}>
          Create tenant
        </button>
      </form>
    </section>
  );
}
