/**
 * The audit log (administrators only), newest first, 50 to a page paged by key (the API's cursors, in the URL),
 * and "Verify chain": the server re-computes the hash chain over every record and answers whether it is whole.
 */
import { useState } from 'react';
import { type AuditVerification, api, messageOf, withQuery } from '../api';
import { keysetLinks, keysetParams } from '../keyset';
import { useLoad } from '../load';
import { useLocation } from '../router';
import { LoadState, Message, PageHeading, Pager, Scrollable, Time } from '../ui';

const PAGE_SIZE = 50;
const href = (p: { cursor: string; from?: number }) => withQuery('/audit', p);

export function AuditPage() {
  const { query } = useLocation();
  const position = keysetParams(query);
  const { result } = useLoad(
    () => api.audit({ limit: PAGE_SIZE, cursor: position.cursor }),
    [position.cursor],
  );
  const links = result.state === 'ok' ? keysetLinks(result.data, position, PAGE_SIZE, href) : undefined;
  return (
    <main id="main">
      <PageHeading title="Audit log">Audit log</PageHeading>
      <VerifyChain />
      {result.state === 'ok' ? (
        <>
          <p role="status" className="count">
            {result.data.total === 0 ? 'The audit log is empty.' : `${links?.range}, newest first`}
          </p>
          {result.data.items.length > 0 ? (
            <Scrollable label="Audit records, newest first">
              <table>
                <caption className="visually-hidden">Audit records, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col" className="num">
                      No.
                    </th>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Action</th>
                    <th scope="col" className="wide-only">
                      Target
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {result.data.items.map((r) => (
                    <tr key={r.seq}>
                      <td className="num">{r.seq}</td>
                      <td className="nowrap">
                        <Time iso={r.at} />
                      </td>
                      <td>{r.actor}</td>
                      <td>
                        {r.action}
                        {r.tenant_id ? <div className="sub">tenant {r.tenant_id}</div> : null}
                      </td>
                      <td className="wide-only">{r.target}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scrollable>
          ) : null}
          <Pager label="Pages of the audit log" previous={links?.previous} next={links?.next} />
        </>
      ) : (
        <LoadState error={result.state === 'loading' ? undefined : result.message} />
      )}
    </main>
  );
}

function VerifyChain() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [v, setV] = useState<AuditVerification>();

  async function verify() {
    setBusy(true);
    setError('');
    setV(undefined);
    try {
      setV(await api.verifyAudit());
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="verify-heading" className="card section">
      <h2 id="verify-heading">Chain check</h2>
      <p>
        Each record holds the hash of the one before it; a changed, removed or reordered record breaks the
        chain.
      </p>
      <button type="button" className="primary" onClick={verify} disabled={busy}>
        Verify chain
      </button>
      {busy ? <p role="status">Checking every record…</p> : null}
      <Message kind="error">{error}</Message>
      {v ? (
        v.ok ? (
          <Message kind="ok">
            The chain is whole: {v.records} records checked. Last record {v.head_seq}, hash{' '}
            <code className="hash">{v.head}</code> (keep it to detect records cut off the end later).
          </Message>
        ) : (
          <div className="message message-error" role="alert">
            <strong>
              The chain is broken: {v.problems.length + v.problems_omitted} problems in {v.records} records.
            </strong>
            <ul className="problem-list">
              {v.problems.slice(0, 50).map((p) => (
                <li key={`${p.seq}-${p.kind}`}>
                  Record {p.seq}: {p.problem}
                </li>
              ))}
            </ul>
            {v.problems.length + v.problems_omitted > 50 ? (
              <span>… and more; bulwark audit verify lists them all.</span>
            ) : null}
          </div>
        )
      ) : null}
    </section>
  );
}
