// The runtime of the typed client: one `call` that fills the path template, the query and
// the body of an operation from OPERATIONS, attaches the caller's token, retries once after
// a token refresh, and turns the gateway's JSON error body into a MaitreError.

import { OPERATIONS, type OperationId, type Operations } from "./generated.js";

/** What a request of operation `K` carries (each part only when the operation has one). */
export type RequestOf<K extends OperationId> = ([Operations[K]["path"]] extends [never]
  ? { path?: undefined }
  : { path: Operations[K]["path"] }) &
  ([Operations[K]["query"]] extends [never] ? { query?: undefined } : { query?: Operations[K]["query"] }) &
  ([Operations[K]["body"]] extends [never] ? { body?: undefined } : { body: Operations[K]["body"] });

export type ResponseOf<K extends OperationId> = Operations[K]["response"];

/** Supplies the bearer token (sync or async), e.g. from your sign-in state. */
export type TokenSource = string | (() => string | Promise<string>);

export interface ClientOptions {
  /** The gateway, e.g. `https://api.chain.example`; empty for the same origin (browsers). */
  baseUrl?: string;
  /** The caller's own token. */
  token: TokenSource;
  /**
   * Called once when the gateway answers 401 (expired or revoked token); return a fresh
   * token to retry the request with it, or `undefined` to give up with the 401.
   */
  onUnauthorized?: () => Promise<string | undefined>;
  /** A `fetch` to use (tests, proxies); the global one by default. */
  fetch?: typeof fetch;
}

/** The gateway's error body, with the HTTP status and the request id to quote in support. */
export class MaitreError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** gRPC code name: `INVALID_ARGUMENT`, `NOT_FOUND`, `PERMISSION_DENIED`, … */
  readonly code: string;
  /** The field the error concerns (proto path, e.g. `event.amount`), when known. */
  readonly field?: string;
  /** `x-request-id` of the failed request. */
  readonly requestId?: string;
  /** What is wrong, without the field name in front (for showing beside the field). */
  readonly detail: string;

  constructor(status: number, code: string, message: string, field?: string, requestId?: string) {
    // The gateway may already start the message with the field; keep it once.
    let detail = message;
    while (field && detail.startsWith(`${field}: `)) detail = detail.slice(field.length + 2);
    super(field ? `${field}: ${detail}` : detail);
    this.detail = detail;
    this.name = "MaitreError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.requestId = requestId;
  }
}

export class MaitreClient {
  readonly baseUrl: string;
  private tokenSource: TokenSource;
  private readonly onUnauthorized?: () => Promise<string | undefined>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\/+$/, "");
    this.tokenSource = options.token;
    this.onUnauthorized = options.onUnauthorized;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The current token. */
  async token(): Promise<string> {
    return typeof this.tokenSource === "function" ? await this.tokenSource() : this.tokenSource;
  }

  /** Replaces the token (after a sign-in or refresh). */
  setToken(token: TokenSource): void {
    this.tokenSource = token;
  }

  /** Asks the `onUnauthorized` hook for a fresh token; true when it gave one. */
  readonly refresh = async (): Promise<boolean> => {
    if (!this.onUnauthorized) return false;
    const fresh = await this.onUnauthorized();
    if (!fresh) return false;
    this.tokenSource = fresh;
    return true;
  };

  /** The URL of operation `id` for `request` (path template filled, query encoded). */
  url<K extends OperationId>(id: K, request: RequestOf<K>): string {
    const spec = OPERATIONS[id];
    const values = (request.path ?? {}) as Record<string, unknown>;
    let path: string = spec.path;
    for (const name of spec.pathParams as readonly string[]) {
      const value = values[name];
      if (value === undefined || value === null || value === "") {
        throw new MaitreError(0, "INVALID_ARGUMENT", "is required in the path", name);
      }
      path = path.replace(`{${name}}`, encodeURIComponent(String(value)));
    }
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
      if (value === undefined || value === null || value === "") continue;
      for (const item of Array.isArray(value) ? value : [value]) query.append(key, String(item));
    }
    const text = query.toString();
    return `${this.baseUrl}${path}${text ? `?${text}` : ""}`;
  }

  /** Calls operation `id`. Throws MaitreError on any non-2xx answer. */
  async call<K extends OperationId>(id: K, request: RequestOf<K>, init?: { signal?: AbortSignal }): Promise<ResponseOf<K>> {
    const spec = OPERATIONS[id];
    const url = this.url(id, request);
    const send = async (token: string) =>
      this.fetchImpl(url, {
        method: spec.method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/json",
          ...(spec.hasBody ? { "content-type": "application/json" } : {}),
        },
        body: spec.hasBody ? JSON.stringify(request.body ?? {}) : undefined,
        signal: init?.signal,
      });
    let response = await send(await this.token());
    if (response.status === 401 && (await this.refresh())) {
      response = await send(await this.token());
    }
    if (!response.ok) throw await errorOf(response);
    const text = await response.text();
    return (text ? JSON.parse(text) : {}) as ResponseOf<K>;
  }

  /** Typed shortcuts: `client.op.Profile_GetCustomer({ path: { customer_id } })`. */
  readonly op: { [K in OperationId]: (request: RequestOf<K>) => Promise<ResponseOf<K>> } = new Proxy(
    {} as { [K in OperationId]: (request: RequestOf<K>) => Promise<ResponseOf<K>> },
    {
      get: (_, id: string) => {
        if (!(id in OPERATIONS)) return undefined;
        return (request: RequestOf<OperationId>) => this.call(id as OperationId, request as never);
      },
    },
  );
}

/** A MaitreError from a failed response (JSON error body when there is one). */
export async function errorOf(response: Response): Promise<MaitreError> {
  const requestId = response.headers.get("x-request-id") ?? undefined;
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { code?: string; message?: string; field?: string };
    if (body && typeof body.code === "string") {
      return new MaitreError(response.status, body.code, body.message ?? "", body.field, requestId);
    }
  } catch {
    // Not JSON: a proxy or a plain-text answer; keep its text below.
  }
  return new MaitreError(response.status, `HTTP_${response.status}`, text || response.statusText, undefined, requestId);
}
