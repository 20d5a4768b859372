// The event-stream parser on its own: line endings, multi-line data, comments, chunking.

import { describe, expect, it } from "vitest";
import { parse } from "../src/stream.js";

function body(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function all(stream: ReadableStream<Uint8Array>) {
  const out = [];
  for await (const event of parse(stream)) out.push(event);
  return out;
}

describe("parse", () => {
  it("reads ids, names and JSON data across chunk boundaries and line endings", async () => {
    const events = await all(body(": keep-alive\n\nid: profile:1\r\ndata: {\"a\"", ":1}\r\n\r\nid: profile:2,assignment:4\nevent: error\ndata: line one\ndata: line two\n\n"));
    expect(events).toEqual([
      { id: "profile:1", event: "message", data: { a: 1 } },
      { id: "profile:2,assignment:4", event: "error", data: "line one\nline two" },
    ]);
  });

  it("keeps the last id for events without one and drops an unfinished event", async () => {
    const events = await all(body("id: tagging:9\ndata: 1\n\ndata: 2\n\ndata: 3"));
    expect(events.map((e) => [e.id, e.data])).toEqual([
      ["tagging:9", 1],
      ["tagging:9", 2],
    ]);
  });
});
