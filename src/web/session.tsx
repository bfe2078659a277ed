/** Who is signed in, shared by every page: loaded from GET /api/v1/me, set by sign-in, cleared by sign-out. */
import { createContext, useContext } from 'react';
import type { Me } from './api';

export type SessionState =
  | { status: 'unknown' }
  | { status: 'loading' }
  | { status: 'signed-out' }
  | { status: 'signed-in'; me: Me };

export interface SessionApi {
  state: SessionState;
  /** Reads the session again from the server (after sign-in, enrolment, …). */
  refresh(): Promise<void>;
  signOut(): Promise<void>;
  /** Forgets the session locally (the server already ended it) and goes to sign-in with a notice. */
  ended(reason: SignInNotice): void;
}

/** Why the sign-in page is shown; each has a fixed text there. */
export type SignInNotice = 'signed-out' | 'expired' | 'password-changed' | 'setup-done';

export const SessionContext = createContext<SessionApi | undefined>(undefined);

export function useSession(): SessionApi {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside the session provider');
  return s;
}

/** The signed-in user; pages behind sign-in only render once the session is known. */
export function useMe(): Me {
  const { state } = useSession();
  if (state.status !== 'signed-in') throw new Error('useMe on a page that does not need sign-in');
  return state.me;
}

/** The email of the account just created or signed out, to fill in the sign-in form (kept in memory only). */
let rememberedEmail = '';
export const rememberEmail = (email: string) => {
  rememberedEmail = email;
};
export const rememberedSignInEmail = () => rememberedEmail;

/**
 * What the signed-in principal may do, as the server decides it: the `permissions` of GET /api/v1/me, the ones
 * every route checks. The console only hides controls the API would refuse.
 */
export const canWrite = (me: Me) => me.permissions.includes('write');
export const isAdmin = (me: Me) => me.permissions.includes('admin');
