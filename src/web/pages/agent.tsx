/**
 * One agent: its identity (key fingerprint, device certificate and its expiry, generation), state with the reason
 * of a quarantine or revocation, presence, version; its inventory (the facts of its asset: the OS and every product
 * or package with its exact version, filtered and shown 100 at a time, so thousands of packages stay quick); its
 * job history. Live from agent.changed, agents.presence and agent_job.updated. Principals that may write revoke it
 * here, after a confirmation dialog.
 */
import { type FormEvent, useRef, useState } from 'react';
import { AGENT_EVENTS, type Agent, agentApi, agentsPath } from '../agents-api';
import { ApiError, type Asset, api, messageOf } from '../api';
import { useLiveRefresh } from '../live';
import { useLoad } from '../load';
import { Link, pathOf } from '../router';
import { canWrite, useMe } from '../session';
import { Field, LoadState, Message, NotFoundState, PageHeading, Scrollable, Time } from '../ui';
import { AgentJobHistory } from './agent-jobs';
import { AgentStateText, Presence } from './agents';
import { LiveStatus } from './board-parts';

const PRODUCTS_SHOWN = 100;

export function AgentPage({ params }: { params: Record<string, string> }) {
  const tenant = params.tenant ?? '';
  const id = params.agent ?? '';
  const me = useMe();
  const writer = canWrite(me);
  const { result, reload, set } = useLoad(async () => {
    const [agent, asset] = await Promise.all([
      agentApi.agent(tenant, id),
      // The agent reports for the asset with its own id; before its first inventory the asset has no facts.
      api.asset(tenant, id).catch((err) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      }),
    ]);
    return { agent, asset };
  }, [tenant, id]);
  useLiveRefresh(
    AGENT_EVENTS,
    (e) =>
      e.tenant_id === tenant &&
      (e.data.agent_id === id ||
        (Array.isArray(e.data.online) && e.data.online.includes(id)) ||
        (Array.isArray(e.data.offline) && e.data.offline.includes(id))),
    reload,
  );

  if (result.state === 'not-found') return <NotFoundState what="agent" />;
  const data = result.state === 'ok' ? result.data : undefined;
  const agent = data?.agent;
  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/tenants">Tenants</Link> › <Link to={pathOf('tenants', tenant)}>{tenant}</Link> ›{' '}
        <Link to={agentsPath(tenant)}>Agents</Link>
      </p>
      <PageHeading title={`Agent ${agent?.hostname ?? id}`}>
        {agent?.hostname ?? id} <span className="sub">Agent {id}</span>
      </PageHeading>
      <LiveStatus />
      {agent && data ? (
        <>
          <Identity agent={agent} />
          {writer && agent.state !== 'revoked' ? (
            <Revoke tenant={tenant} agent={agent} onRevoked={(a) => set({ ...data, agent: a })} />
          ) : null}
          <Inventory tenant={tenant} agent={agent} asset={data.asset} />
          <AgentJobHistory tenant={tenant} agent={id} canCancel={writer} />
        </>
      ) : (
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      )}
    </main>
  );
}

function Identity({ agent }: { agent: Agent }) {
  const expiresInDays = Math.floor((Date.parse(agent.cert_not_after) - Date.now()) / 86_400_000);
  return (
    <section aria-labelledby="identity-heading" className="section">
      <h2 id="identity-heading">Identity and state</h2>
      <dl className="facts">
        <dt>State</dt>
        <dd>
          <AgentStateText agent={agent} />
        </dd>
        <dt>Presence</dt>
        <dd>
          <Presence agent={agent} />
          {agent.online && agent.connected_at ? (
            <div className="sub">
              connected <Time iso={agent.connected_at} />
            </div>
          ) : null}
        </dd>
        <dt>Version</dt>
        <dd>{agent.version}</dd>
        <dt>Operating system</dt>
        <dd>{agent.os ?? 'unknown: the agent did not say'}</dd>
        <dt>Site</dt>
        <dd>{agent.site_id ?? 'none'}</dd>
        <dt>Key fingerprint (SHA-256)</dt>
        <dd className="mono break">{agent.key_fingerprint}</dd>
        <dt>Device certificate</dt>
        <dd>
          serial <span className="mono">{agent.cert_serial}</span>, valid until{' '}
          <Time iso={agent.cert_not_after} />
          <div className="sub">
            {expiresInDays < 0
              ? 'expired'
              : `${expiresInDays} day${expiresInDays === 1 ? '' : 's'} left; the agent renews it before then`}
          </div>
        </dd>
        <dt>Generation</dt>
        <dd>{agent.generation}</dd>
        <dt>Enrolled</dt>
        <dd>
          <Time iso={agent.enrolled_at} />
        </dd>
      </dl>
    </section>
  );
}

function Revoke({ tenant, agent, onRevoked }: { tenant: string; agent: Agent; onRevoked(a: Agent): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget).get('reason') ?? '').trim();
    setBusy(true);
    setError('');
    try {
      const revoked = await agentApi.revoke(tenant, agent.id, reason || undefined);
      dialog.current?.close();
      onRevoked(revoked);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="actions">
      <button type="button" className="danger" onClick={() => dialog.current?.showModal()}>
        Revoke this agent
      </button>
      <dialog ref={dialog} aria-labelledby="revoke-heading">
        <form onSubmit={submit}>
          <h2 id="revoke-heading">Revoke {agent.hostname}?</h2>
          <p>
            Its certificate is revoked, its pending jobs are cancelled and its connection ends at its next
            message. It cannot come back: the machine has to enrol again with a new token.
          </p>
          <Field label="Reason (optional)" name="reason" maxLength={200} />
          <Message kind="error">{error}</Message>
          <div className="actions">
            <button type="submit" className="danger" disabled={busy}>
              Revoke
            </button>
            <button type="button" onClick={() => dialog.current?.close()}>
              Keep it
            </button>
          </div>
        </form>
      </dialog>
    </div>
  );
}

function Inventory({ tenant, agent, asset }: { tenant: string; agent: Agent; asset: Asset | undefined }) {
  const [filter, setFilter] = useState('');
  const [shown, setShown] = useState(PRODUCTS_SHOWN);
  const products = asset?.facts.products ?? [];
  const text = filter.trim().toLowerCase();
  const matching = text
    ? products.filter((p) => p.product.toLowerCase().includes(text) || p.version.toLowerCase().includes(text))
    : products;
  const os = asset?.facts.os;
  return (
    <section aria-labelledby="inventory-heading" className="section">
      <h2 id="inventory-heading">Inventory</h2>
      {!asset || !agent.inventory_at ? (
        <p role="status">
          No inventory yet: the agent sends it after it connects.{' '}
          {asset ? <Link to={pathOf('tenants', tenant, 'assets', asset.id)}>The asset</Link> : null}
        </p>
      ) : (
        <>
          <p>
            Reported <Time iso={agent.inventory_at} />
            {os ? (
              <>
                {' '}
                · {os.product} {os.version ?? ''}
              </>
            ) : null}{' '}
            ·{' '}
            <Link to={pathOf('tenants', tenant, 'assets', asset.id)}>
              exposure and findings of this asset
            </Link>
          </p>
          <div className="field">
            <label htmlFor="inventory-filter">Filter products and packages</label>
            <input
              id="inventory-filter"
              type="search"
              value={filter}
              maxLength={200}
              onChange={(e) => {
                setFilter(e.currentTarget.value);
                setShown(PRODUCTS_SHOWN);
              }}
            />
          </div>
          <p role="status" className="count">
            {matching.length === products.length
              ? `${products.length} products and packages`
              : `${matching.length} of ${products.length} products and packages`}
            {matching.length > shown ? `, the first ${shown} shown` : ''}
          </p>
          {matching.length > 0 ? (
            <Scrollable label="Inventory">
              <table>
                <caption className="visually-hidden">Products and packages</caption>
                <thead>
                  <tr>
                    <th scope="col">Product or package</th>
                    <th scope="col">Version</th>
                  </tr>
                </thead>
                <tbody>
                  {matching.slice(0, shown).map((p) => (
                    <tr key={`${p.product}@${p.version}`}>
                      <td className="break">{p.product}</td>
                      <td className="mono">{p.version}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scrollable>
          ) : null}
          {matching.length > shown ? (
            <button type="button" onClick={() => setShown((n) => n + PRODUCTS_SHOWN)}>
              Show {Math.min(PRODUCTS_SHOWN, matching.length - shown)} more
            </button>
          ) : null}
        </>
      )}
    </section>
  );
}
