/**
 * Jobs: the list (newest first, filtered by state and kind, paged with the server's cursor) and one job with its
 * progress; both follow job.updated events from the server's event stream. Against a server without the jobs API
 * the page says so instead of failing.
 */
import { useRef, useState } from 'react';
import type { EventDataOf } from '../../api/events.js';
import { api, type Job, type JobPage as JobsAnswer, messageOf, withQuery } from '../api';
import { useEvents, useJobUpdates, useThrottle } from '../live';
import { type Loaded, useLoad } from '../load';
import { Link, pathOf, useLocation } from '../router';
import { canWrite, useMe } from '../session';
import { type Column, DataTable, filterSubmit } from '../table';
import { LoadState, Message, NotFoundState, PageHeading, Scrollable, SelectField, Time } from '../ui';

const PAGE_SIZE = 50;
const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
const FINISHED = new Set<string>(['succeeded', 'failed', 'cancelled', 'expired']);

function Unavailable() {
  return (
    <Message kind="info">
      The jobs API is not available on this server (GET /api/v1/jobs answered 404). Update the server to see
      jobs here.
    </Message>
  );
}

/** A job's progress as a bar with its numbers; an unknown total shows as an indeterminate bar. */
export function JobProgress({ job }: { job: Job }) {
  const { done, total } = job.progress;
  const text =
    total === null
      ? `${done} done, total not known yet`
      : `${done} of ${total}${total > 0 ? ` (${Math.floor((done / total) * 100)} %)` : ''}`;
  return (
    <span className="progress">
      <progress
        max={total ?? undefined}
        value={total === null ? undefined : Math.min(done, total)}
        aria-label={`Progress of ${job.id}`}
        aria-valuetext={text}
      />
      <span>{text}</span>
    </span>
  );
}

/** A listed job with what its job.updated event says. */
function updatedJob(job: Job, d: EventDataOf<'job.updated'>): Job {
  return {
    ...job,
    state: d.state as Job['state'],
    progress: d.progress,
    attempts: d.attempts,
    max_attempts: d.max_attempts,
    cancel_requested: d.cancel_requested,
    error: d.error,
  };
}

export function JobsPage() {
  const { query } = useLocation();
  const state = query.get('state') ?? '';
  const kind = query.get('kind') ?? '';
  const after = query.get('after') ?? '';
  const { result, reload, set } = useLoad(
    () =>
      api.jobs({
        limit: PAGE_SIZE,
        ...(after ? { after } : {}),
        ...(state ? { state } : {}),
        ...(kind ? { kind } : {}),
      }),
    [state, kind, after],
  );
  // Progress of a listed job comes straight from its event; a job not listed yet appears on the newest page.
  const latest = useRef<JobsAnswer | undefined>(undefined);
  latest.current = result.state === 'ok' ? result.data : undefined;
  const refresh = useThrottle(reload, 500);
  useEvents(['job.updated'], {
    onEvent(e) {
      const page = latest.current;
      if (!page) return;
      const d = e.data as EventDataOf<'job.updated'>;
      if (page.items.some((j) => j.id === d.job_id)) {
        const next = { ...page, items: page.items.map((j) => (j.id === d.job_id ? updatedJob(j, d) : j)) };
        latest.current = next;
        set(next);
      } else if (!after) refresh();
    },
    onResync: refresh,
  });

  return (
    <main id="main">
      <PageHeading title="Jobs">Jobs</PageHeading>
      {result.state === 'not-found' ? (
        <Unavailable />
      ) : (
        <>
          <search>
            <form className="filters" onSubmit={filterSubmit('/jobs')} key={`${state}|${kind}`}>
              <SelectField
                label="State"
                name="state"
                defaultValue={state}
                options={[['', 'Any'], ...STATES.map((s) => [s, s] as const)]}
              />
              <div className="field">
                <label htmlFor="job-kind">Kind</label>
                <input
                  id="job-kind"
                  name="kind"
                  defaultValue={kind}
                  maxLength={100}
                  placeholder="advisories.recompute"
                />
              </div>
              <div className="filter-actions">
                <button type="submit" className="primary">
                  Filter
                </button>
              </div>
            </form>
          </search>
          <JobList result={result} state={state} kind={kind} after={after} />
        </>
      )}
    </main>
  );
}

const JOB_COLUMNS: Column<Job>[] = [
  {
    header: 'Job',
    cell: (j) => (
      <>
        <Link to={pathOf('jobs', j.id)}>{j.kind}</Link>
        <div className="sub">
          {j.id}
          {j.tenant_id ? `, tenant ${j.tenant_id}` : ''}
        </div>
      </>
    ),
  },
  { header: 'State', cell: (j) => <span className={`state state-${j.state}`}>{j.state}</span> },
  { header: 'Progress', cell: (j) => <JobProgress job={j} /> },
  {
    header: 'Created',
    className: 'wide-only',
    cellClassName: 'nowrap',
    cell: (j) => <Time iso={j.created_at} />,
  },
];

function JobList({
  result,
  state,
  kind,
  after,
}: {
  result: Loaded<Awaited<ReturnType<typeof api.jobs>>>;
  state: string;
  kind: string;
  after: string;
}) {
  if (result.state !== 'ok')
    return <LoadState error={result.state === 'error' ? result.message : undefined} />;
  const page = result.data;
  return (
    <>
      <p role="status" className="count">
        {page.total === 0
          ? 'No jobs match.'
          : `${page.items.length} shown of ${page.total}${after ? ' (older page)' : ''}, newest first`}
      </p>
      {page.items.length > 0 ? (
        <DataTable label="Jobs, newest first" columns={JOB_COLUMNS} rows={page.items} rowKey={(j) => j.id} />
      ) : null}
      <nav className="pager" aria-label="Pages of jobs">
        {after ? <Link to={withQuery('/jobs', { state, kind })}>Newest jobs</Link> : null}
        {page.next ? (
          <Link to={withQuery('/jobs', { state, kind, after: page.next })}>Older jobs</Link>
        ) : null}
      </nav>
    </>
  );
}

export function JobPage({ params }: { params: Record<string, string> }) {
  const me = useMe();
  const id = params.id ?? '';
  const { result, reload, set } = useLoad(() => api.job(id), [id]);
  const job = result.state === 'ok' ? result.data : undefined;
  useJobUpdates(id, !!job && !FINISHED.has(job.state), reload);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  if (result.state === 'not-found') return <NotFoundState what="job" />;
  if (!job) {
    return (
      <main id="main">
        <PageHeading title={`Job ${id}`}>Job {id}</PageHeading>
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      </main>
    );
  }

  async function cancel() {
    setBusy(true);
    setError('');
    try {
      set(await api.cancelJob(id));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main">
      <p className="crumbs">
        <Link to="/jobs">Jobs</Link>
      </p>
      <PageHeading title={`Job ${job.id}`}>
        {job.kind} <span className="sub">{job.id}</span>
      </PageHeading>
      <dl className="facts">
        <dt>State</dt>
        <dd>
          <span className={`state state-${job.state}`}>{job.state}</span>
          {job.cancel_requested && !FINISHED.has(job.state) ? ' (cancel requested)' : ''}
        </dd>
        <dt>Progress</dt>
        <dd>
          <JobProgress job={job} />
        </dd>
        <dt>Tenant</dt>
        <dd>{job.tenant_id ?? 'installation-wide'}</dd>
        <dt>Attempts</dt>
        <dd>
          {job.attempts} of at most {job.max_attempts}
        </dd>
        <dt>Started by</dt>
        <dd>{job.created_by}</dd>
        <dt>Created</dt>
        <dd>
          <Time iso={job.created_at} />
        </dd>
        <dt>Started</dt>
        <dd>
          <Time iso={job.started_at} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Time iso={job.finished_at} />
        </dd>
        {job.error ? (
          <>
            <dt>Error</dt>
            <dd>{job.error}</dd>
          </>
        ) : null}
      </dl>
      {job.result !== null && job.result !== undefined ? (
        <section aria-labelledby="result-heading" className="section">
          <h2 id="result-heading">Result</h2>
          <Scrollable label="Result" className="json">
            <pre>{JSON.stringify(job.result, null, 2)}</pre>
          </Scrollable>
        </section>
      ) : null}
      <div className="actions">
        <button type="button" onClick={reload}>
          Refresh
        </button>
        {canWrite(me) && !FINISHED.has(job.state) && !job.cancel_requested ? (
          <button type="button" onClick={cancel} disabled={busy}>
            Cancel job
          </button>
        ) : null}
      </div>
      <Message kind="error">{error}</Message>
    </main>
  );
}
