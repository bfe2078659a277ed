/**
 * Your API tokens: the list (never the secrets), a form to create one, and revocation. A new token's secret is
 * shown once, right after it is made, with a copy button; the server keeps only its hash.
 */
import { type FormEvent, useState } from 'react';
import { api, messageOf, type TokenInfo } from '../api';
import { useLoad } from '../load';
import { useMe } from '../session';
import {
  CopyButton,
  Field,
  formValues,
  LoadState,
  Message,
  PageHeading,
  Scrollable,
  SelectField,
  Time,
} from '../ui';

const ROLE_RANK: Record<string, number> = { read_only: 1, customer: 1, technician: 2, admin: 3 };
const ROLE_TEXT: Record<string, string> = {
  read_only: 'Read only',
  technician: 'Technician',
  admin: 'Administrator',
  customer: 'Customer',
};

export function TokensPage() {
  const me = useMe();
  const { result, reload } = useLoad(() => api.tokens(), []);
  const [secret, setSecret] = useState<{ token: string; info: TokenInfo }>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // A token's role is at most yours; a customer's tokens are customer tokens of their tenant.
  const roles =
    me.role === 'customer'
      ? (['customer'] as const)
      : (['read_only', 'technician', 'admin'] as const).filter(
          (r) => (ROLE_RANK[r] ?? 0) <= (ROLE_RANK[me.role] ?? 0),
        );

  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const v = formValues(form);
    setError('');
    setBusy(true);
    try {
      const days = v.expires_in_days ? Number(v.expires_in_days) : undefined;
      const created = await api.createToken({
        name: v.name ?? '',
        role: (v.role || me.role) as (typeof roles)[number],
        ...(v.tenant_id ? { tenant_id: v.tenant_id } : {}),
        ...(days !== undefined ? { expires_in_days: days } : {}),
      });
      form.reset();
      setSecret(created);
      reload();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  async function revoke(t: TokenInfo) {
    if (!window.confirm(`Revoke the token “${t.name}”? Programs that use it stop working at once.`)) return;
    setError('');
    try {
      await api.revokeToken(t.id);
      if (secret?.info.id === t.id) setSecret(undefined);
      reload();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  return (
    <main id="main">
      <PageHeading title="API tokens">API tokens</PageHeading>
      <p>Tokens let programs (the CLI’s --push, scripts) call the API as you, with at most your role.</p>
      {secret ? (
        <section aria-labelledby="secret-heading" className="card section secret-box">
          <h2 id="secret-heading">New token “{secret.info.name}”</h2>
          <p>Copy it now: it is shown only this once and cannot be read again.</p>
          <Field label="Token secret" className="token-secret" readOnly value={secret.token} />
          <div className="actions">
            <CopyButton text={secret.token} label="Copy the token" />
            <button type="button" onClick={() => setSecret(undefined)}>
              Done, hide it
            </button>
          </div>
        </section>
      ) : null}
      <Message kind="error">{error}</Message>
      {result.state === 'ok' ? (
        result.data.length === 0 ? (
          <p role="status">You have no API tokens.</p>
        ) : (
          <Scrollable label="Your API tokens">
            <table>
              <caption className="visually-hidden">Your API tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col" className="wide-only">
                    Created
                  </th>
                  <th scope="col" className="wide-only">
                    Last used
                  </th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {result.data.map((t) => (
                  <tr key={t.id}>
                    <td>{t.name}</td>
                    <td>
                      {ROLE_TEXT[t.role] ?? t.role}
                      {t.tenant_id ? <div className="sub">tenant {t.tenant_id}</div> : null}
                    </td>
                    <td className="wide-only nowrap">
                      <Time iso={t.created_at} />
                    </td>
                    <td className="wide-only nowrap">
                      <Time iso={t.last_used_at} />
                    </td>
                    <td>
                      {t.revoked_at ? (
                        <>
                          revoked <Time iso={t.revoked_at} />
                        </>
                      ) : t.expires_at && Date.parse(t.expires_at) < Date.now() ? (
                        'expired'
                      ) : (
                        <button type="button" onClick={() => revoke(t)} aria-label={`Revoke ${t.name}`}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scrollable>
        )
      ) : (
        <LoadState error={result.state === 'loading' ? undefined : result.message} />
      )}
      <section aria-labelledby="new-token" className="card section">
        <h2 id="new-token">New token</h2>
        <form onSubmit={create}>
          <Field
            label="Token name"
            hint="Where it is used, e.g. scanner on host X."
            name="name"
            required
            maxLength={200}
          />
          <SelectField
            label="Role"
            name="role"
            options={roles.map((r) => [r, ROLE_TEXT[r] ?? r] as const)}
            defaultValue={roles[0]}
          />
          {me.tenant === null ? (
            <Field
              label="Only for tenant (optional)"
              hint="Leave empty for every customer."
              name="tenant_id"
              maxLength={128}
            />
          ) : null}
          <Field
            label="Expires after days (optional)"
            name="expires_in_days"
            type="number"
            min={1}
            max={3650}
            inputMode="numeric"
          />
          <button type="submit" className="primary" disabled={busy}>
            Create token
          </button>
        </form>
      </section>
    </main>
  );
}
