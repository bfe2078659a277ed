/** Sign-in with email and password, and the six-digit code of an authenticator app when two-factor sign-in is on. */
import { type FormEvent, useRef, useState } from 'react';
import { ApiError, api, messageOf } from '../api';
import { navigate, sameOriginPath, useLocation } from '../router';
import { rememberEmail, rememberedSignInEmail, type SignInNotice, useSession } from '../session';
import { Field, formValues, Message, PageHeading } from '../ui';

const NOTICES: Record<SignInNotice, string> = {
  'signed-out': 'You are signed out.',
  expired: 'Your session ended. Sign in again to go on.',
  'password-changed':
    'Your password is changed and every session of yours has ended. Sign in with the new one.',
  'setup-done': 'The administrator account is ready. Sign in with it.',
};

export function SignInPage() {
  const { query } = useLocation();
  const session = useSession();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const codeRef = useRef<HTMLInputElement>(null);
  const notice = NOTICES[query.get('notice') as SignInNotice] ?? '';
  const next = sameOriginPath(query.get('next') ?? '/') ?? '/';

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const v = formValues(e.currentTarget);
    const code = (v.code ?? '').replace(/\s+/g, '');
    setBusy(true);
    setError('');
    try {
      const user = await api.signIn({
        email: v.email ?? '',
        password: v.password ?? '',
        ...(code ? { code } : {}),
      });
      rememberEmail(user.email);
      await session.refresh();
      navigate(next.startsWith('/sign-in') || next.startsWith('/setup') ? '/' : next, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'totp_required' || err.code === 'bad_totp')) {
        setError(
          err.code === 'totp_required'
            ? 'This account has two-factor sign-in: enter the six-digit code from your authenticator app.'
            : 'The code is wrong or was already used; wait for the next code and try again.',
        );
        codeRef.current?.focus();
      } else {
        setError(messageOf(err));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="narrow">
      <PageHeading title="Sign in">Sign in to Bulwark</PageHeading>
      <Message kind="info">{notice}</Message>
      <form onSubmit={submit}>
        <Field
          label="Email"
          name="email"
          type="email"
          required
          autoComplete="username"
          defaultValue={rememberedSignInEmail()}
        />
        <Field label="Password" name="password" type="password" required autoComplete="current-password" />
        <Field
          ref={codeRef}
          label="Authentication code"
          hint="Only when two-factor sign-in is on: the six digits your authenticator app shows."
          name="code"
          inputMode="numeric"
          pattern="[0-9 ]{6,7}"
          maxLength={7}
          autoComplete="one-time-code"
        />
        <Message kind="error">{error}</Message>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
