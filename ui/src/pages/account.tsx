// Account: profile, addresses, sign out; and the notifications list.
import { useEffect, useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, type S } from "../api/client";
import { when } from "../format";
import { subscribe } from "../live";
import { refreshUnread, set, useSession } from "../state";
import { AddressForm, useBuildings } from "../address";
import { Badge, Button, Check, Confirm, ErrorBox, Field, type Load, Loaded, LoadMore, Page, useAction, useLoad, usePaged } from "../ui";

export function Account() {
  const s = useSession();
  const addresses = useLoad(() => (s.me ? call(api.GET("/api/v1/me/addresses")) : Promise.resolve([])), [s.me?.id]);
  const buildings = useBuildings();
  const devices = useLoad(
    () => (s.me ? allPages((cursor) => call(api.GET("/api/v1/me/sessions", { params: { query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])),
    [s.me?.id],
  );
  if (!s.me)
    return (
      <Page title="Account">
        <a href="/login">Sign in</a>
      </Page>
    );
  const bname = (id: string) => buildings.data?.find((b) => b.id === id)?.name ?? "";
  return (
    <Page title="Account">
      <div class="card">
        <p>
          <strong>{s.me.name}</strong> · {s.me.email}
        </p>
        <p class="muted">
          {s.me.admin && "Admin · "}
          {s.shop ? `Owner of ${s.shop.name} · ` : ""}
          member since {when(s.me.created_at)}
        </p>
        {!s.me.email_verified && <VerifyNudge />}
        <p>
          {!s.shop && <a href="/vendor">Open a shop</a>} {s.runner && <a href="/runs">Your runs</a>}
        </p>
      </div>
      <Profile me={s.me} />
      <OrderEmails me={s.me} />
      <Addresses list={addresses} bname={bname} />
      <ChangePassword onChanged={devices.reload} />
      <Devices list={devices} />
      <Tokens />
    </Page>
  );
}

/** Name and phone, filled from the account; only what changed is sent. */
function Profile({ me }: { me: S["Me"] }) {
  const was = { name: me.name, phone: me.phone ?? "" };
  const [f, setF] = useState(was);
  const [saved, setSaved] = useState(false);
  const a = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    const body: S["UpdateProfileRequest"] = {};
    if (f.name !== was.name) body.name = f.name;
    if (f.phone !== was.phone) body.phone = f.phone;
    if (Object.keys(body).length === 0) return;
    a.run(async () => {
      const next = await call(api.PATCH("/api/v1/me", { body }));
      set({ me: next });
      setSaved(true);
    });
  };
  return (
    <form class="card form" onSubmit={save} aria-labelledby="profile-h">
      <h2 id="profile-h">Profile</h2>
      <Field label="Name" name="profile-name" value={f.name} onInput={(v) => (setF({ ...f, name: v }), setSaved(false))} maxLength={100} required autoComplete="name" />
      <Field label="Phone" name="profile-phone" type="tel" value={f.phone} onInput={(v) => (setF({ ...f, phone: v }), setSaved(false))} maxLength={20} autoComplete="tel" hint="Shops you order from see it, to call you at the door." />
      <ErrorBox error={a.error} />
      <Button type="submit" busy={a.busy} disabled={f.name === was.name && f.phone === was.phone}>
        Save profile
      </Button>
      {saved && <p role="status">Profile saved.</p>}
    </form>
  );
}

/** Which order emails to get; off unless chosen. The OTP is never mailed. */
function OrderEmails({ me }: { me: S["Me"] }) {
  const was = { email_batch_locked: me.email_batch_locked, email_delivered: me.email_delivered };
  const [f, setF] = useState(was);
  const [saved, setSaved] = useState(false);
  const a = useAction();
  const changed = f.email_batch_locked !== was.email_batch_locked || f.email_delivered !== was.email_delivered;
  const save = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      set({ me: await call(api.PATCH("/api/v1/me", { body: f })) });
      setSaved(true);
    });
  };
  const pick = (k: keyof typeof f) => (v: boolean) => (setF({ ...f, [k]: v }), setSaved(false));
  return (
    <form class="card form" onSubmit={save} aria-labelledby="emails-h">
      <h2 id="emails-h">Order emails</h2>
      <p class="muted">Notifications in the app always come. Email me too, at {me.email}, when:</p>
      <Check label="my batch is locked" name="email-batch-locked" checked={f.email_batch_locked} onChange={pick("email_batch_locked")} />
      <Check label="my order is delivered" name="email-delivered" checked={f.email_delivered} onChange={pick("email_delivered")} />
      <p class="muted">Your delivery OTP is never emailed: it stays on the order's page.</p>
      <ErrorBox error={a.error} />
      <Button type="submit" busy={a.busy} disabled={!changed}>
        Save email choices
      </Button>
      {saved && <p role="status">Email choices saved.</p>}
    </form>
  );
}

/** The user's addresses: add, edit, make one the default, delete (after asking). */
function Addresses({ list, bname }: { list: Load<S["AddressView"][]>; bname: (id: string) => string }) {
  const [editing, setEditing] = useState<string | null>(null);
  const a = useAction();
  const done = () => (setEditing(null), list.reload());
  return (
    <section aria-labelledby="addresses-h">
      <h2 id="addresses-h">Addresses</h2>
      <ErrorBox error={a.error} />
      <Loaded load={list}>
        {(items) => (
          <ul class="cards">
            {items.length === 0 && <li class="empty">No addresses yet.</li>}
            {items.map((x) =>
              editing === x.id ? (
                <li key={x.id} class="card">
                  <AddressForm address={x} onSaved={done} onCancel={() => setEditing(null)} />
                </li>
              ) : (
                <li key={x.id} class="card" data-testid={`address-${x.label}`}>
                  <p>
                    <strong>{x.label}</strong> {x.default && <Badge>default</Badge>}
                    <br />
                    {bname(x.building_id)}, room {x.room}
                    {x.notes && <span class="muted"> · {x.notes}</span>}
                  </p>
                  <div class="actions">
                    <Button kind="secondary" aria-label={`Edit address ${x.label}`} onClick={() => setEditing(x.id)}>
                      Edit
                    </Button>
                    {!x.default && (
                      <Button kind="secondary" busy={a.busy} aria-label={`Make ${x.label} the default`} onClick={() => a.run(async () => (await call(api.PATCH("/api/v1/me/addresses/{id}", { params: { path: { id: x.id } }, body: { default: true } })), list.reload()))}>
                        Make default
                      </Button>
                    )}
                    <Confirm busy={a.busy} aria-label={`Delete address ${x.label}`} question={`Delete “${x.label}”?`} yes="Yes, delete" onConfirm={() => a.run(async () => (await call(api.DELETE("/api/v1/me/addresses/{id}", { params: { path: { id: x.id } } })), list.reload()))}>
                      Delete
                    </Confirm>
                  </div>
                </li>
              ),
            )}
          </ul>
        )}
      </Loaded>
      {editing === "new" ? (
        <div class="card">
          <AddressForm makeDefault={(list.data ?? []).length === 0} onSaved={done} onCancel={() => setEditing(null)} />
        </div>
      ) : (
        <Button kind="secondary" onClick={() => setEditing("new")}>
          Add an address
        </Button>
      )}
    </section>
  );
}

/** A new password, proving the current one; the other devices are signed out. */
function ChangePassword({ onChanged }: { onChanged: () => void }) {
  const [f, setF] = useState({ current: "", next: "" });
  const [done, setDone] = useState<number | null>(null);
  const a = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      const r = await call(api.POST("/api/v1/me/password", { body: { current_password: f.current, new_password: f.next } }));
      setF({ current: "", next: "" });
      setDone(r.sessions_ended);
      onChanged();
    });
  };
  return (
    <>
      <h2>Password</h2>
      <form class="card form" onSubmit={submit} aria-label="Change password">
        <Field label="Current password" name="current_password" type="password" autoComplete="current-password" value={f.current} onInput={(v) => setF({ ...f, current: v })} required maxLength={128} />
        <Field label="New password" name="new_password" type="password" autoComplete="new-password" value={f.next} onInput={(v) => setF({ ...f, next: v })} required maxLength={128} hint="8 to 128 characters. Your other devices are signed out." />
        <Button type="submit" busy={a.busy}>
          Change password
        </Button>
        <ErrorBox error={a.error} />
        {done !== null && (
          <p role="status">
            Password changed{done > 0 ? `; ${done} other device${done === 1 ? "" : "s"} signed out` : ""}.
          </p>
        )}
      </form>
    </>
  );
}

/** Signed-in devices (browser sessions), each of which can be signed out. */
function Devices({ list }: { list: Load<S["SessionView"][]> }) {
  const a = useAction();
  return (
    <>
      <h2>Signed-in devices</h2>
      <ErrorBox error={a.error} />
      <Loaded load={list}>
        {(items) => (
          <ul class="list" aria-label="Signed-in devices">
            {items.length === 0 && <li class="empty">No browser sessions (you are using an API token).</li>}
            {items.map((d) => (
              <li key={d.id} class="row">
                <span>
                  Signed in {when(d.created_at)} {d.current && <Badge>this device</Badge>}
                </span>
                {!d.current && (
                  <Button
                    kind="secondary"
                    busy={a.busy}
                    aria-label={`Sign out the device signed in ${when(d.created_at)}`}
                    onClick={() =>
                      a.run(async () => {
                        await call(api.DELETE("/api/v1/me/sessions/{id}", { params: { path: { id: d.id } } }));
                        list.reload();
                      })
                    }
                  >
                    Sign out
                  </Button>
                )}
              </li>
            ))}
          </ul>
        )}
      </Loaded>
    </>
  );
}

/**
 * Personal API tokens for scripts and the /docs page: the secret is shown
 * once, right after it is made; revoking one ends what it has open.
 */
function Tokens() {
  const s = useSession();
  const list = useLoad(() => (s.me ? call(api.GET("/api/v1/me/tokens")) : Promise.resolve([])), [s.me?.id]);
  const [name, setName] = useState("");
  const [days, setDays] = useState("90");
  const [secret, setSecret] = useState<string | null>(null);
  const a = useAction();
  const create = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      const r = await call(api.POST("/api/v1/me/tokens", { body: { name, expires_in_days: days ? Number(days) : undefined } }));
      setSecret(r.secret);
      setName("");
      list.reload();
    });
  };
  return (
    <>
      <h2>API tokens</h2>
      <p class="muted">
        For scripts and the <a href="/docs/">API docs page</a>: paste a token under Authorize.
      </p>
      <ErrorBox error={a.error} />
      {secret && (
        <div class="card" role="status">
          <p>Copy this token now; it is not shown again:</p>
          <code class="secret" data-testid="token-secret">
            {secret}
          </code>
        </div>
      )}
      <Loaded load={list}>
        {(items) => (
          <ul class="list" aria-label="API tokens">
            {items.length === 0 && <li class="empty">No tokens.</li>}
            {items.map((t) => (
              <li key={t.id} class="row">
                <span>
                  <strong>{t.name}</strong> · {t.hint}… · {t.expires_at ? `until ${when(t.expires_at)}` : "no expiry"}
                </span>
                <Button
                  kind="secondary"
                  busy={a.busy}
                  aria-label={`Revoke token ${t.name}`}
                  onClick={() =>
                    a.run(async () => {
                      await call(api.DELETE("/api/v1/me/tokens/{id}", { params: { path: { id: t.id } } }));
                      list.reload();
                    })
                  }
                >
                  Revoke
                </Button>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <form class="inline-form" onSubmit={create} aria-label="New API token">
        <Field label="Token name" name="token_name" value={name} onInput={setName} required maxLength={60} />
        <Field label="Expires in days" name="token_days" type="number" inputMode="numeric" value={days} onInput={setDays} min={1} max={3650} />
        <Button type="submit" busy={a.busy}>
          Create token
        </Button>
      </form>
    </>
  );
}

/** An unconfirmed address: the mailed link can be sent again (the server throttles it). */
function VerifyNudge() {
  const [sent, setSent] = useState(false);
  const a = useAction();
  const again = () =>
    a.run(async () => {
      await call(api.POST("/api/v1/auth/verify-email/request"));
      setSent(true);
    });
  return (
    <div>
      <p class="warn">Your email address is not confirmed yet: open the link we mailed you.</p>
      {sent ? (
        <p role="status">A new link is on its way.</p>
      ) : (
        <Button kind="secondary" busy={a.busy} onClick={again}>
          Send the link again
        </Button>
      )}
      <ErrorBox error={a.error} />
    </div>
  );
}

export function Notifications() {
  const s = useSession();
  const list = usePaged((cursor) => call(api.GET("/api/v1/notifications", { params: { query: { cursor } } })), [s.me?.id]);
  // Only the unread ones show; the newest page holds them.
  const broadcasts = useLoad(async () => (await call(api.GET("/api/v1/broadcasts"))).items, [s.me?.id]);
  const a = useAction();
  useEffect(
    () =>
      subscribe((e) => {
        if (e.event === "notification") list.reload();
        if (e.event === "broadcast") broadcasts.reload();
      }),
    [],
  );
  const readAll = () =>
    a.run(async () => {
      await call(api.POST("/api/v1/notifications/read-all"));
      list.reload();
      refreshUnread();
    });
  const readOne = (id: string) =>
    a.run(async () => {
      await call(api.POST("/api/v1/notifications/{id}/read", { params: { path: { id } } }));
      list.reload();
      refreshUnread();
    });
  return (
    <Page
      title="Notifications"
      actions={
        <Button kind="secondary" busy={a.busy} onClick={readAll}>
          Mark all read
        </Button>
      }
    >
      <ErrorBox error={a.error} />
      <Loaded load={broadcasts} lines={1}>
        {(bs) => (
          <ul class="cards">
            {bs
              .filter((b) => !b.read)
              .map((b) => (
                <li key={b.id} class="card announcement">
                  <strong>{b.title}</strong>
                  <p>{b.message}</p>
                  <button
                    type="button"
                    class="linkish"
                    onClick={() => a.run(async () => (await call(api.POST("/api/v1/broadcasts/{id}/read", { params: { path: { id: b.id } } })), broadcasts.reload(), refreshUnread()))}
                  >
                    Dismiss
                  </button>
                </li>
              ))}
          </ul>
        )}
      </Loaded>
      <Loaded load={list} lines={5}>
        {(items) =>
          items.length === 0 ? (
            <p class="empty">Nothing yet.</p>
          ) : (
            <ul class="cards">
              {items.map((n) => (
                <li key={n.id} class={`card note note-${n.kind.toLowerCase()}${n.read ? "" : " unread"}`}>
                  <strong>{n.title}</strong> {!n.read && <Badge tone="warn">new</Badge>}
                  <p>{n.message}</p>
                  <span class="muted">{when(n.created_at)}</span>{" "}
                  {n.action && n.action.startsWith("/") && <a href={n.action.replace(/^\/api\/v1/, "")}>Open</a>}{" "}
                  {!n.read && (
                    <button type="button" class="linkish" onClick={() => readOne(n.id)}>
                      Mark read
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={list} label="Older notifications" />
      <FromYourShops />
    </Page>
  );
}

/** The current announcements of the shops the student favourited. */
function FromYourShops() {
  const s = useSession();
  const list = usePaged((cursor) => call(api.GET("/api/v1/me/announcements", { params: { query: { cursor } } })), [s.me?.id]);
  return (
    <section aria-labelledby="from-shops-h">
      <h2 id="from-shops-h">From your shops</h2>
      <Loaded load={list} lines={2}>
        {(items) =>
          items.length === 0 ? (
            <p class="empty">
              Nothing new. <a href="/">Favourite a shop</a> to see its announcements here.
            </p>
          ) : (
            <ul class="cards">
              {items.map((n) => (
                <li key={n.id} class="card announcement">
                  <a href={`/shops/${n.shop_id}`}>{n.shop_name}</a>
                  <br />
                  <strong>{n.title}</strong>
                  <p>{n.message}</p>
                  <span class="muted">{when(n.created_at)}</span>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={list} label="Older announcements" />
    </section>
  );
}
