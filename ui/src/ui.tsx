// Shared pieces: loading with skeletons, errors as the problem's detail,
// labelled fields, and buttons that show they are working.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { messageOf, type Page } from "./api/client";

export type Load<T> = { data?: T; error?: string; loading: boolean; reload: () => void };

/** Runs `fn` when `deps` change; keeps the last data while reloading. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Load<T> {
  const [s, setS] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  const live = useRef(true);
  useEffect(() => () => void (live.current = false), []);
  useEffect(() => {
    let current = true;
    setS((p) => ({ ...p, loading: true }));
    fn().then(
      (data) => current && live.current && setS({ data, loading: false }),
      (e) => current && live.current && setS((p) => ({ data: p.data, error: messageOf(e), loading: false })),
    );
    return () => void (current = false);
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { ...s, reload };
}

export type Paged<T> = Load<T[]> & { more: () => void; hasMore: boolean; loadingMore: boolean };

/**
 * A list read page by page: the first page when `deps` change, the next
 * one on `more()` (a "Load more" button), from the last page's cursor.
 */
export function usePaged<T>(page: (cursor?: string) => Promise<Page<T>>, deps: unknown[]): Paged<T> {
  const [next, setNext] = useState<string | null>(null);
  const [extra, setExtra] = useState<T[]>([]);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<string | undefined>(undefined);
  const first = useLoad(async () => {
    const p = await page();
    setExtra([]);
    setMoreError(undefined);
    setNext(p.next_cursor ?? null);
    return p.items;
  }, deps);
  const more = useCallback(() => {
    if (!next || loadingMore) return;
    setLoadingMore(true);
    page(next).then(
      (p) => {
        setExtra((x) => [...x, ...p.items]);
        setNext(p.next_cursor ?? null);
        setLoadingMore(false);
      },
      (e) => {
        setMoreError(messageOf(e));
        setLoadingMore(false);
      },
    );
  }, [next, loadingMore, ...deps]);
  return {
    ...first,
    data: first.data ? [...first.data, ...extra] : undefined,
    error: first.error ?? moreError,
    more,
    hasMore: !!next,
    loadingMore,
  };
}

/** The "Load more" button under a paged list; nothing on its last page. */
export function LoadMore({ list, label = "Load more" }: { list: Paged<unknown>; label?: string }) {
  if (!list.hasMore) return null;
  return (
    <div class="load-more">
      <Button kind="secondary" busy={list.loadingMore} onClick={list.more}>
        {label}
      </Button>
    </div>
  );
}

export function Skeleton({ lines = 3 }: { lines?: number }) {
  return (
    <div class="skeleton" aria-busy="true" aria-label="Loading">
      {Array.from({ length: lines }, (_, i) => (
        <div key={i} class="skeleton-line" />
      ))}
    </div>
  );
}

export function ErrorBox({ error }: { error?: string | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

/** Skeleton while the first load runs, the error if it failed, else children. */
export function Loaded<T>({ load, lines, children }: { load: Load<T>; lines?: number; children: (d: T) => ComponentChildren }) {
  if (load.data === undefined) {
    return load.error ? <ErrorBox error={load.error} /> : <Skeleton lines={lines} />;
  }
  return (
    <>
      <ErrorBox error={load.error} />
      {children(load.data)}
    </>
  );
}

/** The page's heading takes focus on navigation, for screen readers. */
export function Page({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const h = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Uphill`;
    h.current?.focus();
  }, [title]);
  return (
    <section class="page">
      <div class="page-head">
        <h1 tabIndex={-1} ref={h}>
          {title}
        </h1>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** Runs an async action with a busy flag and the error's detail. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (e) {
      setError(messageOf(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}

type FieldProps = {
  label: string;
  name: string;
  value: string | number;
  onInput: (v: string) => void;
  type?: "text" | "email" | "password" | "number" | "tel" | "search" | "time" | "date";
  required?: boolean;
  hint?: string;
  min?: number;
  max?: number;
  maxLength?: number;
  autoComplete?: string;
  inputMode?: "numeric" | "text" | "email" | "tel" | "decimal";
};

export function Field(p: FieldProps) {
  const id = `f-${p.name}`;
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <input
        id={id}
        name={p.name}
        // One input serves every text-like type; the union is too wide for the JSX typing.
        type={(p.type ?? "text") as "text"}
        value={p.value}
        required={p.required}
        min={p.min}
        max={p.max}
        maxLength={p.maxLength}
        autoComplete={p.autoComplete}
        inputMode={p.inputMode}
        aria-describedby={p.hint ? `${id}-hint` : undefined}
        onInput={(e) => p.onInput((e.target as HTMLInputElement).value)}
      />
      {p.hint && (
        <small id={`${id}-hint`} class="hint">
          {p.hint}
        </small>
      )}
    </div>
  );
}

export function Select({ label, name, value, onChange, options }: { label: string; name: string; value: string; onChange: (v: string) => void; options: [string, string][] }) {
  const id = `f-${name}`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} name={name} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Button({ busy, children, kind = "primary", ...rest }: { busy?: boolean; kind?: "primary" | "secondary" | "danger"; children: ComponentChildren; type?: "button" | "submit"; onClick?: () => void; disabled?: boolean; "aria-label"?: string }) {
  return (
    <button class={`btn btn-${kind}`} type={rest.type ?? "button"} disabled={busy || rest.disabled} aria-busy={busy ? "true" : undefined} onClick={rest.onClick} aria-label={rest["aria-label"]}>
      {busy ? "Working…" : children}
    </button>
  );
}

export function Badge({ children, tone = "neutral" }: { children: ComponentChildren; tone?: "neutral" | "good" | "warn" | "bad" }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

export function statusTone(s: string): "neutral" | "good" | "warn" | "bad" {
  if (["COMPLETED", "VERIFIED", "PAID", "ACTIVE"].includes(s)) return "good";
  if (["CANCELLED", "DELIVERY_FAILED", "REJECTED", "BANNED"].includes(s)) return "bad";
  if (["LOCKED", "BATCHED", "OUT_FOR_DELIVERY", "IN_TRANSIT", "PENDING", "REQUIRES_ACTION", "SUSPENDED"].includes(s)) return "warn";
  return "neutral";
}

/**
 * A destructive action in two steps: the first tap asks, in the page, what
 * will happen; only "Yes" runs it. No `window.confirm`, so it reads the
 * same on every phone and in tests.
 */
export function Confirm({ children, question, yes, onConfirm, busy, kind = "danger", disabled, group = "Are you sure?", "aria-label": aria }: { children: ComponentChildren; question: ComponentChildren; yes: string; onConfirm: () => void; busy?: boolean; kind?: "primary" | "secondary" | "danger"; disabled?: boolean; group?: string; "aria-label"?: string }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <Button kind={kind} busy={busy} disabled={disabled} aria-label={aria} onClick={() => setAsking(true)}>
        {children}
      </Button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={group}>
      <span class="confirm-q">{question}</span>
      <Button
        kind={kind}
        busy={busy}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {yes}
      </Button>
      <Button kind="secondary" onClick={() => setAsking(false)}>
        Keep it
      </Button>
    </span>
  );
}

/** A labelled checkbox. */
export function Check({ label, checked, onChange, name }: { label: string; checked: boolean; onChange: (v: boolean) => void; name?: string }) {
  return (
    <label class="check">
      <input type="checkbox" name={name} checked={checked} onChange={(e) => onChange((e.target as HTMLInputElement).checked)} /> {label}
    </label>
  );
}
