// One EventSource per signed-in tab (cookie auth); pages subscribe by event
// kind. While the stream runs, the browser reconnects by itself and sends
// Last-Event-ID, so the server replays what was missed. When the browser
// gives up (any answer but 200: a restart's 503, a proxy's 502, a 429) it
// never tries again, so this module does, with backoff; a stream opened
// anew replays nothing, so every page re-reads what it shows (`useLive`'s
// resync). The status is shown by the "not live" banner.
//
// The events' types come from the OpenAPI document (`LiveEvent`, one
// schema per kind), like the rest of the client: narrowing on `event`
// types `data`.
import { useEffect, useState } from "preact/hooks";
import type { S } from "./api/client";

export type LiveEvent = S["LiveEvent"];
/** Every kind but `stream.closed`, which ends the stream and is handled here. */
export type LiveKind = Exclude<LiveEvent["event"], "stream.closed">;
type Event = Exclude<LiveEvent, { event: "stream.closed" }>;
type Listener = (e: Event) => void;
/** `live`: events flow; `connecting`: not yet, or lost and retrying; `elsewhere`: another tab of this user took the stream; `off`: signed out. */
export type LiveStatus = "live" | "connecting" | "elsewhere" | "off";

const listeners = new Set<Listener>();
const resyncs = new Set<() => void>();
const watchers = new Set<(s: LiveStatus) => void>();
let source: EventSource | null = null;
let status: LiveStatus = "off";
let retry: ReturnType<typeof setTimeout> | null = null;
let failures = 0;
// Whether events may have been missed since the last `open`: then pages
// re-read on the next one.
let gap = false;
// A record, so a kind added to the document fails the typecheck until it
// is listened for here.
const KINDS: Record<LiveKind, true> = {
  notification: true,
  broadcast: true,
  "order.updated": true,
  "batch.updated": true,
  "shop.order": true,
  "chat.message": true,
};

function setStatus(s: LiveStatus) {
  if (s === status) return;
  status = s;
  watchers.forEach((w) => w(s));
}

/** 1 s, 2 s, 4 s … capped at 30 s, with jitter so tabs do not return in step. */
function backoff(n: number) {
  return Math.min(30000, 1000 * 2 ** Math.min(n, 5)) * (0.75 + Math.random() / 2);
}

function open() {
  const es = new EventSource("/api/v1/events");
  source = es;
  es.addEventListener("open", () => {
    failures = 0;
    setStatus("live");
    if (gap) {
      gap = false;
      resyncs.forEach((r) => r());
    }
  });
  es.addEventListener("error", () => {
    if (source !== es) return;
    gap = true;
    setStatus("connecting");
    // CONNECTING: the browser retries by itself (with Last-Event-ID).
    // CLOSED: it gave up; try again later, from scratch.
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      source = null;
      schedule();
    }
  });
  for (const event of Object.keys(KINDS) as LiveKind[]) {
    es.addEventListener(event, (ev) => {
      const m = ev as MessageEvent<string>;
      let data: unknown;
      try {
        data = JSON.parse(m.data);
      } catch {
        return; // not JSON: not an event this client knows
      }
      // The server's event: `data` is the documented payload of `event`.
      const e = { event, id: m.lastEventId, data } as Event;
      listeners.forEach((l) => l(e));
    });
  }
  // The server's last frame when it ends a stream. "replaced": this user
  // opened more tabs than the server keeps streams for and this one is the
  // oldest; reconnecting would only end the next oldest, so it waits for
  // the user (the banner offers it). Any other reason ("revoked",
  // "expired", "rights_changed") is left to the reconnect: a revoked
  // credential gets 401 and the session ends, a changed role gets a
  // stream with the new rights.
  es.addEventListener("stream.closed", (ev) => {
    let reason: S["StreamClosedReason"] | undefined;
    try {
      reason = (JSON.parse((ev as MessageEvent<string>).data) as S["StreamClosedEvent"] | null)?.reason;
    } catch {
      // not JSON: treat as an unknown reason
    }
    if (reason === "replaced") {
      es.close();
      source = null;
      gap = true;
      setStatus("elsewhere");
    }
  });
}

function schedule() {
  if (retry) return;
  retry = setTimeout(() => {
    retry = null;
    if (status === "off" || status === "elsewhere" || source) return;
    open();
  }, backoff(failures++));
}

export function connect() {
  if (source) return;
  if (retry) clearTimeout(retry);
  retry = null;
  failures = 0;
  setStatus("connecting");
  open();
}

export function disconnect() {
  if (retry) clearTimeout(retry);
  retry = null;
  source?.close();
  source = null;
  setStatus("off");
}

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => void listeners.delete(l);
}

/** Called after a stream is opened anew, when events may have been missed. */
export function onResync(r: () => void): () => void {
  resyncs.add(r);
  return () => void resyncs.delete(r);
}

export function liveStatus(): LiveStatus {
  return status;
}

export function useLiveStatus(): LiveStatus {
  const [s, setS] = useState(status);
  useEffect(() => {
    setS(status);
    watchers.add(setS);
    return () => void watchers.delete(setS);
  }, []);
  return s;
}

/**
 * Re-runs `reload` on every event `matches` accepts, and after a gap in
 * the stream (when events may have been missed), so what a page shows
 * from events is never silently stale.
 */
export function useLive(matches: (e: Event) => boolean, reload: () => void, deps: unknown[] = []) {
  useEffect(() => {
    const off = subscribe((e) => matches(e) && reload());
    const offResync = onResync(reload);
    return () => {
      off();
      offResync();
    };
  }, deps);
}
