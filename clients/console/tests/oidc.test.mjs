// Sign-in through an identity provider: the console runs OpenID Connect authorization code
// with PKCE against a small provider started here (discovery, authorize, token), whose
// RS256 key the gateway trusts (MAITRE_JWT_PUBLIC_KEY_FILE); the console then calls the API
// with the provider's token.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { createServer } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { MaitreClient } from "@maitre/client";
import { startSystem, devToken } from "../../testing/system.mjs";

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist");
const b64url = (data) => Buffer.from(data).toString("base64url");

let idp, system, browser, keyDir, store;
const seen = { authorize: [], token: [] };

function startProvider(privateKey, claims) {
  const codes = new Map();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const cors = { "access-control-allow-origin": "*" };
    if (url.pathname === "/.well-known/openid-configuration") {
      res.writeHead(200, { ...cors, "content-type": "application/json" });
      res.end(JSON.stringify({ issuer: idp.url, authorization_endpoint: `${idp.url}/authorize`, token_endpoint: `${idp.url}/token` }));
    } else if (url.pathname === "/authorize") {
      // The person signs in at the provider; here they are signed in already.
      const q = Object.fromEntries(url.searchParams);
      seen.authorize.push(q);
      const code = randomBytes(12).toString("hex");
      codes.set(code, q);
      res.writeHead(302, { location: `${q.redirect_uri}?code=${code}&state=${encodeURIComponent(q.state)}` });
      res.end();
    } else if (url.pathname === "/token" && req.method === "POST") {
      let body = "";
      for await (const chunk of req) body += chunk;
      const form = Object.fromEntries(new URLSearchParams(body));
      seen.token.push(form);
      const started = codes.get(form.code);
      codes.delete(form.code);
      const challenge = form.code_verifier && createHash("sha256").update(form.code_verifier).digest("base64url");
      if (!started || started.code_challenge !== challenge || started.client_id !== form.client_id || started.redirect_uri !== form.redirect_uri) {
        res.writeHead(400, { ...cors, "content-type": "application/json" });
        res.end(JSON.stringify({ error: "invalid_grant" }));
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
      const payload = b64url(JSON.stringify({ ...claims, iat: now, exp: now + 600 }));
      const signature = sign("RSA-SHA256", Buffer.from(`${header}.${payload}`), privateKey).toString("base64url");
      res.writeHead(200, { ...cors, "content-type": "application/json" });
      res.end(JSON.stringify({ access_token: `${header}.${payload}.${signature}`, token_type: "Bearer", expires_in: 600 }));
    } else {
      res.writeHead(404, cors);
      res.end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) })),
  );
}

before(async () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  keyDir = await mkdtemp(path.join(tmpdir(), "maitre-idp-"));
  const publicKeyFile = path.join(keyDir, "idp.pem");
  await writeFile(publicKeyFile, publicKey.export({ type: "spki", format: "pem" }));
  const claims = { sub: "m07", chain: "demo", role: "customer_manager", stores: [] };
  idp = await startProvider(privateKey, claims);
  system = await startSystem({
    MAITRE_CONSOLE_DIR: dist,
    MAITRE_JWT_PUBLIC_KEY_FILE: publicKeyFile,
    // The services' own identity and the development sign-in used for seeding.
    MAITRE_JWT_SECRET: "console-oidc-test-secret",
    MAITRE_CONSOLE_OIDC_ISSUER: idp.url,
    MAITRE_CONSOLE_OIDC_CLIENT_ID: "maitre-console",
  });
  const hq = new MaitreClient({ baseUrl: system.url, token: await devToken(system.url, "hq_admin") });
  store = (await hq.call("ProfileService_CreateStore", { body: { store: { name: "二号店", code: "S2", timeZone: "Asia/Shanghai" } } })).store.storeId;
  claims.stores = [store];
  await hq.call("AssignmentService_UpsertManager", {
    path: { manager_id: "m07" },
    body: { manager: { managerId: "m07", name: "孙经理", storeIds: [store], capacity: "100", status: "MANAGER_STATUS_ON_DUTY" } },
  });
  browser = await chromium.launch({
    executablePath: process.env.MAITRE_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await system?.stop();
  await idp?.close();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

test("a customer manager signs in through the identity provider with PKCE and the API accepts the provider's token", async () => {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(`${system.url}/console/`);
  await page.click('[data-test="sso-sign-in"]');
  await page.waitForSelector('[data-test="who"]:has-text("m07")');
  // The API answered with the provider's token: the page's lists loaded without an error.
  await page.waitForSelector('[data-test="my-guests"] td');
  assert.equal(await page.locator('[data-test="error"]').count(), 0);
  assert.equal(new URL(page.url()).search, "", "the code is not left in the address bar");

  const [authorize] = seen.authorize;
  assert.equal(authorize.code_challenge_method, "S256");
  assert.equal(authorize.client_id, "maitre-console");
  assert.equal(authorize.redirect_uri, `${system.url}/console/`);
  const [exchange] = seen.token;
  assert.equal(exchange.grant_type, "authorization_code");
  assert.ok(exchange.code_verifier.length >= 43, "a PKCE verifier, and no client secret");
  assert.equal(exchange.client_secret, undefined);
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("maitre.session")).token);
  assert.equal(JSON.parse(Buffer.from(token.split(".")[0], "base64url")).alg, "RS256");
  await page.context().close();
});
