/**
 * The Bulwark console: the session, the page for each URL, and the frame around the pages behind sign-in
 * (header with navigation, your account, sign-out).
 */
import { type JSX, type ReactNode, StrictMode, useCallback, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { api, messageOf, onSessionExpired } from './api';
import { AccountPage } from './pages/account';
import { AdvisoriesPage } from './pages/advisories';
import { HomePage } from './pages/home';
import { NotFoundPage } from './pages/not-found';
import { SetupPage } from './pages/setup';
import { SignInPage } from './pages/sign-in';
import { Link, navigate, useLocation } from './router';
import {
  rememberEmail,
  type SessionApi,
  SessionContext,
  type SessionState,
  type SignInNotice,
  useSession,
} from './session';
import { Message } from './ui';

/** Pages anyone may open; every other page needs a session. */
const PUBLIC_PAGES: Record<string, () => JSX.Element> = {
  '/setup': SetupPage,
  '/sign-in': SignInPage,
};

const isPublicPath = (path: string) => Object.hasOwn(PUBLIC_PAGES, path);

/** Pages behind sign-in, in navigation order; `nav` names them in the header. */
const PAGES: { path: string; nav?: string; page: () => JSX.Element }[] = [
  { path: '/', nav: 'Overview', page: HomePage },
  { path: '/advisories', nav: 'Advisories', page: AdvisoriesPage },
  { path: '/account', page: AccountPage },
];

function signInUrl(notice: SignInNotice | undefined, next: string | undefined): string {
  const params = new URLSearchParams();
  if (notice) params.set('notice', notice);
  if (next && next !== '/') params.set('next', next);
  const s = params.toString();
  return s ? `/sign-in?${s}` : '/sign-in';
}

function App() {
  const { path, href } = useLocation();
  const [state, setState] = useState<SessionState>({ status: 'unknown' });
  const [loadError, setLoadError] = useState('');

  const refresh = useCallback(async () => {
    const me = await api.me();
    setState(me ? { status: 'signed-in', me } : { status: 'signed-out' });
  }, []);

  const ended = useCallback((notice: SignInNotice) => {
    setState({ status: 'signed-out' });
    const here = window.location.pathname + window.location.search;
    const keep = notice === 'expired' && !isPublicPath(window.location.pathname) ? here : undefined;
    navigate(signInUrl(notice, keep), { replace: notice === 'expired' });
  }, []);

  const session = useMemo<SessionApi>(
    () => ({
      state,
      refresh,
      ended,
      async signOut() {
        if (state.status === 'signed-in') rememberEmail(state.me.user.email);
        try {
          await api.signOut();
        } finally {
          ended('signed-out');
        }
      },
    }),
    [state, refresh, ended],
  );

  useEffect(() => onSessionExpired(() => ended('expired')), [ended]);

  const isPublic = isPublicPath(path);
  // The session is asked for once, on the first page that needs it; the public pages do not ask.
  useEffect(() => {
    if (isPublic || state.status !== 'unknown') return;
    setState({ status: 'loading' });
    refresh().catch((err) => {
      setLoadError(messageOf(err));
      setState({ status: 'unknown' });
    });
  }, [isPublic, state.status, refresh]);

  useEffect(() => {
    if (!isPublic && state.status === 'signed-out') navigate(signInUrl(undefined, href), { replace: true });
  }, [isPublic, state.status, href]);

  let body: JSX.Element;
  const Public = isPublic ? PUBLIC_PAGES[path] : undefined;
  if (Public) {
    body = <Public />;
  } else if (state.status === 'signed-in') {
    const Page = PAGES.find((p) => p.path === path)?.page ?? NotFoundPage;
    body = (
      <Shell path={path}>
        <Page />
      </Shell>
    );
  } else {
    body = (
      <main id="main" className="narrow">
        {loadError ? (
          <Message kind="error">The console cannot reach the server: {loadError}</Message>
        ) : (
          <p role="status">Loading…</p>
        )}
      </main>
    );
  }
  return <SessionContext.Provider value={session}>{body}</SessionContext.Provider>;
}

function Shell({ path, children }: { path: string; children: ReactNode }) {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          Bulwark
        </Link>
        <nav aria-label="Sections">
          <ul>
            {PAGES.filter((p) => p.nav).map((p) => (
              <li key={p.path}>
                <Link to={p.path} aria-current={p.path === path ? 'page' : undefined}>
                  {p.nav}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <UserMenu path={path} />
      </header>
      {children}
    </>
  );
}

function UserMenu({ path }: { path: string }) {
  const { state, signOut } = useSession();
  const [busy, setBusy] = useState(false);
  if (state.status !== 'signed-in') return null;
  return (
    <div className="user">
      <Link to="/account" aria-current={path === '/account' ? 'page' : undefined} title="Your account">
        {state.me.user.email}
      </Link>
      <button
        type="button"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          signOut().finally(() => setBusy(false));
        }}
      >
        Sign out
      </button>
    </div>
  );
}

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
