// The client against a running system (`maitre run` on free ports, SQLite in a temporary
// directory): generated types current with the served document, typed calls, errors with
// their field, pagination, live updates with resume, token refresh.

import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MaitreClient, MaitreError, page, paginate, subscribe, type StreamEvent } from "../src/index.js";
// @ts-expect-error plain ESM helper shared with the console's browser tests
import { startSystem, devToken } from "../../testing/system.mjs";

let system: { url: string; stop(): Promise<void>; output(): string };
let hq: MaitreClient;
let store: string;

beforeAll(async () => {
  system = await startSystem();
  hq = new MaitreClient({ baseUrl: system.url, token: await devToken(system.url, "hq_admin", { staff: "admin" }) });
  const created = await hq.call("ProfileService_CreateStore", {
    body: { store: { name: "测试门店", code: "T1", timeZone: "Asia/Shanghai" }, requestId: "client-test-store" },
  });
  store = created.store!.storeId!;
});

afterAll(async () => {
  await system?.stop();
});

const guest = (n: number) => ({
  body: {
    identityKeys: [{ kind: "IDENTITY_KIND_PHONE" as const, value: `1370000${String(n).padStart(4, "0")}` }],
    storeId: store,
    profile: { name: `客人${n}` },
    requestId: `client-test-guest-${n}`,
  },
});

describe("generated types", () => {
  it("are current with the served /openapi.json", async () => {
    const served = await (await fetch(`${system.url}/openapi.json`)).json();
    const committed = JSON.parse(await readFile(new URL("../openapi.json", import.meta.url), "utf8"));
    // On failure: `npm run generate:system` in clients/typescript, then commit both files.
    expect(committed, "clients/typescript/openapi.json is stale: run `npm run generate:system` in clients/typescript").toEqual(served);
  });
});

describe("calls", () => {
  it("send typed requests and read typed responses", async () => {
    const created = await hq.call("ProfileService_UpsertCustomer", guest(1));
    const id = created.customer!.customerId!;
    const read = await hq.op.ProfileService_GetCustomer({ path: { customer_id: id } });
    expect(read.customer?.profile?.name).toBe("客人1");
    expect(read.customer?.homeStoreId).toBe(store);
  });

  it("turn the gateway's error body into a MaitreError naming the field", async () => {
    const error = await hq
      .call("ProfileService_RecordEvent", {
        body: { event: { channel: "EVENT_CHANNEL_POS", externalId: "x", kind: "CONTACT_KIND_VISIT", storeId: store, amount: { amountFen: "-5" } } },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MaitreError);
    const e = error as MaitreError;
    expect(e.status).toBe(400);
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.field).toMatch(/^event\./);
    expect(e.requestId).toBeTruthy();
  });

  it("refuse a missing path parameter before sending", async () => {
    await expect(hq.call("ProfileService_GetCustomer", { path: { customer_id: "" } })).rejects.toMatchObject({ field: "customer_id" });
  });
});

describe("pagination", () => {
  it("walks every page", async () => {
    for (let n = 10; n < 15; n++) await hq.call("ProfileService_UpsertCustomer", guest(n));
    const first = await page(hq, "ProfileService_ListCustomers", { query: { store_id: store } }, { pageSize: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextPageToken).toBeTruthy();
    const all: unknown[] = [];
    for await (const c of paginate(hq, "ProfileService_ListCustomers", { query: { store_id: store } }, { pageSize: 2 })) all.push(c);
    const total = (await hq.call("ProfileService_ListCustomers", { query: { store_id: store, page_size: 100 } })).customers!.length;
    expect(all).toHaveLength(total);
    expect(total).toBeGreaterThanOrEqual(5);
  });
});

describe("live updates", () => {
  /** Events of the stream until `until` holds for one of them. */
  async function collect(sub: (on: (e: StreamEvent) => void) => { close(): void }, until: (e: StreamEvent) => boolean) {
    const seen: StreamEvent[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; saw ${seen.length} events`)), 30_000);
      const s = sub((e) => {
        seen.push(e);
        if (until(e)) {
          clearTimeout(timer);
          s.close();
          resolve();
        }
      });
    });
    return seen;
  }
  const created = (id: string) => (e: StreamEvent) => e.data?.customerCreated?.customerId === id;

  it("resumes after the last event id without repeating or missing events", async () => {
    const first20 = (await hq.call("ProfileService_UpsertCustomer", guest(20))).customer!.customerId!;
    let lastId: string | undefined;
    const first = await collect(
      (onEvent) => {
        const s = subscribe(hq, { onEvent });
        return { close: () => ((lastId = s.lastEventId), s.close()) };
      },
      created(first20),
    );
    expect(first.length).toBeGreaterThan(0);
    expect(lastId).toMatch(/^profile:\d+/);

    const then21 = (await hq.call("ProfileService_UpsertCustomer", guest(21))).customer!.customerId!;
    const resumed = await collect((onEvent) => subscribe(hq, { onEvent, lastEventId: lastId }), created(then21));
    const ids = new Set(first.map((e) => e.id));
    expect(resumed.some((e) => ids.has(e.id)), "no event is delivered twice").toBe(false);
    expect(resumed.some(created(first20)), "events before the cursor are not repeated").toBe(false);
  });

  it("from now: skips history and delivers only what changes after the stream opened", async () => {
    const before = (await hq.call("ProfileService_UpsertCustomer", guest(30))).customer!.customerId!;
    // Wait until that guest's event is in the log (events are numbered as they publish).
    await collect((onEvent) => subscribe(hq, { onEvent }), created(before));
    const seen: StreamEvent[] = [];
    let after = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; saw ${seen.length} events`)), 30_000);
      const done = () => {
        if (after && seen.some((e) => e.data?.customerCreated?.customerId === after)) {
          clearTimeout(timer);
          s.close();
          resolve();
        }
      };
      const s = subscribe(hq, {
        fromNow: true,
        onEvent: (e) => {
          seen.push(e);
          done();
        },
      });
      // Once open, the server has fixed the start at each log's head.
      void s.opened.then(async () => {
        after = (await hq.call("ProfileService_UpsertCustomer", guest(31))).customer!.customerId!;
        done();
      });
    });
    expect(seen.some((e) => e.data?.customerCreated?.customerId === before), "history is skipped").toBe(false);
    expect(seen.some((e) => e.event === "ready"), "the ready event is the client's, not the app's").toBe(false);
  });
});

describe("token refresh", () => {
  it("asks the hook once on 401 and retries with the new token", async () => {
    const good = await devToken(system.url, "hq_admin", { staff: "admin" });
    let asked = 0;
    const client = new MaitreClient({
      baseUrl: system.url,
      token: "expired.or.revoked",
      onUnauthorized: async () => (asked++, good),
    });
    const stores = await client.call("ProfileService_ListStores", { query: {} });
    expect(stores.stores?.some((s) => s.storeId === store)).toBe(true);
    expect(asked).toBe(1);
    await client.call("ProfileService_ListStores", { query: {} });
    expect(asked).toBe(1);
  });

  it("gives up with the 401 when the hook has no token", async () => {
    const client = new MaitreClient({ baseUrl: system.url, token: "bad", onUnauthorized: async () => undefined });
    await expect(client.call("ProfileService_ListStores", { query: {} })).rejects.toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
  });
});
