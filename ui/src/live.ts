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
}

export function disconnect() {
  source?.close();
  source = null;
}

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => void listeners.delete(l);
}
