//! Batch slots: a shop's recurring cutoffs and their next batch.

use super::*;

pub struct SlotInput {
    pub cutoff_minutes: u16,
    pub label: String,
    pub active: bool,
    pub sort_order: i32,
    pub weekdays: Option<Vec<u8>>,
    pub max_orders: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct SlotPatch {
    pub cutoff_minutes: Option<u16>,
    pub label: Option<String>,
    pub active: Option<bool>,
    pub sort_order: Option<i32>,
    pub weekdays: Option<Option<Vec<u8>>>,
    pub max_orders: Option<Option<u32>>,
}

impl From<SlotInput> for SlotPatch {
    fn from(i: SlotInput) -> Self {
        SlotPatch {
            cutoff_minutes: Some(i.cutoff_minutes),
            label: Some(i.label),
            active: Some(i.active),
            sort_order: Some(i.sort_order),
            weekdays: Some(i.weekdays),
            max_orders: Some(i.max_orders),
        }
    }
}

/// ISO weekdays, 1 = Monday … 7 = Sunday, each at most once; stored sorted.
pub(super) fn parse_weekdays(days: Vec<u8>) -> Result<Vec<u8>, FieldError> {
    let mut sorted = days.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if days.is_empty() {
        return Err(FieldError::new(
            "weekdays",
            "name at least one day, or leave weekdays out for every day",
        ));
    }
    if sorted.len() != days.len() || sorted.iter().any(|d| !(1..=7).contains(d)) {
        return Err(FieldError::new(
            "weekdays",
            "must be distinct ISO weekdays, 1 (Monday) to 7 (Sunday)",
        ));
    }
    Ok(sorted)
}

fn clean_slot_patch(p: SlotPatch) -> Result<SlotPatch, Error> {
    let mut c = Check::default();
    let out = SlotPatch {
        cutoff_minutes: p
            .cutoff_minutes
            .and_then(|v| c.ok(minutes("cutoff_minutes", v))),
        label: p
            .label
            .and_then(|v| c.ok(bounded_text("label", &v, 1, 60, false))),
        active: p.active,
        sort_order: p.sort_order.and_then(|v| {
            c.ok(if (0..=MAX_SORT_ORDER).contains(&v) {
                Ok(v)
            } else {
                Err(FieldError::new(
                    "sort_order",
                    format!("must be 0 to {MAX_SORT_ORDER}"),
                ))
            })
        }),
        weekdays: match p.weekdays {
            None => None,
            Some(None) => Some(None),
            Some(Some(days)) => c.ok(parse_weekdays(days)).map(Some),
        },
        max_orders: match p.max_orders {
            Some(Some(n)) if !(1..=MAX_ORDERS_PER_BATCH).contains(&n) => {
                c.ok::<()>(Err(FieldError::new(
                    "max_orders",
                    format!("must be 1 to {MAX_ORDERS_PER_BATCH}"),
                )));
                None
            }
            other => other,
        },
    };
    c.done()?;
    Ok(out)
}

fn apply_slot_patch(slot: &mut Slot, p: &SlotPatch) {
    if let Some(v) = p.cutoff_minutes {
        slot.cutoff_minutes = v;
    }
    if let Some(v) = &p.label {
        slot.label = v.clone();
    }
    if let Some(v) = p.active {
        slot.active = v;
    }
    if let Some(v) = p.sort_order {
        slot.sort_order = v;
    }
    if let Some(v) = &p.weekdays {
        slot.weekdays = v.clone();
    }
    if let Some(v) = p.max_orders {
        slot.max_orders = v;
    }
}

/// When the slot's next batch closes; none for an inactive slot, which
/// takes no orders.
pub fn next_cutoff_at(slot: &Slot, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    if slot.active {
        batch::next_cutoff(slot, now, tz)
    } else {
        None
    }
}

/// The cutoff of the slot's next batch that still takes orders: a batch
/// locked early, full or on its way is skipped, as checkout skips it (the
/// same `Availability`). None for an inactive slot, or none in a week.
pub fn next_open_cutoff(
    txn: &redb::ReadTransaction,
    slot: &Slot,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    if !slot.active {
        return Ok(None);
    }
    let keys = txn.open_table(tables::BATCH_KEY_TO_BATCH)?;
    let batches = txn.open_table(tables::BATCHES)?;
    for cutoff in batch::upcoming_cutoffs(slot, now, tz, 8) {
        let key = crate::market::orders::batch_key(&slot.shop_id, cutoff);
        let taken = match keys.get(key.as_str())? {
            Some(id) => codec::get::<batch::Batch>(&batches, id.value())?
                .is_some_and(|b| b.availability() == batch::Availability::Closed),
            None => false,
        };
        if !taken {
            return Ok(Some(cutoff));
        }
    }
    Ok(None)
}

/// A shop's slots in display order, each with the cutoff of its next batch
/// that takes orders; students see only active ones.
pub async fn list_slots(
    store: &Store,
    viewer: Option<Caller>,
    shop_id: String,
    page: PageRequest,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Page<(Slot, Option<DateTime<Utc>>)>, Error> {
    store
        .read(move |txn| {
            let shop = codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            let shop = gate(shop, viewer.as_ref(), Need::See, "shop")?;
            let insider = Access::of(&shop, viewer.as_ref()).insider();
            let index = txn.open_multimap_table(tables::SHOP_TO_SLOTS)?;
            let slots = txn.open_table(tables::SLOTS)?;
            let mut out = Vec::new();
            for id in index.get(shop.id.as_str())? {
                if let Some(s) = codec::get::<Slot>(&slots, id?.value())?
                    && (s.active || insider)
                {
                    out.push(s);
                }
            }
            let key = |s: &Slot| {
                paging::key(&[
                    &paging::num(s.sort_order.into()),
                    &paging::num(s.cutoff_minutes.into()),
                    &s.id,
                ])
            };
            page.sort_and_take(out, key, Dir::Asc).try_map(|s| {
                let next = next_open_cutoff(txn, &s, now, tz)?;
                Ok::<_, Error>((s, next))
            })
        })
        .await
}

pub async fn create_slot(
    store: &Store,
    caller: Caller,
    shop_id: String,
    input: SlotInput,
) -> Result<Slot, Error> {
    let patch = clean_slot_patch(input.into())?;
    let (id, now) = (new_id(), Utc::now());
    store
        .write(move |txn| {
            let shop = gate(
                load_shop(txn, &shop_id)?,
                Some(&caller),
                Need::Owner,
                "shop",
            )?;
            let count = txn
                .open_multimap_table(tables::SHOP_TO_SLOTS)?
                .get(shop.id.as_str())?
                .count();
            if count >= MAX_SLOTS_PER_SHOP {
                return Err(Error::Conflict(format!(
                    "a shop has at most {MAX_SLOTS_PER_SHOP} slots"
                )));
            }
            let mut slot = Slot {
                id: id.clone(),
                shop_id: shop.id.clone(),
                cutoff_minutes: 0,
                label: String::new(),
                active: true,
                sort_order: 0,
                weekdays: None,
                max_orders: None,
                created_at: now,
            };
            apply_slot_patch(&mut slot, &patch);
            codec::put(&mut txn.open_table(tables::SLOTS)?, &id, &slot)?;
            txn.open_multimap_table(tables::SHOP_TO_SLOTS)?
                .insert(shop.id.as_str(), id.as_str())?;
            Ok(slot)
        })
        .await
}

fn load_slot(txn: &WriteTransaction, id: &str) -> Result<Option<Slot>, StoreError> {
    codec::get(&txn.open_table(tables::SLOTS)?, id)
}

/// Batches copy what they need from their slot, so an edit only shapes
/// batches made after it.
pub async fn update_slot(
    store: &Store,
    caller: Caller,
    id: String,
    patch: SlotPatch,
) -> Result<Slot, Error> {
    let patch = clean_slot_patch(patch)?;
    store
        .write(move |txn| {
            let Some(mut slot) = load_slot(txn, &id)? else {
                return Err(not_found("slot"));
            };
            let shop = load_shop(txn, &slot.shop_id)?;
            gate_child(shop, Some(&caller), Need::Owner, slot.active, "slot")?;
            apply_slot_patch(&mut slot, &patch);
            codec::put(&mut txn.open_table(tables::SLOTS)?, &id, &slot)?;
            Ok(slot)
        })
        .await
}

pub async fn delete_slot(store: &Store, caller: Caller, id: String) -> Result<(), Error> {
    store
        .write(move |txn| {
            let Some(slot) = load_slot(txn, &id)? else {
                return Err(not_found("slot"));
            };
            let shop = load_shop(txn, &slot.shop_id)?;
            gate_child(shop, Some(&caller), Need::Owner, slot.active, "slot")?;
            txn.open_table(tables::SLOTS)?.remove(id.as_str())?;
            txn.open_multimap_table(tables::SHOP_TO_SLOTS)?
                .remove(slot.shop_id.as_str(), id.as_str())?;
            Ok(())
        })
        .await
}
