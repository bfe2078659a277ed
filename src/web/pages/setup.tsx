/**
 * First run: create the administrator with the one-time setup token that `bulwark serve` prints. The printed link
 * carries the token in the URL fragment (/setup#token=…), which browsers never send to the server nor put in
 * logs or Referer headers; the page copies it into the form and removes it from the address bar once the
 * administrator exists.
 */
import { type FormEvent, useState } from 'react';
import { api, messageOf } from '../api';
import { navigate } from '../router';
import { rememberEmail } from '../session';
import { Field, formValues, Message, PageHeading } from '../ui';

function tokenFromFragment(): string {
  const m = /[#&]token=([^&]+)/.exec(window.location.hash);
  if (!m) return '';
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return '';
  }
}

export function SetupPage() {
  const [token] = useState(tokenFromFragment);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const v = formValues(e.currentTarget);
    if (v.password !== v.password2) {
      setError('The two passwords differ; type the same password twice.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      const user = await api.setup({
        token: v.token ?? '',
        email: v.email ?? '',
        name: v.name ?? '',
        password: v.password ?? '',
      });
      rememberEmail(user.email);
      navigate('/sign-in?notice=setup-done', { replace: true });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="narrow">
      <PageHeading title="First administrator">Create the first administrator</PageHeading>
      <p>
        Use the setup link or token that <code>bulwark serve</code> printed when it first started. The token
        works once, for this run of the server.
      </p>
      <form onSubmit={submit} aria-describedby="setup-error">
        <Field
          label="Setup token"
          name="token"
          defaultValue={token}
          required
          autoComplete="off"
          spellCheck={false}
        />
        <Field label="Email" name="email" type="email" required autoComplete="username" />
        <Field label="Name" name="name" required autoComplete="name" />
        <Field
          label="Password"
          hint="12 characters or more; a passphrase of several words is easy to type and hard to guess."
          name="password"
          type="password"
          minLength={12}
          required
          autoComplete="new-password"
        />
        <Field
          label="Password again"
          name="password2"
          type="password"
          minLength={12}
          required
          autoComplete="new-password"
        />
        <div id="setup-error">
          <Message kind="error">{error}</Message>
        </div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create administrator'}
        </button>
      </form>
    </main>
  );
}
