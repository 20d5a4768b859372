// Sign-in through the chain's identity provider: OpenID Connect authorization code with
// PKCE (RFC 7636) as a public client — the console holds no secret. The verifier and state
// live in this tab's sessionStorage between the redirect out and the redirect back.

import { identityOf, type Session } from "./session";

export interface OidcSettings {
  issuer: string;
  clientId: string;
  scope: string;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

const PENDING = "maitre.oidc.pending";

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function discover(settings: OidcSettings): Promise<Discovery> {
  const response = await fetch(`${settings.issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`${settings.issuer}: discovery answered HTTP ${response.status}`);
  return (await response.json()) as Discovery;
}

function redirectUri(): string {
  return `${location.origin}/console/`;
}

/** Leaves for the identity provider's sign-in page. */
export async function startSignIn(settings: OidcSettings): Promise<void> {
  const discovery = await discover(settings);
  const verifier = random(48);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, tokenEndpoint: discovery.token_endpoint }));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: settings.clientId,
    redirect_uri: redirectUri(),
    scope: settings.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/**
 * Completes a sign-in when the page is the identity provider's redirect back (`?code&state`):
 * exchanges the code for tokens and returns the session; `undefined` when this is no redirect.
 */
export async function completeSignIn(settings: OidcSettings): Promise<Session | undefined> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const error = params.get("error");
  if (!code && !error) return undefined;
  history.replaceState(null, "", redirectUri());
  if (error) throw new Error(`${error}: ${params.get("error_description") ?? ""}`);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null") as { verifier: string; state: string; tokenEndpoint: string } | null;
  sessionStorage.removeItem(PENDING);
  if (!pending || pending.state !== params.get("state")) throw new Error("state: the sign-in answer does not match the sign-in started here");
  const tokens = await exchange(pending.tokenEndpoint, {
    grant_type: "authorization_code",
    code: code!,
    redirect_uri: redirectUri(),
    client_id: settings.clientId,
    code_verifier: pending.verifier,
  });
  return sessionOf(tokens, pending.tokenEndpoint, settings.clientId);
}

interface Tokens {
  access_token: string;
  refresh_token?: string;
}

async function exchange(endpoint: string, form: Record<string, string>): Promise<Tokens> {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) throw new Error(`token: ${body.error ?? response.status} ${body.error_description ?? ""}`.trim());
  return body as Tokens;
}

function sessionOf(tokens: Tokens, tokenEndpoint: string, clientId: string): Session {
  return { ...identityOf(tokens.access_token), token: tokens.access_token, dev: false, refreshToken: tokens.refresh_token, tokenEndpoint, clientId };
}

/** A fresh access token from the refresh token, when the provider gave one. */
export async function refresh(session: Session, clientId: string): Promise<Session | undefined> {
  if (!session.refreshToken || !session.tokenEndpoint) return undefined;
  const tokens = await exchange(session.tokenEndpoint, { grant_type: "refresh_token", refresh_token: session.refreshToken, client_id: clientId });
  return sessionOf({ refresh_token: session.refreshToken, ...tokens }, session.tokenEndpoint, clientId);
}
