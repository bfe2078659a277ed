/**
 * The Bulwark console: the session, the page for each URL, and the frame around the pages behind sign-in
 * (header with navigation, your account, sign-out).
 */
import { type JSX, type ReactNode, StrictMode, useCallback, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { Me } from './api';
import { api, messageOf, onSessionExpired } from './api';
import { endLive } from './live';
import { AccountPage } from './pages/account';
import { AdvisoriesPage } from './pages/advisories';
import { AdvisoryPage } from './pages/advisory';
import { AgentPage } from './pages/agent';
import { AgentsPage } from './pages/agents';
import { AssetPage } from './pages/asset';
import { AssetsPage } from './pages/assets';
import { AuditPage } from './pages/audit';
import { BoardPage } from './pages/board';
import { BoardTenantPage } from './pages/board-tenant';
import { HomePage } from './pages/home';
import { JobPage, JobsPage } from './pages/jobs';
import { NotFoundPage } from './pages/not-found';
import { SetupPage } from './pages/setup';
import { SignInPage } from './pages/sign-in';
import { TenantPage } from './pages/tenant';
import { TenantsPage } from './pages/tenants';
import { TokensPage } from './pages/tokens';
import { UsersPage } from './pages/users';
import { Link, matchPath, navigate, useLocation } from './router';
import {
  isAdmin,
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

type PageProps = { params: Record<string, string> };

/**
 * Pages behind sign-in, in navigation order; `nav` names them in the header, `admin` keeps administrator pages out
 * of other users' navigation (the API refuses them their data anyway). `:name` in a path is a parameter.
 */
const PAGES: { path: string; nav?: string; admin?: boolean; page: (props: PageProps) => JSX.Element }[] = [
  { path: '/', nav: 'Overview', page: HomePage },
  { path: '/advisories', nav: 'Advisories', page: AdvisoriesPage },
  { path: '/advisories/:advisory', page: AdvisoryPage },
  { path: '/advisories/:advisory/board', page: BoardPage },
  { path: '/advisories/:advisory/board/:tenant', page: BoardTenantPage },
  { path: '/tenants', nav: 'Tenants', page: TenantsPage },
  { path: '/tenants/:tenant', page: TenantPage },
  { path: '/tenants/:tenant/assets', page: AssetsPage },
  { path: '/tenants/:tenant/assets/:asset', page: AssetPage },
  { path: '/tenants/:tenant/agents', page: AgentsPage },
  { path: '/tenants/:tenant/agents/:agent', page: AgentPage },
  { path: '/jobs', nav: 'Jobs', page: JobsPage },
  { path: '/jobs/:id', page: JobPage },
  { path: '/audit', nav: 'Audit log', admin: true, page: AuditPage },
  { path: '/users', nav: 'Users', admin: true, page: UsersPage },
  { path: '/tokens', nav: 'API tokens', page: TokensPage },
  { path: '/account', page: AccountPage },
];

/** The page for `path` with its parameters; undefined when no page has that shape. */
function pageFor(
  path: string,
): { page: (props: PageProps) => JSX.Element; params: Record<string, string> } | undefined {
  for (const p of PAGES) {
    const params = matchPath(p.path, path);
    if (params) return { page: p.page, params };
  }
  return undefined;
}

/** The sections a user's navigation shows. */
const navFor = (me: Me) => PAGES.filter((p) => p.nav && (!p.admin || isAdmin(me)));

/** Whether `path` lies in the section at `section` (`/tenants/acme` in Tenants; `/` only itself). */
const inSection = (section: string, path: string) =>
  path === section || (section !== '/' && path.startsWith(`${section}/`));

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
    endLive();
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
    const found = pageFor(path);
    const Page = found?.page ?? NotFoundPage;
    body = (
      <Shell path={path} me={state.me}>
        {/* A new page for each path: no state of one tenant's or asset's page carries over to the next. */}
        <Page key={path} params={found?.params ?? {}} />
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

function Shell({ path, me, children }: { path: string; me: Me; children: ReactNode }) {
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
            {navFor(me).map((p) => (
              <li key={p.path}>
                <Link
                  to={p.path}
                  aria-current={p.path === path ? 'page' : inSection(p.path, path) ? 'location' : undefined}
                >
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
