// An order's chat, for its student and for the shop's staff. New messages
// come over the tab's EventSource (`chat.message`); the event only says
// that something arrived, then the thread is read from the last id the
// page has, so the view never depends on the event's internal shape.
import { useEffect, useRef, useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, type S } from "./api/client";
import { time } from "./format";
import { subscribe } from "./live";
import { Button, ErrorBox, Skeleton, useAction } from "./ui";

type Msg = S["MessageView"];

export function Chat({ orderId, with: other }: { orderId: string; with: string }) {
  const [msgs, setMsgs] = useState<Msg[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [body, setBody] = useState("");
  const a = useAction();
  // The newest id the page holds; a catch-up reads after it.
  const last = useRef<string | undefined>(undefined);
  const fetching = useRef<Promise<void> | null>(null);

  const merge = (add: Msg[]) =>
    setMsgs((prev) => {
      const all = [...(prev ?? [])];
      for (const m of add) if (!all.some((x) => x.id === m.id)) all.push(m);
      all.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
      if (all.length) last.current = all[all.length - 1].id;
      return all;
    });

  const catchUp = () => {
    // One read at a time; a burst of events costs one more read at most.
    const run = async () => {
      try {
        const after = last.current;
        merge(
          await allPages((cursor) =>
            call(api.GET("/api/v1/orders/{id}/messages", { params: { path: { id: orderId }, query: { after, cursor, limit: PAGE_MAX } } })),
          ),
        );
        setLoadError(null);
      } catch (e) {
        setLoadError(e instanceof Error ? e.message : String(e));
      }
    };
    fetching.current = (fetching.current ?? Promise.resolve()).then(run);
    return fetching.current;
  };

  useEffect(() => {
    setMsgs(null);
    last.current = undefined;
    catchUp();
    return subscribe((e) => {
      if (e.event === "chat.message" && e.data.order_id === orderId) catchUp();
    });
  }, [orderId]);

  const send = (e: Event) => {
    e.preventDefault();
    if (!body.trim()) return;
    a.run(async () => {
      const m = await call(api.POST("/api/v1/orders/{id}/messages", { params: { path: { id: orderId } }, body: { body } }));
      merge([m]);
      setBody("");
    });
  };

  const id = `chat-${orderId}`;
  return (
    <section class="card chat" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`} class="chat-title">
        Chat with {other}
      </h2>
      {msgs === null ? (
        loadError ? <ErrorBox error={loadError} /> : <Skeleton lines={2} />
      ) : (
        // role=log: a polite live region that reads out what is appended.
        <div class="chat-log" role="log" aria-live="polite" aria-label={`Messages with ${other}`} tabIndex={0}>
          <ol class="msgs">
          {msgs.length === 0 && <li class="empty">No messages yet.</li>}
          {msgs.map((m) => (
            <li key={m.id} class={m.mine ? "msg mine" : "msg"}>
              <span class="msg-meta">
                {m.mine ? "You" : m.sender_name} · <time dateTime={m.at}>{time(m.at)}</time>
              </span>
              <span class="msg-body">{m.body}</span>
            </li>
          ))}
          </ol>
        </div>
      )}
      <form class="chat-form" onSubmit={send}>
        <label for={`${id}-body`}>Message to {other}</label>
        <textarea
          id={`${id}-body`}
          name="message"
          rows={2}
          maxLength={1000}
          value={body}
          onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            // Ctrl/Cmd+Enter sends; Enter alone keeps newlines possible.
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e);
          }}
        />
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy} disabled={!body.trim()}>
          Send
        </Button>
      </form>
    </section>
  );
}
