// Starts the real `uphill` binary on a free loopback port with a fresh data
// directory, and stops it after the tests.
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
export const BIN = process.env.UPHILL_BIN || join(root, "target/debug/uphill");

/// A free loopback port (the seeded server prints no setup link to read it from).
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/// The real binary on the demo campus (`uphill seed demo`): verified shops
/// with slots and products, students, a runner, an admin, one password.
export async function startSeededServer(extraEnv = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "uphill-browser-"));
  const env = { ...process.env, UPHILL_LOG__LEVEL: "warn", ...extraEnv };
  const seeded = execFileSync(BIN, ["--data-dir", dataDir, "seed", "demo"], { env, encoding: "utf8" });
  const password = seeded.match(/password \(shown once\): (\S+)/)?.[1];
  if (!password) throw new Error(`no password in the seed output:\n${seeded}`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(BIN, ["--bind", `127.0.0.1:${port}`, "--data-dir", dataDir, "serve"], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  let exited = null;
  child.on("exit", (code) => (exited = code));
  const deadline = Date.now() + 20000;
  for (;;) {
    if (exited !== null) throw new Error(`uphill exited ${exited}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`not ready in 20 s:\n${out}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    password,
    log: () => out,
    async stop() {
      child.kill("SIGTERM");
      if (exited === null) await new Promise((r) => child.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), "uphill-browser-"));
  const child = spawn(BIN, ["--bind", "127.0.0.1:0", "--data-dir", dataDir, "serve"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, UPHILL_LOG__LEVEL: "warn" },
  });
  let out = "";
  const setupLink = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no setup link in 20 s:\n${out}`)), 20000);
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/Create the first admin: (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => fail(new Error(`uphill exited ${code}:\n${out}`)));
  });
  const base = new URL(setupLink).origin;
  return {
    base,
    setupLink,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/// Fails the test on any console error, CSP violations included.
export function watchConsole(page) {
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}
