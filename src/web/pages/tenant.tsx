/** One tenant: its sites (create one), its exposure per advisory, and the way to its assets. */
import { type FormEvent, useState } from 'react';
import { api, messageOf, type Site, withQuery } from '../api';
import { useLoad } from '../load';
import { Link, pathOf } from '../router';
import { canWrite, useMe } from '../session';
import { Field, formValues, LoadState, Message, NotFoundState, PageHeading, Scrollable, Time } from '../ui';

export function TenantPage({ params }: { params: Record<string, string> }) {
  const me = useMe();
  const id = params.tenant ?? '';
  const tenant = useLoad(async () => {
    const [t, sites, exposure] = await Promise.all([api.tenant(id), api.sites(id), api.tenantExposure(id)]);
    return { t, sites, exposure };
  }, [id]);
  const { result } = tenant;
  if (result.state === 'not-found') return <NotFoundState what="tenant" />;
  if (result.state !== 'ok') {
    return (
      <main id="main">
        <PageHeading title={`Tenant ${id}`}>Tenant {id}</PageHeading>
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      </main>
    );
  }
  const { t, sites, exposure } = result.data;
  const assets = pathOf('tenants', t.id, 'assets');
  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/tenants">Tenants</Link>
      </p>
      <PageHeading title={t.name}>{t.name}</PageHeading>
      <dl className="facts">
        <dt>Tenant id</dt>
        <dd>{t.id}</dd>
        <dt>Created</dt>
        <dd>
          <Time iso={t.created_at} />
        </dd>
      </dl>
      <p>
        <Link to={assets}>Assets of {t.name}</Link> ·{' '}
        <Link to={pathOf('tenants', t.id, 'agents')}>Agents of {t.name}</Link>
      </p>

      <section aria-labelledby="exposure-heading" className="section">
        <h2 id="exposure-heading">Exposure by advisory</h2>
        {exposure.advisories.length === 0 ? (
          <p>No advisory touches the assets of this tenant.</p>
        ) : (
          <Scrollable label="Assets by verdict for each advisory">
            <table>
              <caption className="visually-hidden">Assets by verdict for each advisory</caption>
              <thead>
                <tr>
                  <th scope="col">Advisory</th>
                  <th scope="col" className="num">
                    Affected
                  </th>
                  <th scope="col" className="num">
                    Unknown
                  </th>
                  <th scope="col" className="num">
                    Fixed
                  </th>
                  <th scope="col" className="num wide-only">
                    Not affected
                  </th>
                </tr>
              </thead>
              <tbody>
                {exposure.advisories.map((a) => (
                  <tr key={a.advisory}>
                    <td>{a.advisory}</td>
                    {(['affected', 'unknown', 'fixed', 'not_affected'] as const).map((v) => (
                      <td key={v} className={v === 'not_affected' ? 'num wide-only' : 'num'}>
                        {a.counts[v] > 0 ? (
                          <Link
                            to={withQuery(assets, { advisory: a.advisory, verdict: v })}
                            aria-label={`${a.counts[v]} ${v.replace('_', ' ')} for ${a.advisory}`}
                          >
                            {a.counts[v]}
                          </Link>
                        ) : (
                          0
                        )}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </Scrollable>
        )}
      </section>

      <section aria-labelledby="sites-heading" className="section">
        <h2 id="sites-heading">Sites</h2>
        {sites.length === 0 ? (
          <p>No sites yet.</p>
        ) : (
          <Scrollable label="Sites">
            <table>
              <caption className="visually-hidden">Sites</caption>
              <thead>
                <tr>
                  <th scope="col">Site</th>
                  <th scope="col">Name</th>
                  <th scope="col">Assets</th>
                </tr>
              </thead>
              <tbody>
                {sites.map((s) => (
                  <tr key={s.id}>
                    <td>{s.id}</td>
                    <td>{s.name}</td>
                    <td>
                      <Link to={withQuery(assets, { site: s.id })} aria-label={`Assets at ${s.name}`}>
                        Assets
                      </Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scrollable>
        )}
        {canWrite(me) ? (
          <CreateSite tenant={t.id} created={(s) => tenant.set({ ...result.data, sites: [...sites, s] })} />
        ) : null}
      </section>
    </main>
  );
}

function CreateSite({ tenant, created }: { tenant: string; created: (s: Site) => void }) {
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
      const s = await api.createSite(tenant, { id: v.id ?? '', name: v.name ?? '' });
      form.reset();
      setDone(`Site ${s.id} created.`);
      created(s);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="card section" aria-labelledby="new-site">
      <h3 id="new-site">New site</h3>
      <Field label="Site id" name="id" required maxLength={128} autoComplete="off" />
      <Field label="Site name" name="name" required maxLength={200} autoComplete="off" />
      <Message kind="error">{error}</Message>
      <Message kind="ok">{done}</Message>
      <button type="submit" className="primary" disabled={busy}>
        Create site
      </button>
    </form>
  );
}
