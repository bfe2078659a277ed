/** The first page after sign-in: who you are, the ProxyLogon response board in brief, and where to go. */
import { api } from '../api';
import { useLoad } from '../load';
import { Link } from '../router';
import { useMe } from '../session';
import { PageHeading } from '../ui';
import { boardPath, Totals } from './board-parts';

/** The advisory whose board the overview shows (a built-in pack). */
export const HOME_ADVISORY = 'proxylogon-2021-03';

export function HomePage() {
  const me = useMe();
  return (
    <main id="main">
      <PageHeading title="Overview">Welcome, {me.user.name}</PageHeading>
      <p>
        Signed in as {me.user.email} ({me.role}
        {me.tenant === null ? ', every customer' : `, customer ${me.tenant}`}).
      </p>
      {me.user.totp_enabled ? null : (
        <p className="notice">
          Two-factor sign-in is off for your account.{' '}
          <Link to="/account" className="notice-link">
            Turn it on
          </Link>{' '}
          so that a password alone cannot sign in.
        </p>
      )}
      <HomeBoard />
      <ul className="tiles">
        <li>
          <Link to="/advisories" className="tile-title">
            Advisories
          </Link>
          <span>The vulnerabilities Bulwark knows: built-in packs and imported feeds.</span>
        </li>
        <li>
          <Link to="/tenants" className="tile-title">
            Tenants
          </Link>
          <span>Customers, their sites and assets, and the findings on each asset.</span>
        </li>
        <li>
          <Link to="/jobs" className="tile-title">
            Jobs
          </Link>
          <span>Long work on the server (advisory imports and recomputes) with its progress.</span>
        </li>
        <li>
          <Link to="/account" className="tile-title">
            Your account
          </Link>
          <span>Password and two-factor sign-in.</span>
        </li>
        <li>
          <a href="/api/docs" className="tile-title">
            API documentation
          </a>
          <span>Every call of the API, to read and to try.</span>
        </li>
      </ul>
    </main>
  );
}

/**
 * The ProxyLogon board's totals over the user's customers, with the way to the whole board (which follows changes
 * live; the overview keeps no event stream open).
 */
function HomeBoard() {
  const { result } = useLoad(() => api.board(HOME_ADVISORY, { limit: 1 }), []);
  if (result.state !== 'ok') return null;
  const board = result.data;
  return (
    <section aria-labelledby="home-board" className="card section">
      <h2 id="home-board">{board.title}</h2>
      {board.totals.assets === 0 ? (
        <p>None of your customers’ assets is concerned yet: push assets, scan and hunt results to fill it.</p>
      ) : (
        <Totals counts={board.totals} />
      )}
      <p>
        <Link to={boardPath(HOME_ADVISORY)}>Open the response board</Link>: every customer, worst first.
      </p>
    </section>
  );
}
