/**
 * Pieces the response board's pages share: the four answers as badges with their source and time, the evidence of
 * an answer, the board's totals, and the state of live updates.
 */
import type { Answer, BoardCounts, ObservationSummary, ObservationWindow } from '../api';
import { type EventEnvelope, useLiveState } from '../live';
import { pathOf } from '../router';
import { Time } from '../ui';

export const label = (s: string) => s.replace(/_/g, ' ');

/** How an answer reads: bad (act now), good (done or not concerned), open (not known yet). */
const TONE: Record<string, 'bad' | 'good' | 'open'> = {
  affected: 'bad',
  unshielded: 'bad',
  compromised: 'bad',
  exploitation_attempted: 'bad',
  unpatched: 'bad',
  fixed: 'good',
  not_affected: 'good',
  shielded: 'good',
  clean: 'good',
  patched: 'good',
  not_applicable: 'good',
};

/** An answer's state as a badge; anything not known reads as open, never as good. */
export function StateBadge({ state }: { state: string }) {
  return <span className={`answer answer-${TONE[state] ?? 'open'}`}>{label(state)}</span>;
}

/** An answer: its state, and under it where it comes from and when. */
export function AnswerCell({ answer }: { answer: Answer }) {
  return (
    <>
      <StateBadge state={answer.state} />
      {answer.source || answer.at ? (
        <div className="sub">
          {answer.source ?? ''}
          {answer.source && answer.at ? ', ' : ''}
          {answer.at ? <Time iso={answer.at} /> : null}
        </div>
      ) : null}
    </>
  );
}

/** The time span an observation covers (a hunt: the logs it read). */
export function WindowText({ window }: { window: ObservationWindow | undefined }) {
  if (!window || (!window.from && !window.to)) return null;
  return (
    <>
      {window.from ? <Time iso={window.from} /> : 'the start of the logs'} –{' '}
      {window.to ? <Time iso={window.to} /> : 'now'}
    </>
  );
}

/** An answer's evidence in brief: the text, CVEs, attacker addresses, counts, the check and a link. */
export function Evidence({ summary }: { summary: ObservationSummary | undefined }) {
  if (!summary) return null;
  const counts = Object.entries(summary.counts ?? {});
  return (
    <div className="evidence">
      <p className="reason">{summary.text}</p>
      {summary.cves?.length ? <p>CVEs: {summary.cves.join(', ')}</p> : null}
      {summary.attacker_ips?.length ? <p>Attacker addresses: {summary.attacker_ips.join(', ')}</p> : null}
      {counts.length ? <p>{counts.map(([k, v]) => `${label(k)}: ${v}`).join('; ')}</p> : null}
      {summary.check ? <p>Check: {summary.check}</p> : null}
      {summary.url ? <p className="hash">URL: {summary.url}</p> : null}
    </div>
  );
}

/** The board's numbers, in the order the board's columns show them. */
export const COUNT_LABELS: readonly (readonly [keyof BoardCounts, string])[] = [
  ['assets', 'Assets'],
  ['exposed', 'Exposed'],
  ['shielded', 'Shielded'],
  ['unshielded', 'Unshielded'],
  ['compromised', 'Compromised'],
  ['patched', 'Patched'],
  ['clean', 'Hunted clean'],
  ['not_hunted', 'Not hunted'],
  ['unknown_exposure', 'Exposure unknown'],
];

/** Counts where a number above zero needs action. */
export const BAD_COUNTS = new Set<keyof BoardCounts>(['exposed', 'unshielded', 'compromised']);

/** The board's numbers as a row of labelled figures. */
export function Totals({ counts }: { counts: BoardCounts }) {
  return (
    <dl className="totals">
      {COUNT_LABELS.map(([key, text]) => (
        <div key={key} className={BAD_COUNTS.has(key) && counts[key] > 0 ? 'total total-bad' : 'total'}>
          <dt>{text}</dt>
          <dd data-count={key}>{counts[key]}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Where live updates stand, for the pages that follow them. */
export function LiveStatus() {
  const state = useLiveState();
  const text =
    state === 'open'
      ? 'Live: the numbers update as changes arrive.'
      : state === 'down'
        ? 'Live updates are off (the event stream failed); reload the page to try again.'
        : 'Connecting to live updates…';
  return (
    <p className={`live live-${state}`} data-live={state}>
      {text}
    </p>
  );
}

/** The board of an advisory, and one tenant's part of it. */
export const boardPath = (advisory: string) => pathOf('advisories', advisory, 'board');
export const boardTenantPath = (advisory: string, tenant: string) =>
  pathOf('advisories', advisory, 'board', tenant);

/** Event types that change a board's numbers. */
export const BOARD_EVENTS = [
  'response.changed',
  'findings.changed',
  'asset.changed',
  'asset.deleted',
  'tenant.changed',
  'advisory.changed',
] as const;

/** Whether an event may change the numbers of `advisory` (for `tenant`, when given). */
export function concernsBoard(event: EventEnvelope, advisory: string, tenant?: string): boolean {
  if (tenant !== undefined && event.tenant_id !== null && event.tenant_id !== tenant) return false;
  const ids = event.data.advisory_ids;
  return !Array.isArray(ids) || ids.includes(advisory);
}

/** Whether an event may change the answers of one asset. */
export function concernsAsset(event: EventEnvelope, tenant: string, asset: string): boolean {
  if (event.tenant_id !== tenant) return false;
  const one = event.data.asset_id;
  if (typeof one === 'string') return one === asset;
  const ids = event.data.asset_ids;
  return !Array.isArray(ids) || ids.includes(asset);
}
