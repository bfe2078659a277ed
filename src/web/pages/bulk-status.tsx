/**
 * The two-step bulk status change of a tenant's findings: choose them by filter and preview (the server answers
 * how many match and a confirmation), then confirm (the server applies the change to exactly the findings it
 * counted). A confirmation gone stale — the findings changed, it expired or was used — is refused by the server
 * (409); the message says so and offers to preview again. An empty filter is the server's to refuse; "every
 * finding of this tenant" has to be ticked explicitly.
 */
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { ApiError, api, type BulkFilter, type BulkPreview, messageOf } from '../api';
import { Message, SelectField } from '../ui';

const STATUS_OPTIONS = [
  ['acknowledged', 'Acknowledged'],
  ['accepted_risk', 'Accepted risk'],
  ['open', 'Open'],
] as const;
type Status = (typeof STATUS_OPTIONS)[number][0];

const CURRENT_STATUS_OPTIONS = [['', 'Any'], ...STATUS_OPTIONS] as const;

const label = (s: string) => s.replace(/_/g, ' ');

interface Draft {
  filter: BulkFilter;
  status: Status;
  reason: string;
}

type Step =
  | { kind: 'edit' }
  | { kind: 'confirm'; draft: Draft; preview: BulkPreview }
  | { kind: 'done'; matches: number; changed: number; status: string };

function draftOf(form: HTMLFormElement): Draft {
  const data = new FormData(form);
  const text = (name: string) => String(data.get(name) ?? '').trim();
  const filter: BulkFilter = {};
  if (data.get('all') === 'on') filter.all = true;
  else {
    for (const name of ['advisory', 'cve', 'verdict', 'status', 'asset_q'] as const) {
      const v = text(`filter-${name}`);
      if (v) filter[name] = v;
    }
  }
  return { filter, status: text('new-status') as Status, reason: text('reason') };
}

export function BulkStatusChange({
  tenant,
  verdicts,
}: {
  tenant: string;
  /** The verdict choices ([value, text], '' for any), as the asset filters show them. */
  verdicts: readonly (readonly [string, string])[];
}) {
  const id = useId();
  const [step, setStep] = useState<Step>({ kind: 'edit' });
  const [all, setAll] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  /** The draft of a confirmation the server refused as stale: "Preview again" previews it anew. */
  const [stale, setStale] = useState<Draft>();
  // The form hides once previewed: the focus moves to the count (and then to the outcome), so keyboard and
  // screen reader users continue there.
  const resultRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (step.kind !== 'edit') resultRef.current?.focus();
  }, [step.kind]);

  async function preview(draft: Draft) {
    setError('');
    setStale(undefined);
    if (!draft.reason) {
      setError('reason: say why the status changes (it goes into each finding’s history and the audit log).');
      return;
    }
    setBusy(true);
    try {
      const p = await api.previewBulkStatus(tenant, draft);
      setStep({ kind: 'confirm', draft, preview: p });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  async function commit(draft: Draft, token: string) {
    setError('');
    setBusy(true);
    try {
      const r = await api.commitBulkStatus(tenant, token);
      setStep({ kind: 'done', ...r });
    } catch (err) {
      setError(messageOf(err));
      if (err instanceof ApiError && err.status === 409) {
        setStale(draft);
        setStep({ kind: 'edit' });
      }
    } finally {
      setBusy(false);
    }
  }

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    void preview(draftOf(e.currentTarget));
  }

  const headingId = `${id}-heading`;
  return (
    <section aria-labelledby={headingId} className="card section">
      <h2 id={headingId}>Change the status of many findings</h2>
      <p>
        Two steps: choose the findings by filter and see how many match, then confirm. The change applies to
        exactly the findings counted; if any of them changes in between, nothing is changed and you preview
        again.
      </p>
      <form onSubmit={submit} hidden={step.kind !== 'edit'} aria-label="Choose findings">
        <fieldset className="bulk-filter" disabled={all}>
          <legend>Findings that match all of</legend>
          <div className="filters">
            <div className="field">
              <label htmlFor={`${id}-advisory`}>Advisory</label>
              <input id={`${id}-advisory`} name="filter-advisory" maxLength={200} />
            </div>
            <div className="field">
              <label htmlFor={`${id}-cve`}>CVE</label>
              <input id={`${id}-cve`} name="filter-cve" maxLength={40} placeholder="CVE-2021-26855" />
            </div>
            <SelectField label="Finding verdict" name="filter-verdict" options={verdicts} />
            <SelectField label="Current status" name="filter-status" options={CURRENT_STATUS_OPTIONS} />
            <div className="field">
              <label htmlFor={`${id}-asset`}>Asset id or name contains</label>
              <input id={`${id}-asset`} name="filter-asset_q" maxLength={200} />
            </div>
          </div>
        </fieldset>
        <div className="field checkbox">
          <input
            id={`${id}-all`}
            name="all"
            type="checkbox"
            checked={all}
            onChange={(e) => setAll(e.currentTarget.checked)}
          />
          <label htmlFor={`${id}-all`}>Every finding of this tenant (no filter)</label>
        </div>
        <SelectField label="New status" name="new-status" options={STATUS_OPTIONS} />
        <div className="field">
          <label htmlFor={`${id}-reason`}>Reason</label>
          <textarea id={`${id}-reason`} name="reason" rows={2} maxLength={2000} />
        </div>
        <Message kind="error">{error}</Message>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            Preview
          </button>
          {stale ? (
            <button type="button" onClick={() => void preview(stale)} disabled={busy}>
              Preview again
            </button>
          ) : null}
        </div>
      </form>
      {step.kind === 'confirm' ? (
        <div ref={resultRef} tabIndex={-1}>
          <p role="status">
            {step.preview.matches === 0
              ? 'No finding matches this filter.'
              : `${step.preview.matches} ${step.preview.matches === 1 ? 'finding matches' : 'findings match'}` +
                (step.preview.already
                  ? ` (${step.preview.already} already ${label(step.draft.status)})`
                  : '') +
                '.'}
          </p>
          <Message kind="error">{error}</Message>
          <div className="actions">
            {step.preview.matches > 0 ? (
              <button
                type="button"
                className="primary"
                disabled={busy}
                onClick={() => void commit(step.draft, step.preview.token)}
              >
                Change {step.preview.matches} to {label(step.draft.status)}
              </button>
            ) : null}
            <button type="button" disabled={busy} onClick={() => setStep({ kind: 'edit' })}>
              Back
            </button>
          </div>
        </div>
      ) : null}
      {step.kind === 'done' ? (
        <div ref={resultRef} tabIndex={-1}>
          <Message kind="ok">
            Done: {step.changed} {step.changed === 1 ? 'finding' : 'findings'} changed to {label(step.status)}
            {step.matches > step.changed ? `; ${step.matches - step.changed} had it already` : ''}.
          </Message>
          <button type="button" onClick={() => setStep({ kind: 'edit' })}>
            Another change
          </button>
        </div>
      ) : null}
    </section>
  );
}
