// One EventSource per signed-in tab (cookie auth); pages subscribe by event
// type. The browser reconnects by itself and sends Last-Event-ID, so the
// server replays what was missed.
export type LiveEvent = { type: string; data: any };
type Listener = (e: LiveEvent) => void;

const listeners = new Set<Listener>();
let source: EventSource | null = null;
const TYPES = ["notification", "order.updated", "batch.updated", "chat.message", "broadcast"];

export function connect() {
  if (source) return;
  source = new EventSource("/api/v1/events");
  for (const type of TYPES) {
    source.addEventListener(type, (ev) => {
      let data: unknown = null;
      try {
        data = JSON.parse((ev as MessageEvent).data);
      } catch {
        data = (ev as MessageEvent).data;
      }
      listeners.forEach((l) => l({ type, data }));
    });
  }
  // The server's last frame when it ends a stream. "replaced": this user
  // opened more tabs than the server keeps streams for and this one is the
  // oldest; reconnecting would only end the next oldest, so it stays off.
  // Any other reason ("revoked", "expired", "rights_changed") is left to
  // the browser's own reconnect: a revoked credential gets 401 and stops
  // it, a changed role gets a stream with the new rights.
  source.addEventListener("stream.closed", (ev) => {
    let reason = "";
    try {
      reason = JSON.parse((ev as MessageEvent).data)?.reason ?? "";
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
