// The signed-in person: their own token (kept for this tab only) and what it says about
// them. The console never holds a secret: in development the gateway mints the token
// (/console/dev-sign-in); otherwise it is pasted from the chain's identity provider.

import { MaitreClient, errorOf } from "@maitre/client";
import { refresh as refreshSignIn } from "./oidc";

export interface Identity {
  role: "hq_admin" | "store_manager" | "customer_manager" | "front_desk";
  staff: string;
  chain: string;
  stores: string[];
}

export interface Session extends Identity {
  token: string;
  /** Development sign-ins can be renewed with the same request. */
  dev: boolean;
  /** Identity-provider sign-ins: renewed with the refresh token, when there is one. */
  refreshToken?: string;
  tokenEndpoint?: string;
  clientId?: string;
}

const KEY = "maitre.session";

export function load(): Session | undefined {
  const text = sessionStorage.getItem(KEY);
  return text ? (JSON.parse(text) as Session) : undefined;
}

export function save(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}

/** The claims of a JWT (read, not verified: the gateway verifies). */
export function identityOf(token: string): Identity {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes));
  return { role: claims.role, staff: claims.sub, chain: claims.chain, stores: claims.stores ?? [] };
}

/** Asks the gateway's development sign-in for a token. */
export async function devSignIn(identity: Omit<Identity, "chain"> & { chain?: string }): Promise<Session> {
  const response = await fetch("/console/dev-sign-in", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ role: identity.role, staff: identity.staff, stores: identity.stores, chain: identity.chain ?? "" }),
  });
  if (!response.ok) throw await errorOf(response);
  const { token } = (await response.json()) as { token: string };
  return { ...identityOf(token), token, dev: true };
}

/** The API client for `session`, renewing development tokens when they expire. */
export function clientFor(session: Session, onSignedOut: () => void): MaitreClient {
  return new MaitreClient({
    token: () => session.token,
    onUnauthorized: async () => {
      const fresh = session.dev
        ? await devSignIn(session)
        : session.clientId
          ? await refreshSignIn(session, session.clientId).catch(() => undefined)
          : undefined;
      if (!fresh) {
        onSignedOut();
        return undefined;
      }
      Object.assign(session, { token: fresh.token, refreshToken: fresh.refreshToken ?? session.refreshToken });
      save(session);
      return fresh.token;
    },
  });
}
