// One EventSource per signed-in tab (cookie auth); pages subscribe by event
// kind. The browser reconnects by itself and sends Last-Event-ID, so the
// server replays what was missed.
//
// The events' types come from the OpenAPI document (`LiveEvent`, one
// schema per kind), like the rest of the client: narrowing on `event`
// types `data`.
import type { S } from "./api/client";

export type LiveEvent = S["LiveEvent"];
/** Every kind but `stream.closed`, which ends the stream and is handled here. */
export type LiveKind = Exclude<LiveEvent["event"], "stream.closed">;
type Listener = (e: Exclude<LiveEvent, { event: "stream.closed" }>) => void;

const listeners = new Set<Listener>();
let source: EventSource | null = null;
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

export function connect() {
  if (source) return;
  source = new EventSource("/api/v1/events");
  for (const event of Object.keys(KINDS) as LiveKind[]) {
    source.addEventListener(event, (ev) => {
      const m = ev as MessageEvent<string>;
      let data: unknown;
      try {
        data = JSON.parse(m.data);
      } catch {
        return; // not JSON: not an event this client knows
      }
      // The server's event: `data` is the documented payload of `event`.
      const e = { event, id: m.lastEventId, data } as Parameters<Listener>[0];
      listeners.forEach((l) => l(e));
    });
  }
  // The server's last frame when it ends a stream. "replaced": this user
  // opened more tabs than the server keeps streams for and this one is the
  // oldest; reconnecting would only end the next oldest, so it stays off.
  // Any other reason ("revoked", "expired", "rights_changed") is left to
  // the browser's own reconnect: a revoked credential gets 401 and stops
  // it, a changed role gets a stream with the new rights.
  source.addEventListener("stream.closed", (ev) => {
    let reason: S["StreamClosedReason"] | undefined;
    try {
      reason = (JSON.parse((ev as MessageEvent<string>).data) as S["StreamClosedEvent"] | null)?.reason;
    } catch {
      // not JSON: treat as an unknown reason
    }
    if (reason === "replaced") disconnect();
  });
}

export function disconnect() {
  source?.close();
  source = null;
}

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => void listeners.delete(l);
}
