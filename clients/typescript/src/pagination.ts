// Lists page with `page_size`/`page_token` and answer `nextPageToken` (the contract's rule
// for every List RPC); these helpers walk them without the caller tracking tokens.

import type { MaitreClient, RequestOf, ResponseOf } from "./client.js";
import type { OperationId } from "./generated.js";

/** One page: the items, and the token of the next page ("" / undefined at the end). */
export interface Page<T> {
  items: T[];
  nextPageToken?: string;
}

/** The list in a response: `key` if given, else its first array-valued field. */
export function itemsOf<T>(response: unknown, key?: string): T[] {
  const record = (response ?? {}) as Record<string, unknown>;
  if (key) return (record[key] as T[] | undefined) ?? [];
  const list = Object.values(record).find(Array.isArray);
  return (list as T[] | undefined) ?? [];
}

type Paged = { [K in OperationId]: RequestOf<K> extends { query?: infer Q } ? ("page_token" extends keyof NonNullable<Q> ? K : never) : never }[OperationId];

/** One page of operation `id` starting at `pageToken`. */
export async function page<K extends Paged, T = unknown>(
  client: MaitreClient,
  id: K,
  request: RequestOf<K>,
  options: { pageToken?: string; pageSize?: number; itemsKey?: string; signal?: AbortSignal } = {},
): Promise<Page<T> & { response: ResponseOf<K> }> {
  const query = { ...(request.query ?? {}) } as Record<string, unknown>;
  if (options.pageToken) query.page_token = options.pageToken;
  if (options.pageSize) query.page_size = options.pageSize;
  const response = await client.call(id, { ...request, query } as RequestOf<K>, { signal: options.signal });
  const next = (response as { nextPageToken?: string }).nextPageToken;
  return { items: itemsOf<T>(response, options.itemsKey), nextPageToken: next || undefined, response };
}

/** Every item of operation `id`, page after page (`for await (const x of paginate(…))`). */
export async function* paginate<K extends Paged, T = unknown>(
  client: MaitreClient,
  id: K,
  request: RequestOf<K>,
  options: { pageSize?: number; itemsKey?: string; signal?: AbortSignal } = {},
): AsyncGenerator<T> {
  let pageToken: string | undefined;
  do {
    const current: Page<T> = await page<K, T>(client, id, request, { ...options, pageToken });
    yield* current.items;
    pageToken = current.nextPageToken;
  } while (pageToken);
}
