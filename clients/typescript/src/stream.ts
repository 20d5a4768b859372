// Live updates: `GET /v1/stream` as server-sent events, read with fetch (EventSource cannot
// send an Authorization header) so the caller's own token goes with it. On a dropped
// connection it reconnects with the last event's id in `Last-Event-ID`, so no event is
// missed or repeated; on 401 it asks the client's refresh hook for a new token.

import { errorOf, type MaitreClient } from "./client.js";

/** One event (`data` is the maitre.events.v1.Event as proto3 JSON). */
export interface StreamEvent {
  /** Cursor list to resume from (`profile:12,assignment:40`). */
  id: string;
  /** SSE event name (`message`, or `error` when a service refused the caller). */
  event: string;
  /** Parsed JSON data. */
  data: any;
}

export interface SubscribeOptions {
  /** Resume after this cursor list (a previous event's id). */
  lastEventId?: string;
  /**
   * Without `lastEventId`: start at the head of every service's log (`?from=now`), so only
   * what changes from now on arrives, instead of every service's history first. The
   * server's `ready` event sets the resume point; it is not passed to `onEvent`.
   */
  fromNow?: boolean;
  onEvent: (event: StreamEvent) => void;
  /** Connection state changes and errors (the subscription keeps retrying). */
  onStatus?: (status: "connecting" | "open" | "retrying" | "closed", error?: unknown) => void;
  /** Longest wait between reconnection attempts (ms, default 10 000). */
  maxBackoffMs?: number;
}

export interface Subscription {
  /** The id of the last event received (what a resume sends). */
  readonly lastEventId: string | undefined;
  /** Stops reading and does not reconnect. */
  close(): void;
  /** Resolves once the first connection is open. */
  readonly opened: Promise<void>;
}

/** Subscribes to `/v1/stream` of `client`'s caller. */
export function subscribe(client: MaitreClient, options: SubscribeOptions): Subscription {
  const controller = new AbortController();
  let lastEventId = options.lastEventId;
  let markOpen: () => void = () => {};
  const opened = new Promise<void>((resolve) => (markOpen = resolve));
  const maxBackoff = options.maxBackoffMs ?? 10_000;

  const run = async () => {
    let backoff = 250;
    let refreshed = false;
    while (!controller.signal.aborted) {
      options.onStatus?.("connecting");
      try {
        const headers: Record<string, string> = {
          authorization: `Bearer ${await client.token()}`,
          accept: "text/event-stream",
        };
        if (lastEventId) headers["last-event-id"] = lastEventId;
        const query = !lastEventId && options.fromNow ? "?from=now" : "";
        const response = await fetch(`${client.baseUrl}/v1/stream${query}`, { headers, signal: controller.signal });
        if (response.status === 401 && !refreshed && client.refresh) {
          refreshed = true;
          if (await client.refresh()) continue;
        }
        if (!response.ok || !response.body) throw await errorOf(response);
        refreshed = false;
        backoff = 250;
        options.onStatus?.("open");
        markOpen();
        for await (const event of parse(response.body)) {
          // Events already read when close() was called are not delivered.
          if (controller.signal.aborted) break;
          if (event.id) lastEventId = event.id;
          if (event.event === "ready") continue;
          options.onEvent(event);
        }
      } catch (error) {
        if (controller.signal.aborted) break;
        options.onStatus?.("retrying", error);
      }
      if (controller.signal.aborted) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, maxBackoff);
    }
    options.onStatus?.("closed");
  };
  void run();
  return {
    get lastEventId() {
      return lastEventId;
    },
    close: () => controller.abort(),
    opened,
  };
}

/** Parses a text/event-stream body into events (comments and keep-alives skipped). */
export async function* parse(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = "";
  let id = "";
  let event = "";
  let data: string[] = [];
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (data.length) {
            const text = data.join("\n");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // Plain-text data stays text.
            }
            yield { id, event: event || "message", data: parsed };
          }
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "id") id = value;
        else if (field === "event") event = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
