/**
 * The "Response" section of an asset's page: per advisory, the four answers (exposed? shielded? breached?
 * patched?) with their source, time, hunt window and evidence, and the observations behind them, newest first.
 * `?advisory=` in the page's URL narrows it to one advisory. It follows the event stream while the page is open.
 */
import type { AssetResponseDetail } from '../api';
import { api } from '../api';
import { useLiveRefresh } from '../live';
import { useLoad } from '../load';
import { Link, useLocation } from '../router';
import { type Column, DataTable } from '../table';
import { LoadState, Time } from '../ui';
import {
  AnswerCell,
  boardTenantPath,
  concernsAsset,
  Evidence,
  label,
  StateBadge,
  WindowText,
} from './board-parts';

type Item = AssetResponseDetail['items'][number];
type Stored = Item['observations'][number];

const OBSERVATION_COLUMNS: Column<Stored>[] = [
  { header: 'Observed', className: 'nowrap', cell: (o) => <Time iso={o.observed_at} /> },
  { header: 'Answer', cell: (o) => `${label(o.kind)}: ${label(o.value)}` },
  { header: 'Source', cell: (o) => o.source },
  {
    header: 'Evidence',
    className: 'wide-only',
    cell: (o) => (
      <>
        {o.summary?.text ?? ''}
        {o.window ? (
          <div className="sub">
            <WindowText window={o.window} />
          </div>
        ) : null}
      </>
    ),
  },
  { header: 'Recorded by', className: 'wide-only', cell: (o) => o.actor },
];

export function ResponseSection({ tenant, asset }: { tenant: string; asset: string }) {
  const { query } = useLocation();
  const advisory = query.get('advisory')?.trim() || undefined;
  const { result, reload } = useLoad(
    () => api.assetResponse(tenant, asset, advisory),
    [tenant, asset, advisory],
  );
  useLiveRefresh(
    ['response.changed', 'findings.changed', 'asset.changed'],
    (e) => concernsAsset(e, tenant, asset),
    reload,
  );
  return (
    <section aria-labelledby="response-heading" className="section">
      <h2 id="response-heading">Response{advisory ? ` to ${advisory}` : ''}</h2>
      {result.state === 'ok' ? (
        result.data.items.length === 0 ? (
          <p>
            {advisory
              ? `${advisory} does not concern this asset, and nothing was observed about it here.`
              : 'No advisory concerns this asset, and nothing was observed on it.'}
          </p>
        ) : (
          result.data.items.map((item) => <AdvisoryResponse key={item.advisory_id} item={item} />)
        )
      ) : result.state === 'not-found' ? (
        <p>The server has no response state for this asset.</p>
      ) : (
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      )}
    </section>
  );
}

function AdvisoryResponse({ item }: { item: Item }) {
  const id = `response-${item.advisory_id}`;
  return (
    <article className="card section" aria-labelledby={id}>
      <h3 id={id}>
        <Link to={boardTenantPath(item.advisory_id, item.tenant_id)}>{item.advisory_id}</Link>
      </h3>
      <dl className="facts answers">
        <dt>Exposed?</dt>
        <dd>
          <StateBadge state={item.exposure.verdict} />
          {item.exposure.at ? (
            <span className="sub">
              {' '}
              judged <Time iso={item.exposure.at} />
            </span>
          ) : null}
        </dd>
        <dt>Shielded?</dt>
        <dd>
          <AnswerCell answer={item.shield} />
          <Evidence summary={item.shield.summary} />
        </dd>
        <dt>Breached?</dt>
        <dd>
          <AnswerCell answer={item.compromise} />
          {item.compromise.window ? (
            <div className="sub">
              Hunt window: <WindowText window={item.compromise.window} />
            </div>
          ) : null}
          <Evidence summary={item.compromise.summary} />
        </dd>
        <dt>Patched?</dt>
        <dd>
          <AnswerCell answer={item.patch} />
          <Evidence summary={item.patch.summary} />
        </dd>
      </dl>
      <h4>Observations</h4>
      {item.observations.length === 0 ? (
        <p>
          None recorded: the shield, compromise and patch answers are unknown until a scan or hunt reports.
        </p>
      ) : (
        <DataTable
          label={`Observations for ${item.advisory_id}, newest first`}
          columns={OBSERVATION_COLUMNS}
          rows={item.observations}
          rowKey={(o) => o.id}
        />
      )}
    </article>
  );
}
