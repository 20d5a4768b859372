// Starts the whole Maitre system (`maitre run`: gateway and four services in one process,
// SQLite in a fresh temporary directory, in-process coordination, the development key) on
// free ports, for the client's and the console's tests. The binary is $MAITRE_BIN, else
// $CARGO_TARGET_DIR/debug/maitre, else target/debug/maitre (`cargo build -p maitre`).

import { spawn } from "node:child_process";
import { mkdtemp, rm, access } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export function maitreBinary() {
  if (process.env.MAITRE_BIN) return process.env.MAITRE_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(repo, "target");
  return path.join(target, "debug", "maitre");
}

function bindable(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port P with P..P+4 free (the gateway and the four services). */
async function freePorts() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let i = 0; i < 5 && ok; i++) ok = await bindable(base + i);
    if (ok) return base;
  }
  throw new Error("no five consecutive free ports");
}

/**
 * Starts the system; resolves once the gateway is ready. `env` adds variables (e.g.
 * MAITRE_CONSOLE_DIR). Returns { url, stop(), output() }.
 */
export async function startSystem(env = {}) {
  const binary = maitreBinary();
  await access(binary).catch(() => {
    throw new Error(`${binary} not found: run \`cargo build -p maitre\` (or set MAITRE_BIN)`);
  });
  const dir = await mkdtemp(path.join(tmpdir(), "maitre-clients-"));
  const port = await freePorts();
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MAITRE_")));
  let log = "";
  const child = spawn(binary, ["run", "--port", String(port), "--host", "127.0.0.1"], {
    cwd: dir,
    env: { ...clean, MAITRE_DATA_DIR: path.join(dir, "data"), RUST_LOG: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`maitre exited (${child.exitCode}):\n${log}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error(`maitre not ready within 60 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    output: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A token from the gateway's development sign-in (`/console/dev-sign-in`). */
export async function devToken(url, role, { staff = "", stores = [], chain = "" } = {}) {
  const r = await fetch(`${url}/console/dev-sign-in`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ role, staff, stores, chain }),
  });
  if (!r.ok) throw new Error(`dev sign-in ${role}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}
