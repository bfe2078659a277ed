/** Your account: change the password, and turn on two-factor sign-in with an authenticator app. */
import { type FormEvent, useState } from 'react';
import { api, messageOf } from '../api';
import { QrCode } from '../qr';
import { useMe, useSession } from '../session';
import { Field, formValues, Message, PageHeading } from '../ui';

export function AccountPage() {
  const me = useMe();
  return (
    <main id="main">
      <PageHeading title="Account">Your account</PageHeading>
      <dl className="facts">
        <dt>Name</dt>
        <dd>{me.user.name}</dd>
        <dt>Email</dt>
        <dd>{me.user.email}</dd>
        <dt>Role</dt>
        <dd>{me.role}</dd>
        <dt>Customers</dt>
        <dd>{me.tenant === null ? 'all' : me.tenant}</dd>
      </dl>
      <div className="columns">
        <PasswordSection />
        <TotpSection />
      </div>
    </main>
  );
}

function PasswordSection() {
  const session = useSession();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const v = formValues(e.currentTarget);
    if (v.new_password !== v.new_password2) {
      setError('The two new passwords differ; type the same password twice.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      await api.changePassword({
        current_password: v.current_password ?? '',
        new_password: v.new_password ?? '',
      });
      session.ended('password-changed');
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="password-heading" className="card">
      <h2 id="password-heading">Password</h2>
      <p>Changing the password signs you out everywhere, this browser included.</p>
      <form onSubmit={submit}>
        <Field
          label="Current password"
          name="current_password"
          type="password"
          required
          autoComplete="current-password"
        />
        <Field
          label="New password"
          hint="12 characters or more."
          name="new_password"
          type="password"
          minLength={12}
          required
          autoComplete="new-password"
        />
        <Field
          label="New password again"
          name="new_password2"
          type="password"
          minLength={12}
          required
          autoComplete="new-password"
        />
        <Message kind="error">{error}</Message>
        <button type="submit" disabled={busy}>
          {busy ? 'Changing…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}

function TotpSection() {
  const me = useMe();
  const session = useSession();
  const [enrolment, setEnrolment] = useState<{ secret: string; uri: string }>();
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);

  async function start() {
    setBusy(true);
    setError('');
    try {
      setEnrolment(await api.startTotp());
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  async function confirm(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const code = (formValues(e.currentTarget).code ?? '').replace(/\s+/g, '');
    setBusy(true);
    setError('');
    try {
      await api.confirmTotp(code);
      setEnrolment(undefined);
      setDone('Two-factor sign-in is on. From now on, sign-in asks for a code from your app.');
      await session.refresh();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="totp-heading" className="card">
      <h2 id="totp-heading">Two-factor sign-in</h2>
      <Message kind="ok">{done}</Message>
      {me.user.totp_enabled ? (
        done ? null : (
          <p>
            <strong>On.</strong> Sign-in asks for a code from your authenticator app.
          </p>
        )
      ) : enrolment ? (
        <>
          <ol className="steps">
            <li>Scan this code with an authenticator app, or type the key below into it.</li>
            <li>Enter the six-digit code the app shows, to confirm.</li>
          </ol>
          <QrCode text={enrolment.uri} label="QR code of the two-factor key for your authenticator app" />
          <p>
            Key: <code className="secret">{enrolment.secret.replace(/(.{4})/g, '$1 ').trim()}</code>
          </p>
          <form onSubmit={confirm}>
            <Field
              label="Code from the app"
              name="code"
              inputMode="numeric"
              pattern="[0-9 ]{6,7}"
              maxLength={7}
              required
              autoComplete="one-time-code"
            />
            <Message kind="error">{error}</Message>
            <button type="submit" className="primary" disabled={busy}>
              Turn on two-factor sign-in
            </button>
          </form>
        </>
      ) : (
        <>
          <p>
            <strong>Off.</strong> With it on, a stolen password alone cannot sign in: sign-in also asks for a
            code from an app on your phone.
          </p>
          <Message kind="error">{error}</Message>
          <button type="button" className="primary" onClick={start} disabled={busy}>
            Set up two-factor sign-in
          </button>
        </>
      )}
    </section>
  );
}
