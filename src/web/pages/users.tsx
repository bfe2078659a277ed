/** Users (administrators only): the list, 50 to a page, and a form to create an operator or a customer user. */
import { type FormEvent, useState } from 'react';
import { api, messageOf, withQuery } from '../api';
import { useLoad } from '../load';
import { useLocation } from '../router';
import {
  Field,
  formValues,
  LoadState,
  Message,
  offsetParam,
  PageHeading,
  Pager,
  rangeText,
  Scrollable,
  SelectField,
  Time,
} from '../ui';

const PAGE_SIZE = 50;
const href = (offset: number) => withQuery('/users', { offset: offset > 0 ? offset : undefined });

export const ROLE_OPTIONS = [
  ['read_only', 'Read only (every customer)'],
  ['technician', 'Technician (every customer)'],
  ['admin', 'Administrator'],
  ['customer', 'Customer user (one tenant)'],
] as const;

export function UsersPage() {
  const { query } = useLocation();
  const offset = offsetParam(query);
  const { result, reload } = useLoad(() => api.users({ limit: PAGE_SIZE, offset }), [offset]);
  return (
    <main id="main">
      <PageHeading title="Users">Users</PageHeading>
      {result.state === 'ok' ? (
        <>
          <p role="status" className="count">
            {rangeText(result.data.offset, result.data.items.length, result.data.total)}
          </p>
          <Scrollable label="Users">
            <table>
              <caption className="visually-hidden">Users</caption>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col" className="wide-only">
                    Two-factor
                  </th>
                  <th scope="col" className="wide-only">
                    Created
                  </th>
                </tr>
              </thead>
              <tbody>
                {result.data.items.map((u) => (
                  <tr key={u.id}>
                    <td>
                      {u.email}
                      {u.disabled ? <span className="tag">disabled</span> : null}
                    </td>
                    <td>{u.name}</td>
                    <td>
                      {u.role.replace('_', ' ')}
                      {u.tenant_id ? <div className="sub">tenant {u.tenant_id}</div> : null}
                    </td>
                    <td className="wide-only">{u.totp_enabled ? 'on' : 'off'}</td>
                    <td className="wide-only nowrap">
                      <Time iso={u.created_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scrollable>
          <Pager
            label="Pages of users"
            previous={offset > 0 ? href(Math.max(0, offset - PAGE_SIZE)) : undefined}
            next={
              offset + result.data.items.length < result.data.total ? href(offset + PAGE_SIZE) : undefined
            }
          />
        </>
      ) : (
        <LoadState error={result.state === 'loading' ? undefined : result.message} />
      )}
      <CreateUser created={reload} />
    </main>
  );
}

function CreateUser({ created }: { created: () => void }) {
  const [role, setRole] = useState('read_only');
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const v = formValues(form);
    setError('');
    setDone('');
    setBusy(true);
    try {
      const u = await api.createUser({
        email: v.email ?? '',
        name: v.name ?? '',
        password: v.password ?? '',
        role: (v.role ?? 'read_only') as (typeof ROLE_OPTIONS)[number][0],
        ...(v.role === 'customer' ? { tenant_id: v.tenant_id ?? '' } : {}),
      });
      form.reset();
      setRole('read_only');
      setDone(`User ${u.email} created.`);
      created();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="new-user" className="card section">
      <h2 id="new-user">New user</h2>
      <form onSubmit={submit}>
        <Field label="Email" name="email" type="email" required maxLength={254} autoComplete="off" />
        <Field label="Name" name="name" required maxLength={200} autoComplete="off" />
        <Field
          label="Initial password"
          hint="12 characters or more; give it to the user on a separate channel."
          name="password"
          type="password"
          required
          minLength={12}
          autoComplete="new-password"
        />
        <SelectField
          label="Role"
          name="role"
          options={ROLE_OPTIONS}
          value={role}
          onChange={(e) => setRole(e.currentTarget.value)}
        />
        {role === 'customer' ? <Field label="Tenant id" name="tenant_id" required maxLength={128} /> : null}
        <Message kind="error">{error}</Message>
        <Message kind="ok">{done}</Message>
        <button type="submit" className="primary" disabled={busy}>
          Create user
        </button>
      </form>
    </section>
  );
}
