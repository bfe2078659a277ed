/**
 * A tenant's agents: online or not and since when, version, state (a quarantined or revoked agent with its
 * reason), filtered by site, state and presence, paged by key (the URL holds the filters and the page). The list
 * follows the event stream (presence, state changes). For principals that may write: enrolment tokens (made here,
 * shown once with the `bulwark agent enroll` command line, listed and revoked) and running a job on the agents
 * ticked in the table or on every active agent, in two steps (preview the selection, then confirm).
 */
import { useState } from 'react';
import { AGENT_EVENTS, type AgentSummary, agentApi, agentPath, agentsPath } from '../agents-api';
import { api, withQuery } from '../api';
import { keysetLinks, keysetParams } from '../keyset';
import { useLiveRefresh } from '../live';
import { useLoad } from '../load';
import { Link, pathOf, useLocation } from '../router';
import { canWrite, useMe } from '../session';
import { filterSubmit } from '../table';
import { LoadState, NotFoundState, PageHeading, Pager, Scrollable, SelectField, Time } from '../ui';
import { RunAgentJob } from './agent-jobs';
import { EnrolmentTokens } from './agent-tokens';
import { LiveStatus } from './board-parts';

const PAGE_SIZE = 50;
const FILTERS = ['site', 'state', 'online'] as const;
const STATE_OPTIONS = [
  ['', 'Any'],
  ['active', 'Active'],
  ['quarantined', 'Quarantined'],
  ['revoked', 'Revoked'],
] as const;
const ONLINE_OPTIONS = [
  ['', 'Any'],
  ['true', 'Online'],
  ['false', 'Offline'],
] as const;

/** An agent's state as text: active, or quarantined / revoked with the reason. */
export function AgentStateText({ agent }: { agent: Pick<AgentSummary, 'state' | 'state_reason'> }) {
  return (
    <>
      <span className={`badge state-${agent.state}`}>{agent.state}</span>
      {agent.state_reason ? <div className="sub">{agent.state_reason}</div> : null}
    </>
  );
}

/** Online, or offline with when it was last seen (or that it never connected). */
export function Presence({ agent }: { agent: Pick<AgentSummary, 'online' | 'last_seen_at'> }) {
  return agent.online ? (
    <span className="badge presence-online">online</span>
  ) : (
    <>
      <span className="badge presence-offline">offline</span>
      <div className="sub">
        {agent.last_seen_at ? (
          <>
            last seen <Time iso={agent.last_seen_at} />
          </>
        ) : (
          'never connected'
        )}
      </div>
    </>
  );
}

export function AgentsPage({ params }: { params: Record<string, string> }) {
  const tenant = params.tenant ?? '';
  const { query } = useLocation();
  const filters: Record<string, string> = {};
  for (const f of FILTERS) {
    const v = query.get(f)?.trim();
    if (v) filters[f] = v;
  }
  const key = JSON.stringify(filters);
  const position = keysetParams(query);
  const base = agentsPath(tenant);
  const href = (p: { cursor: string; from?: number }) => withQuery(base, { ...filters, ...p });
  const me = useMe();
  const writer = canWrite(me);
  const [selected, setSelected] = useState<Map<string, AgentSummary>>(new Map());

  const { result, reload } = useLoad(async () => {
    const [t, sites, page] = await Promise.all([
      api.tenant(tenant),
      api.sites(tenant),
      agentApi.agents(tenant, { ...filters, limit: PAGE_SIZE, cursor: position.cursor }),
    ]);
    return { t, sites, page };
  }, [tenant, key, position.cursor]);
  useLiveRefresh(AGENT_EVENTS, (e) => e.tenant_id === tenant, reload);

  if (result.state === 'not-found') return <NotFoundState what="tenant" />;
  const data = result.state === 'ok' ? result.data : undefined;
  const name = data?.t.name ?? tenant;
  const siteName = new Map(data?.sites.map((s) => [s.id, s.name]));
  const links = data ? keysetLinks(data.page, position, PAGE_SIZE, href) : undefined;
  const toggle = (a: AgentSummary, on: boolean) =>
    setSelected((prev) => {
      const next = new Map(prev);
      if (on) next.set(a.id, a);
      else next.delete(a.id);
      return next;
    });

  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/tenants">Tenants</Link> › <Link to={pathOf('tenants', tenant)}>{name}</Link>
      </p>
      <PageHeading title={`Agents of ${name}`}>Agents of {name}</PageHeading>
      <LiveStatus />
      <search>
        <form className="filters" onSubmit={filterSubmit(base)} key={key}>
          <SelectField
            label="Site"
            name="site"
            defaultValue={filters.site ?? ''}
            options={[['', 'Any'], ...(data?.sites.map((s) => [s.id, s.name] as const) ?? [])]}
          />
          <SelectField
            label="State"
            name="state"
            defaultValue={filters.state ?? ''}
            options={STATE_OPTIONS}
          />
          <SelectField
            label="Presence"
            name="online"
            defaultValue={filters.online ?? ''}
            options={ONLINE_OPTIONS}
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
                ? 'No agent has enrolled for this tenant yet.'
                : 'No agent matches these filters.'
              : links?.range}
          </p>
          {data.page.items.length > 0 ? (
            <Scrollable label="Agents">
              <table>
                <caption className="visually-hidden">Agents</caption>
                <thead>
                  <tr>
                    {writer ? (
                      <th scope="col">
                        <span className="visually-hidden">Selected</span>
                      </th>
                    ) : null}
                    <th scope="col">Agent</th>
                    <th scope="col">Presence</th>
                    <th scope="col">State</th>
                    <th scope="col" className="wide-only">
                      Version
                    </th>
                    <th scope="col" className="wide-only">
                      Site
                    </th>
                    <th scope="col" className="wide-only">
                      Enrolled
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.page.items.map((a) => (
                    <tr key={a.id}>
                      {writer ? (
                        <td>
                          <input
                            type="checkbox"
                            aria-label={`Select ${a.hostname} (${a.id})`}
                            checked={selected.has(a.id)}
                            onChange={(e) => toggle(a, e.currentTarget.checked)}
                          />
                        </td>
                      ) : null}
                      <td>
                        <Link to={agentPath(tenant, a.id)}>{a.hostname}</Link>
                        <div className="sub">
                          {a.id}
                          {a.os ? ` · ${a.os}` : ''}
                        </div>
                      </td>
                      <td>
                        <Presence agent={a} />
                      </td>
                      <td>
                        <AgentStateText agent={a} />
                      </td>
                      <td className="wide-only">{a.version}</td>
                      <td className="wide-only">{a.site_id ? (siteName.get(a.site_id) ?? a.site_id) : ''}</td>
                      <td className="wide-only nowrap">
                        <Time iso={a.enrolled_at} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scrollable>
          ) : null}
          <Pager label="Pages of agents" previous={links?.previous} next={links?.next} />
        </>
      ) : (
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      )}
      {writer ? (
        <>
          <RunAgentJob
            tenant={tenant}
            selected={[...selected.values()]}
            onDone={() => setSelected(new Map())}
          />
          <EnrolmentTokens tenant={tenant} sites={data?.sites ?? []} />
        </>
      ) : null}
    </main>
  );
}
