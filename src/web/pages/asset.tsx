/**
 * One asset: its facts, its verdict per advisory, and its findings with their provenance. Choosing a finding
 * (`?finding=CVE-…` in the URL) shows its history and, for roles that may change it, the status form: a new
 * status with the reason, one finding at a time.
 */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiError, type Asset, type AssetExposure, api, type Finding, messageOf, withQuery } from '../api';
import { useLoad } from '../load';
import { hasNavigated, Link, pathOf, useLocation } from '../router';
import { canWrite, useMe } from '../session';
import { LoadState, Message, NotFoundState, PageHeading, Scrollable, SelectField, Time } from '../ui';
import { ResponseSection } from './board-response';

const STATUS_OPTIONS = [
  ['open', 'Open'],
  ['acknowledged', 'Acknowledged'],
  ['accepted_risk', 'Accepted risk'],
] as const;

const label = (s: string) => s.replace(/_/g, ' ');

export function AssetPage({ params }: { params: Record<string, string> }) {
  const tenant = params.tenant ?? '';
  const id = params.asset ?? '';
  const { query } = useLocation();
  const chosen = query.get('finding')?.toUpperCase() ?? '';
  const loaded = useLoad(async () => {
    const [asset, exposure, t] = await Promise.all([
      api.asset(tenant, id),
      api.assetExposure(tenant, id),
      api.tenant(tenant),
    ]);
    return { asset, exposure, tenantName: t.name };
  }, [tenant, id]);
  const { result } = loaded;

  if (result.state === 'not-found') return <NotFoundState what="asset" />;
  if (result.state !== 'ok') {
    return (
      <main id="main">
        <PageHeading title={`Asset ${id}`}>Asset {id}</PageHeading>
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      </main>
    );
  }
  const { asset, exposure, tenantName } = result.data;
  const self = pathOf('tenants', tenant, 'assets', id);
  const finding = exposure.findings.find((f) => f.cve.toUpperCase() === chosen);
  const replaced = (f: Finding) =>
    loaded.set({
      ...result.data,
      exposure: {
        ...exposure,
        findings: exposure.findings.map((x) => (x.cve === f.cve ? f : x)),
      },
    });

  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/tenants">Tenants</Link> › <Link to={pathOf('tenants', tenant)}>{tenantName}</Link> ›{' '}
        <Link to={pathOf('tenants', tenant, 'assets')}>Assets</Link>
      </p>
      <PageHeading title={`Asset ${asset.id}`}>
        {asset.name ? `${asset.name} (${asset.id})` : asset.id}
      </PageHeading>
      <Facts asset={asset} />
      <Exposure exposure={exposure} />
      <ResponseSection tenant={tenant} asset={id} />
      <section aria-labelledby="findings-heading" className="section">
        <h2 id="findings-heading">Findings</h2>
        {exposure.findings.length === 0 ? (
          <p>No findings: no advisory the server knows names a product of this asset.</p>
        ) : (
          <Scrollable label="Findings with their provenance">
            <table>
              <caption className="visually-hidden">Findings with their provenance</caption>
              <thead>
                <tr>
                  <th scope="col">CVE</th>
                  <th scope="col">Verdict</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="wide-only">
                    Product
                  </th>
                  <th scope="col" className="wide-only">
                    Why
                  </th>
                </tr>
              </thead>
              <tbody>
                {exposure.findings.map((f) => (
                  <tr key={f.cve} aria-current={f === finding ? 'true' : undefined}>
                    <td>
                      <Link
                        to={withQuery(self, { finding: f.cve })}
                        aria-label={`${f.cve}: history and status`}
                      >
                        {f.cve}
                      </Link>
                      <div className="sub">{f.advisory_id}</div>
                    </td>
                    <td>
                      <span className={`verdict verdict-${f.verdict}`}>{label(f.verdict)}</span>
                    </td>
                    <td>{label(f.status)}</td>
                    <td className="wide-only">
                      {f.product} {f.version}
                    </td>
                    <td className="wide-only">
                      {f.provenance.comparison}
                      <div className="sub">
                        rule {f.provenance.rule}; fact {f.provenance.fact}
                        {f.fixes.length > 0 ? `; fixed by ${f.fixes.join(', ')}` : ''}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scrollable>
        )}
      </section>
      {chosen && !finding ? (
        <Message kind="error">This asset has no finding {chosen}.</Message>
      ) : finding ? (
        <FindingPanel
          key={finding.cve}
          tenant={tenant}
          asset={id}
          finding={finding}
          changed={replaced}
          reload={loaded.reload}
        />
      ) : null}
    </main>
  );
}

function Facts({ asset }: { asset: Asset }) {
  const f = asset.facts;
  return (
    <section aria-labelledby="facts-heading" className="section">
      <h2 id="facts-heading">Facts</h2>
      <dl className="facts">
        <dt>Asset id</dt>
        <dd>{asset.id}</dd>
        <dt>Site</dt>
        <dd>{asset.site_id ?? 'none'}</dd>
        <dt>Source</dt>
        <dd>{asset.source}</dd>
        <dt>Operating system</dt>
        <dd>{f.os ? `${f.os.name ?? f.os.product} ${f.os.version}` : 'unknown'}</dd>
        <dt>Installed updates</dt>
        <dd>{f.installed_kbs?.length ? f.installed_kbs.join(', ') : 'none reported'}</dd>
        {f.endpoints?.length ? (
          <>
            <dt>Endpoints</dt>
            <dd>{f.endpoints.join(', ')}</dd>
          </>
        ) : null}
        {f.tags?.length ? (
          <>
            <dt>Tags</dt>
            <dd>{f.tags.join(', ')}</dd>
          </>
        ) : null}
        <dt>First registered</dt>
        <dd>
          <Time iso={asset.created_at} />
        </dd>
        <dt>Facts updated</dt>
        <dd>
          <Time iso={asset.updated_at} />
        </dd>
      </dl>
      {f.products?.length ? (
        <Scrollable label="Products">
          <table>
            <caption>Products</caption>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Version</th>
              </tr>
            </thead>
            <tbody>
              {f.products.map((p, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: a product may be listed twice with other versions
                <tr key={i}>
                  <td>{p.name ? `${p.name} (${p.product})` : p.product}</td>
                  <td>{p.version}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scrollable>
      ) : (
        <p>No products reported.</p>
      )}
    </section>
  );
}

function Exposure({ exposure }: { exposure: AssetExposure }) {
  if (exposure.advisories.length === 0) return null;
  return (
    <section aria-labelledby="exposure-heading" className="section">
      <h2 id="exposure-heading">Verdict per advisory</h2>
      <Scrollable label="Verdict per advisory">
        <table>
          <caption className="visually-hidden">Verdict per advisory</caption>
          <thead>
            <tr>
              <th scope="col">Advisory</th>
              <th scope="col">Verdict</th>
              <th scope="col" className="wide-only">
                Judged
              </th>
            </tr>
          </thead>
          <tbody>
            {exposure.advisories.map((a) => (
              <tr key={a.advisory_id}>
                <td>{a.advisory_id}</td>
                <td>
                  <span className={`verdict verdict-${a.verdict}`}>{label(a.verdict)}</span>
                </td>
                <td className="wide-only nowrap">
                  <Time iso={a.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scrollable>
    </section>
  );
}

function FindingPanel({
  tenant,
  asset,
  finding,
  changed,
  reload,
}: {
  tenant: string;
  asset: string;
  finding: Finding;
  changed: (f: Finding) => void;
  /** Reads the asset's findings again (after the server refused a change to a finding that changed). */
  reload: () => void;
}) {
  const me = useMe();
  const history = useLoad(
    () => api.findingHistory(tenant, asset, finding.cve),
    [tenant, asset, finding.cve, finding.status, finding.updated_at],
  );
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const [changedMeanwhile, setChangedMeanwhile] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);
  // Chosen from the table: the focus moves to the finding, so that keyboard users continue there.
  useEffect(() => {
    if (!hasNavigated()) return;
    headingRef.current?.focus();
    headingRef.current?.scrollIntoView({ block: 'start' });
  }, []);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const status = String(data.get('status') ?? '') as (typeof STATUS_OPTIONS)[number][0];
    const reason = String(data.get('reason') ?? '').trim();
    setError('');
    setDone('');
    setChangedMeanwhile(false);
    if (!reason) {
      setError('reason: say why the status changes (it goes into the finding’s history and the audit log).');
      return;
    }
    setBusy(true);
    try {
      // Only the finding as shown is changed: if it changed since, the server refuses (412).
      const f = await api.setFindingStatus(tenant, asset, finding.cve, { status, reason }, finding.etag);
      form.reset();
      setDone(`${f.cve} is now ${label(f.status)}.`);
      changed(f);
    } catch (err) {
      setError(messageOf(err));
      if (err instanceof ApiError && err.status === 412) setChangedMeanwhile(true);
    } finally {
      setBusy(false);
    }
  }

  const h = history.result;
  return (
    <section aria-labelledby="finding-heading" className="card section">
      <h2 id="finding-heading" ref={headingRef} tabIndex={-1}>
        {finding.cve} on {asset}
      </h2>
      <dl className="facts">
        <dt>Advisory</dt>
        <dd>{finding.provenance.advisory}</dd>
        <dt>Verdict</dt>
        <dd>{label(finding.verdict)}</dd>
        <dt>Status</dt>
        <dd>{label(finding.status)}</dd>
        <dt>Rule</dt>
        <dd>{finding.provenance.rule}</dd>
        <dt>Fact</dt>
        <dd>{finding.provenance.fact}</dd>
        <dt>Comparison</dt>
        <dd>{finding.provenance.comparison}</dd>
        <dt>Fixed by</dt>
        <dd>{finding.fixes.length ? finding.fixes.join(', ') : 'no fix named'}</dd>
        <dt>First seen</dt>
        <dd>
          <Time iso={finding.first_seen} />
        </dd>
      </dl>
      <h3>History</h3>
      {h.state === 'ok' ? (
        h.data.length === 0 ? (
          <p>No changes recorded.</p>
        ) : (
          <ol className="history">
            {h.data.map((e) => (
              <li key={e.seq}>
                <Time iso={e.at} /> — {label(e.kind)}: {e.from_value ? `${label(e.from_value)} → ` : ''}
                {label(e.to_value)} <span className="sub">by {e.actor}</span>
                {e.reason ? <div className="reason">{e.reason}</div> : null}
              </li>
            ))}
          </ol>
        )
      ) : (
        <LoadState error={h.state === 'loading' ? undefined : h.message} />
      )}
      {canWrite(me) ? (
        <form onSubmit={submit} aria-labelledby="status-heading">
          <h3 id="status-heading">Change the status</h3>
          <SelectField
            label="New status"
            name="status"
            options={STATUS_OPTIONS}
            defaultValue={finding.status === 'open' ? 'acknowledged' : 'open'}
          />
          <div className="field">
            <label htmlFor="finding-reason">Reason</label>
            <textarea id="finding-reason" name="reason" rows={3} maxLength={2000} required />
          </div>
          <Message kind="error">{error}</Message>
          <Message kind="ok">{done}</Message>
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              Change status
            </button>
            {changedMeanwhile ? (
              <button
                type="button"
                onClick={() => {
                  setError('');
                  setChangedMeanwhile(false);
                  reload();
                }}
              >
                Show the finding as it is now
              </button>
            ) : null}
          </div>
        </form>
      ) : null}
    </section>
  );
}
