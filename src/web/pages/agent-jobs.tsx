/**
 * Agent jobs in the console: running a job on agents in two steps — choose the kind, its advisory and the agents
 * (the ones ticked in the table, or every active agent of the tenant, which has to be chosen explicitly), preview
 * exactly which agents (or how many) it will run on, then confirm — and an agent's job history, live from
 * agent_job.updated, with a cancel for jobs not yet received.
 */
import { type FormEvent, useState } from 'react';
import {
  AGENT_JOB_KINDS,
  type AgentJob,
  type AgentJobKind,
  type AgentSummary,
  agentApi,
} from '../agents-api';
import { type CursorPage, messageOf } from '../api';
import { useLiveRefresh } from '../live';
import { useLoad } from '../load';
import { Field, formValues, LoadState, Message, Scrollable, SelectField, Time } from '../ui';

const KIND_TEXT: Record<AgentJobKind, string> = {
  inventory: 'Inventory (collect again)',
  hunt: 'Hunt (search the host’s logs)',
  mitigate: 'Mitigate (apply the advisory’s host mitigation)',
  rollback: 'Roll back (undo the mitigation)',
  verify: 'Verify (inventory and scan check)',
};

interface Draft {
  kind: AgentJobKind;
  params: Record<string, unknown>;
  target: { agents: AgentSummary[] } | { all: true; count: number };
}

type Step =
  | { kind: 'edit' }
  | { kind: 'confirm'; draft: Draft }
  | { kind: 'done'; queued: number; kindName: string };

export function RunAgentJob({
  tenant,
  selected,
  onDone,
}: {
  tenant: string;
  /** The agents ticked in the table. */
  selected: readonly AgentSummary[];
  onDone(): void;
}) {
  const [step, setStep] = useState<Step>({ kind: 'edit' });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [kind, setKind] = useState<AgentJobKind>('inventory');

  async function preview(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError('');
    const v = formValues(e.currentTarget);
    const all = new FormData(e.currentTarget).get('all') === 'on';
    const params: Record<string, unknown> = {};
    if (kind !== 'inventory') {
      const advisory = (v.advisory_id ?? '').trim();
      if (!advisory) {
        setError(`advisory: a ${kind} job needs the advisory it is for`);
        return;
      }
      params.advisory_id = advisory;
    }
    if (!all && selected.length === 0) {
      setError('select agents in the table, or choose every active agent of this tenant');
      return;
    }
    if (all) {
      setBusy(true);
      try {
        const page = await agentApi.agents(tenant, { state: 'active', limit: 1 });
        setStep({ kind: 'confirm', draft: { kind, params, target: { all: true, count: page.total } } });
      } catch (err) {
        setError(messageOf(err));
      } finally {
        setBusy(false);
      }
      return;
    }
    setStep({ kind: 'confirm', draft: { kind, params, target: { agents: [...selected] } } });
  }

  async function confirm(draft: Draft) {
    setBusy(true);
    setError('');
    try {
      const res = await agentApi.runJob(tenant, {
        kind: draft.kind,
        ...(Object.keys(draft.params).length ? { params: draft.params } : {}),
        ...('all' in draft.target
          ? { all: true as const }
          : { agents: draft.target.agents.map((a) => a.id) }),
      });
      setStep({ kind: 'done', queued: res.jobs.length, kindName: draft.kind });
      onDone();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  const count = (d: Draft) => ('all' in d.target ? d.target.count : d.target.agents.length);
  return (
    <section aria-labelledby="run-job-heading" className="card section">
      <h2 id="run-job-heading">Run a job</h2>
      <Message kind="error">{error}</Message>
      {step.kind === 'confirm' ? (
        <div className="bulk-confirm">
          <p role="status">
            {KIND_TEXT[step.draft.kind]}
            {step.draft.params.advisory_id ? ` for ${String(step.draft.params.advisory_id)}` : ''} on{' '}
            <strong>
              {'all' in step.draft.target
                ? `every active agent of this tenant (${step.draft.target.count} now)`
                : `${step.draft.target.agents.length} agent${step.draft.target.agents.length === 1 ? '' : 's'}`}
            </strong>
            .
          </p>
          {'agents' in step.draft.target ? (
            <ul className="selection">
              {step.draft.target.agents.map((a) => (
                <li key={a.id}>
                  {a.hostname} <span className="sub">{a.id}</span>
                  {a.state !== 'active' ? ` (${a.state}: the server refuses it)` : ''}
                </li>
              ))}
            </ul>
          ) : null}
          <div className="actions">
            <button type="button" className="primary" disabled={busy} onClick={() => confirm(step.draft)}>
              Run on {count(step.draft)} agent{count(step.draft) === 1 ? '' : 's'}
            </button>
            <button type="button" disabled={busy} onClick={() => setStep({ kind: 'edit' })}>
              Change
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={preview} className="inline-form">
          <SelectField
            label="Job"
            name="kind"
            value={kind}
            onChange={(e) => setKind(e.currentTarget.value as AgentJobKind)}
            options={AGENT_JOB_KINDS.map((k) => [k, KIND_TEXT[k]] as const)}
          />
          {kind !== 'inventory' ? (
            <Field label="Advisory" name="advisory_id" maxLength={200} placeholder="proxylogon-2021-03" />
          ) : null}
          <div className="field checkbox">
            <input id="run-all" name="all" type="checkbox" />
            <label htmlFor="run-all">Every active agent of this tenant (instead of the selection)</label>
          </div>
          <p className="hint">
            {selected.length} agent{selected.length === 1 ? '' : 's'} selected in the table.
          </p>
          <button type="submit" className="primary" disabled={busy}>
            Preview
          </button>
        </form>
      )}
      {step.kind === 'done' ? (
        <Message kind="ok">
          Queued {step.queued} {step.kindName} job{step.queued === 1 ? '' : 's'}; each agent gets its own
          signed job.
        </Message>
      ) : null}
    </section>
  );
}

const HISTORY_SIZE = 20;
const CANCELLABLE = new Set(['queued', 'delivered']);

/** One agent's jobs, newest first, 20 a page ("Older jobs" follows the API's cursor), live. */
export function AgentJobHistory({
  tenant,
  agent,
  canCancel,
}: {
  tenant: string;
  agent: string;
  canCancel: boolean;
}) {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const [error, setError] = useState('');
  const { result, reload } = useLoad(
    () => agentApi.jobs(tenant, { agent, limit: HISTORY_SIZE, ...(cursor ? { cursor } : {}) }),
    [tenant, agent, cursor],
  );
  useLiveRefresh(['agent_job.updated', 'agent_jobs.queued'], (e) => e.tenant_id === tenant, reload);

  async function cancel(j: AgentJob) {
    setError('');
    try {
      await agentApi.cancelJob(tenant, j.id);
      reload();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  const page: CursorPage<AgentJob> | undefined = result.state === 'ok' ? result.data : undefined;
  return (
    <section aria-labelledby="jobs-heading" className="section">
      <h2 id="jobs-heading">Jobs</h2>
      <Message kind="error">{error}</Message>
      {page ? (
        page.items.length === 0 ? (
          <p role="status">No job for this agent{cursor ? ' on this page' : ' yet'}.</p>
        ) : (
          <Scrollable label="Jobs of this agent">
            <table>
              <caption className="visually-hidden">Jobs of this agent</caption>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">State</th>
                  <th scope="col" className="wide-only">
                    Queued
                  </th>
                  <th scope="col" className="wide-only">
                    Finished
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((j) => (
                  <tr key={j.id}>
                    <td>
                      {j.kind}
                      <div className="sub">
                        {j.id}
                        {typeof (j.params as { advisory_id?: unknown } | null)?.advisory_id === 'string'
                          ? ` · ${(j.params as { advisory_id: string }).advisory_id}`
                          : ''}
                      </div>
                    </td>
                    <td>
                      <span className={`state state-${j.state}`}>{j.state}</span>
                      {j.progress ? (
                        <div className="sub">
                          {j.progress.done}
                          {j.progress.total !== null ? ` of ${j.progress.total}` : ''}
                          {j.progress.message ? ` · ${j.progress.message}` : ''}
                        </div>
                      ) : null}
                      {j.reason ? <div className="sub">{j.reason}</div> : null}
                      {canCancel && CANCELLABLE.has(j.state) ? (
                        <button type="button" onClick={() => cancel(j)} aria-label={`Cancel job ${j.id}`}>
                          Cancel
                        </button>
                      ) : null}
                    </td>
                    <td className="wide-only nowrap">
                      <Time iso={j.created_at} />
                    </td>
                    <td className="wide-only nowrap">
                      <Time iso={j.finished_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scrollable>
        )
      ) : (
        <LoadState error={result.state === 'error' ? result.message : undefined} />
      )}
      <nav className="pager" aria-label="Pages of jobs">
        {cursor ? (
          <button type="button" onClick={() => setCursors([])}>
            Newest jobs
          </button>
        ) : null}
        {page?.next_cursor ? (
          <button type="button" onClick={() => setCursors((c) => [...c, page.next_cursor ?? ''])}>
            Older jobs
          </button>
        ) : null}
      </nav>
    </section>
  );
}
