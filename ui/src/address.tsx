// One address form for checkout and the account page: it fills from the
// address it edits (or starts empty), asks for the building instead of
// picking the first one, and sends only what changed.
import { useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, type S } from "./api/client";
import { Button, ErrorBox, Field, Select, useAction, useLoad } from "./ui";

type Fields = { label: string; building_id: string; room: string; notes: string };

const fieldsOf = (x?: S["AddressView"]): Fields => ({ label: x?.label ?? "Room", building_id: x?.building_id ?? "", room: x?.room ?? "", notes: x?.notes ?? "" });

export function useBuildings() {
  return useLoad(() => allPages((cursor) => call(api.GET("/api/v1/buildings", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
}

export function AddressForm({ address, makeDefault = false, onSaved, onCancel }: { address?: S["AddressView"]; makeDefault?: boolean; onSaved: (a: S["AddressView"]) => void; onCancel?: () => void }) {
  const buildings = useBuildings();
  const [f, setF] = useState(() => fieldsOf(address));
  const a = useAction();
  const id = address?.id ?? "new";
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      if (!address) {
        onSaved(await call(api.POST("/api/v1/me/addresses", { body: { ...f, default: makeDefault } })));
        return;
      }
      const was = fieldsOf(address);
      const body: S["AddressRequest"] = {};
      for (const k of Object.keys(f) as (keyof Fields)[]) if (f[k] !== was[k]) body[k] = f[k];
      onSaved(Object.keys(body).length === 0 ? address : await call(api.PATCH("/api/v1/me/addresses/{id}", { params: { path: { id: address.id } }, body })));
    });
  };
  return (
    <form class="form" onSubmit={submit} aria-label={address ? `Edit address ${address.label}` : "New address"}>
      <Field label="Label" name={`label-${id}`} value={f.label} onInput={(v) => setF({ ...f, label: v })} maxLength={40} required />
      <Select label="Building" name={`building-${id}`} value={f.building_id} onChange={(v) => setF({ ...f, building_id: v })} options={[["", "Choose your building"], ...(buildings.data ?? []).map((b): [string, string] => [b.id, b.name])]} />
      <Field label="Room" name={`room-${id}`} value={f.room} onInput={(v) => setF({ ...f, room: v })} maxLength={20} required />
      <Field label="Notes for the vendor" name={`notes-${id}`} value={f.notes} onInput={(v) => setF({ ...f, notes: v })} maxLength={200} />
      <ErrorBox error={a.error} />
      <div class="actions">
        <Button type="submit" busy={a.busy} kind="secondary" disabled={!f.building_id}>
          Save address
        </Button>
        {onCancel && (
          <Button kind="secondary" onClick={onCancel}>
            Cancel
          </Button>
        )}
      </div>
    </form>
  );
}
