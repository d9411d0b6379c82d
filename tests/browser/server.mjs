// Starts the real `uphill` binary on a free loopback port with a fresh data
// directory, and stops it after the tests.
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
    dataDir,
    log: () => out,
    /** Stops the server; `keep` leaves its data directory (fixtures). */
    async stop({ keep = false } = {}) {
      child.kill("SIGTERM");
      if (exited === null) await new Promise((r) => child.once("exit", r));
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
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

/// A real SMTP server on loopback: tests/support/smtp_sink.py (Python
/// aiosmtpd, which .ci/run installs), writing each accepted message to a
/// directory as JSON. Without aiosmtpd the tests fail, saying how to get it.
export async function startSmtpSink() {
  try {
    execFileSync("python3", ["-c", "import aiosmtpd"], { stdio: "ignore" });
  } catch {
    throw new Error("the browser tests need a real SMTP server: python3 with aiosmtpd (`pip install aiosmtpd`, as .ci/run does)");
  }
  const dir = mkdtempSync(join(tmpdir(), "uphill-smtp-"));
  const port = await freePort();
  const child = spawn("python3", [join(root, "tests/support/smtp_sink.py"), String(port), dir], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`SMTP sink not ready in 10 s:\n${out}`)), 10000);
    const onData = (c) => {
      out += c;
      if (out.includes("READY")) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => fail(new Error(`SMTP sink exited ${code}:\n${out}`)));
  });
  const messages = () =>
    readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
  return {
    port,
    /// The env that points the server at this sink (plain SMTP on loopback).
    env: {
      UPHILL_SMTP__HOST: "127.0.0.1",
      UPHILL_SMTP__PORT: String(port),
      UPHILL_SMTP__SECURITY: "none",
      UPHILL_SMTP__FROM: "Uphill <uphill@uphill.test>",
    },
    messages,
    /// Waits (bounded) for a message to `to` whose subject matches.
    async waitFor(to, subject, timeout = 15000) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const m = messages().find((x) => x.rcpt_tos.some((r) => r.toLowerCase() === to.toLowerCase()) && subject.test(x.subject));
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject} in ${timeout} ms; got: ${messages().map((x) => `${x.rcpt_tos} ${x.subject}`).join(" | ")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    /// Refuses mail to these addresses for good (550), as a dead mailbox would.
    rejectPermanently(addresses) {
      writeFileSync(join(dir, "reject_permanent"), addresses.join("\n") + "\n");
    },
    async stop() {
      child.kill("SIGTERM");
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
