/**
 * A tenant's enrolment tokens: make one (site, uses, validity, note), shown only once with a copy button and the
 * command line that enrols a machine with it; the tokens made so far (never their secret) with their uses, and
 * revoking one.
 */
import { type FormEvent, useState } from 'react';
import { type AgentToken, agentApi } from '../agents-api';
import { messageOf, type Site } from '../api';
import { useLoad } from '../load';
import { CopyButton, Field, formValues, LoadState, Message, Scrollable, SelectField, Time } from '../ui';

const TTL_OPTIONS = [
  ['3600', '1 hour'],
  ['86400', '1 day'],
  ['604800', '7 days'],
  ['2592000', '30 days'],
] as const;

/** The command that enrols a machine with a token kept in a file (never on the command line). */
export const enrollCommand = (origin: string) =>
  `bulwark agent enroll --server ${origin} --token-file /root/bulwark-enrol.token`;

function tokenState(t: AgentToken): string {
  if (t.revoked_at) return 'revoked';
  if (Date.parse(t.expires_at) <= Date.now()) return 'expired';
  if (t.uses >= t.uses_allowed) return 'used up';
  return 'valid';
}

export function EnrolmentTokens({ tenant, sites }: { tenant: string; sites: readonly Site[] }) {
  const { result, reload } = useLoad(() => agentApi.tokens(tenant), [tenant]);
  const [created, setCreated] = useState<(AgentToken & { token: string }) | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const v = formValues(e.currentTarget);
    setBusy(true);
    setError('');
    try {
      const uses = Number(v.uses || '1');
      const made = await agentApi.createToken(tenant, {
        ...(v.site ? { site: v.site } : {}),
        uses,
        ttl_s: Number(v.ttl_s),
        ...(v.note?.trim() ? { note: v.note.trim() } : {}),
      });
      setCreated(made);
      reload();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  async function revoke(t: AgentToken) {
    setError('');
    try {
      await agentApi.revokeToken(tenant, t.id);
      if (created?.id === t.id) setCreated(undefined);
      reload();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  const command = enrollCommand(window.location.origin);
  return (
    <section aria-labelledby="enrol-heading" className="card section">
      <h2 id="enrol-heading">Enrolment tokens</h2>
      <p>
        A machine enrols with a token: save it in a file readable only by root, then run the command below. A
        token is for this tenant (and a site, if you pick one), for a number of machines and a limited time.
      </p>
      {created ? (
        <div className="secret-box">
          <h3>New enrolment token {created.id}</h3>
          <p>Copy it now: it is shown only this once and cannot be read again.</p>
          <Field label="Enrolment token" className="token-secret" readOnly value={created.token} />
          <div className="actions">
            <CopyButton text={created.token} label="Copy the token" />
          </div>
          <Field label="Enrol command" className="token-secret" readOnly value={command} />
          <div className="actions">
            <CopyButton text={command} label="Copy the command" />
            <button type="button" onClick={() => setCreated(undefined)}>
              Done, hide it
            </button>
          </div>
        </div>
      ) : null}
      <Message kind="error">{error}</Message>
      <form onSubmit={create} className="inline-form">
        <SelectField
          label="Site"
          name="site"
          defaultValue=""
          options={[['', 'No site'], ...sites.map((s) => [s.id, s.name] as const)]}
        />
        <Field
          label="Machines it may enrol"
          name="uses"
          type="number"
          min={1}
          max={100000}
          defaultValue={1}
        />
        <SelectField label="Valid for" name="ttl_s" defaultValue="3600" options={TTL_OPTIONS} />
        <Field label="Note (optional)" name="note" maxLength={200} />
        <button type="submit" className="primary" disabled={busy}>
          Create enrolment token
        </button>
      </form>
      {result.state === 'ok' ? (
        result.data.items.length === 0 ? (
          <p role="status">No enrolment token yet.</p>
        ) : (
          <Scrollable label="Enrolment tokens">
            <table>
              <caption className="visually-hidden">Enrolment tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Token</th>
                  <th scope="col">Uses</th>
                  <th scope="col" className="wide-only">
                    Expires
                  </th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {result.data.items.map((t) => {
                  const state = tokenState(t);
                  return (
                    <tr key={t.id}>
                      <td>
                        {t.id}
                        <div className="sub">
                          {[t.site_id ? `site ${t.site_id}` : '', t.note ?? ''].filter(Boolean).join(' · ')}
                        </div>
                      </td>
                      <td className="num">
                        {t.uses} of {t.uses_allowed}
                      </td>
                      <td className="wide-only nowrap">
                        <Time iso={t.expires_at} />
                      </td>
                      <td>
                        {state === 'valid' ? (
                          <button type="button" onClick={() => revoke(t)} aria-label={`Revoke token ${t.id}`}>
                            Revoke
                          </button>
                        ) : (
                          state
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </Scrollable>
        )
      ) : (
        <LoadState error={result.state === 'loading' ? undefined : result.message} />
      )}
    </section>
  );
}
