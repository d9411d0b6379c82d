//! PDF documents: an order's receipt and a batch's pick list (SPEC §7).
//!
//! Pure functions over records the caller has already loaded: no store, no
//! clock, no I/O, so the HTTP layer reads once and renders off the async
//! runtime. Text is set in the PDF standard-14 Helvetica fonts, which every
//! viewer has, so the binary ships no font file. Those fonts cover WinAnsi
//! (Latin-1 plus a few typographic signs) only: a character outside it — a
//! product named in Devanagari, say — prints as `?`. OTPs are never printed:
//! whoever holds the paper must not be able to complete a delivery with it.

use std::cmp::Ordering;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use printpdf::{
    BuiltinFont, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, TextItem,
};

use crate::domain::batch::{self, Batch, BatchStatus};
use crate::domain::order::{Order, PaymentMethod, PaymentStatus};
use crate::domain::shop::Shop;

// A4 portrait, in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 40.0;
const RIGHT: f32 = PAGE_W - 40.0;
const TOP: f32 = PAGE_H - 40.0;
/// Text stays above this; the footer goes below it.
const BOTTOM: f32 = 56.0;

/// An amount in minor units as `123.45 INR`.
pub fn money(minor: i64, currency: &str) -> String {
    format!("{} {currency}", crate::domain::money::show(minor))
}

/// The pick list a runner carries uphill: the orders still to be carried
/// (see [`crate::domain::batch::to_carry`]) grouped by building, then by room, each with a tick
/// box, its items, total and payment method; then the batch totals.
/// `names` maps the orders' students (user ids) to their names, so the
/// runner knows whom to ask for at the door; `tz` is the campus zone every
/// time is printed in.
pub fn pick_list(
    shop: &Shop,
    batch: &Batch,
    orders: &[Order],
    names: &HashMap<String, String>,
    currency: &str,
    tz: Tz,
) -> Vec<u8> {
    let mut carried: Vec<&Order> = orders
        .iter()
        .filter(|o| batch::to_carry(batch, o))
        .collect();
    carried.sort_by(|a, b| {
        let (x, y) = (&a.address, &b.address);
        natural_cmp(&x.building_name, &y.building_name)
            .then_with(|| x.building_id.cmp(&y.building_id))
            .then_with(|| natural_cmp(&x.room, &y.room))
            .then_with(|| a.display_id.cmp(&b.display_id))
    });

    let mut s = Sheet::new();
    s.line(20.0);
    s.text(
        LEFT,
        Font::Bold,
        16.0,
        &fit(
            &format!("Pick list: {}", clean(&shop.name)),
            Font::Bold,
            16.0,
            RIGHT - LEFT,
        ),
    );
    s.line(15.0);
    s.text(
        LEFT,
        Font::Regular,
        10.0,
        &fit(
            &format!(
                "{} · cutoff {} · {}",
                clean(&batch.label),
                stamp(batch.cutoff_at, tz),
                batch_status_label(batch.status)
            ),
            Font::Regular,
            10.0,
            RIGHT - LEFT,
        ),
    );
    s.line(13.0);
    s.text(
        LEFT,
        Font::Regular,
        9.0,
        &fit(
            &format!("Batch {} · {}", batch.id, clean(&shop.location)),
            Font::Regular,
            9.0,
            RIGHT - LEFT,
        ),
    );
    if batch.status == BatchStatus::Open {
        s.line(13.0);
        s.text(
            LEFT,
            Font::Oblique,
            9.0,
            "Preview: the batch is still open, so orders may still join or leave it.",
        );
    }
    s.gap(6.0);
    s.rule();

    if carried.is_empty() {
        s.line(18.0);
        s.text(LEFT, Font::Regular, 11.0, "No orders to carry.");
    }
    let mut i = 0;
    while i < carried.len() {
        let building = &carried[i].address.building_id;
        let group_len = carried[i..]
            .iter()
            .take_while(|o| &o.address.building_id == building)
            .count();
        let group = &carried[i..i + group_len];
        // Room for " (continued)" and the count after the name.
        let name = fit(
            &clean(&group[0].address.building_name),
            Font::Bold,
            12.5,
            RIGHT - LEFT - 120.0,
        );
        let heading = format!("{name} ({})", plural(group_len, "order"));
        // Never leave a heading alone at the foot of a page.
        s.room(BUILDING_H + order_height(group[0]));
        s.line(BUILDING_H);
        s.text(LEFT, Font::Bold, 12.5, &heading);
        for o in group {
            if s.room(order_height(o)) {
                s.line(BUILDING_H);
                s.text(LEFT, Font::Bold, 12.5, &format!("{name} (continued)"));
            }
            let name = names.get(&o.user_id).map_or("", String::as_str);
            pick_entry(&mut s, o, name, currency);
        }
        i += group_len;
    }

    let count = |m: PaymentMethod| carried.iter().filter(move |o| o.payment_method == m);
    let units: u64 = carried
        .iter()
        .flat_map(|o| &o.items)
        .map(|it| it.quantity as u64)
        .sum();
    let cash_due: i64 = count(PaymentMethod::Cash)
        .filter(|o| o.payment_status == PaymentStatus::Pending)
        .map(|o| o.total)
        .sum();
    let cash_orders = count(PaymentMethod::Cash).count();
    let upi: i64 = count(PaymentMethod::Upi).map(|o| o.total).sum();
    let upi_orders = count(PaymentMethod::Upi).count();
    let upi_unpaid = count(PaymentMethod::Upi)
        .filter(|o| o.payment_status == PaymentStatus::Pending)
        .count();
    let total: i64 = carried.iter().map(|o| o.total).sum();
    let rows = [
        ("Orders", carried.len().to_string()),
        ("Items", units.to_string()),
        (
            "Cash to collect",
            format!(
                "{} ({})",
                money(cash_due, currency),
                plural(cash_orders, "order")
            ),
        ),
        (
            "UPI",
            format!(
                "{} ({}, {upi_unpaid} not yet marked paid)",
                money(upi, currency),
                plural(upi_orders, "order")
            ),
        ),
        ("Total", money(total, currency)),
    ];
    s.gap(6.0);
    s.room(24.0 + 15.0 * rows.len() as f32);
    s.rule();
    s.line(18.0);
    s.text(LEFT, Font::Bold, 12.5, "Batch totals");
    for (label, value) in rows {
        s.line(15.0);
        s.text(LEFT, Font::Bold, 10.0, label);
        s.text(LEFT + 110.0, Font::Regular, 10.0, &value);
    }

    // What to pack, summed over the batch: one pass along the shelves.
    let prep = batch::prep(batch, orders);
    if !prep.is_empty() {
        s.gap(6.0);
        s.room(24.0 + 15.0);
        s.rule();
        s.line(18.0);
        s.text(LEFT, Font::Bold, 12.5, "To pack");
        for l in &prep {
            if s.room(15.0) {
                s.line(18.0);
                s.text(LEFT, Font::Bold, 12.5, "To pack (continued)");
            }
            s.line(15.0);
            s.text(LEFT, Font::Bold, 10.0, &format!("{} ×", l.quantity));
            let name = fit(&clean(&l.name), Font::Regular, 10.0, RIGHT - LEFT - 50.0);
            s.text(LEFT + 50.0, Font::Regular, 10.0, &name);
        }
    }

    let footer = format!(
        "{} · {} · pick list",
        clean(&shop.name),
        clean(&batch.label)
    );
    s.finish(&format!("Pick list {}", batch.label), &footer)
}

const BUILDING_H: f32 = 22.0;
const ORDER_H: f32 = 17.0;
const DETAIL_H: f32 = 12.5;
const ORDER_GAP: f32 = 5.0;

fn order_notes(o: &Order) -> Vec<String> {
    let mut out = Vec::new();
    let where_ = clean(&o.address.notes);
    if !where_.is_empty() {
        out.push(format!("Where: {where_}"));
    }
    let note = clean(&o.notes);
    if !note.is_empty() {
        out.push(format!("Note: {note}"));
    }
    out
}

fn order_height(o: &Order) -> f32 {
    ORDER_H + DETAIL_H * (o.items.len() + order_notes(o).len()) as f32 + ORDER_GAP
}

fn pick_entry(s: &mut Sheet, o: &Order, student: &str, currency: &str) {
    s.line(ORDER_H);
    s.tick_box(LEFT + 2.0, 10.0);
    s.text(LEFT + 20.0, Font::Bold, 11.0, &o.display_id);
    let mut place = format!("Room {}", clean(&o.address.room));
    let label = clean(&o.address.label);
    if !label.is_empty() {
        place.push_str(&format!(" · {label}"));
    }
    let student = clean(student);
    if !student.is_empty() {
        place.push_str(&format!(" · {student}"));
    }
    let place_x = LEFT + 90.0;
    let pay_x = 345.0;
    s.text(
        place_x,
        Font::Regular,
        10.0,
        &fit(&place, Font::Regular, 10.0, pay_x - place_x - 8.0),
    );
    s.text(
        pay_x,
        Font::Regular,
        10.0,
        &format!(
            "{} · {}",
            method_label(o.payment_method),
            payment_label(o.payment_status)
        ),
    );
    s.text_right(RIGHT, Font::Bold, 10.0, &money(o.total, currency));
    let detail_x = LEFT + 28.0;
    for it in &o.items {
        s.line(DETAIL_H);
        let line = format!("{} × {}", it.quantity, clean(&it.name));
        s.text(
            detail_x,
            Font::Regular,
            9.5,
            &fit(&line, Font::Regular, 9.5, RIGHT - detail_x),
        );
    }
    for n in order_notes(o) {
        s.line(DETAIL_H);
        s.text(
            detail_x,
            Font::Oblique,
            9.0,
            &fit(&n, Font::Oblique, 9.0, RIGHT - detail_x),
        );
    }
    s.gap(ORDER_GAP);
}

/// A customer's receipt for one order: the shop, the order, its items with
/// prices, the fees and total, payment and the delivery address.
/// `student` is the name of the order's student; times print in `tz`.
pub fn receipt(shop: &Shop, order: &Order, student: &str, currency: &str, tz: Tz) -> Vec<u8> {
    let o = order;
    let mut s = Sheet::new();
    s.line(22.0);
    s.text(
        LEFT,
        Font::Bold,
        18.0,
        &fit(&clean(&shop.name), Font::Bold, 18.0, RIGHT - LEFT),
    );
    s.line(14.0);
    s.text(
        LEFT,
        Font::Regular,
        10.0,
        &fit(&clean(&shop.location), Font::Regular, 10.0, RIGHT - LEFT),
    );
    s.gap(10.0);
    s.line(20.0);
    s.text(LEFT, Font::Bold, 14.0, &format!("Receipt {}", o.display_id));

    let mut deliver_to = format!(
        "Room {}, {}",
        clean(&o.address.room),
        clean(&o.address.building_name)
    );
    let label = clean(&o.address.label);
    if !label.is_empty() {
        deliver_to = format!("{label}: {deliver_to}");
    }
    let delivery = match (&o.batch_id, o.cutoff_at) {
        (Some(_), Some(c)) => format!("Batch delivery, cutoff {}", stamp(c, tz)),
        (Some(_), None) => "Batch delivery".to_string(),
        (None, _) => "Direct delivery".to_string(),
    };
    let mut facts = vec![
        ("Order", o.display_id.clone()),
        ("For", clean(student)),
        ("Date", stamp(o.created_at, tz)),
        ("Status", o.status.label().to_string()),
        (
            "Payment",
            format!(
                "{} · {}",
                method_label(o.payment_method),
                payment_label(o.payment_status)
            ),
        ),
        ("Delivery", delivery),
        ("Deliver to", deliver_to),
    ];
    let where_ = clean(&o.address.notes);
    if !where_.is_empty() {
        facts.push(("Where", where_));
    }
    let note = clean(&o.notes);
    if !note.is_empty() {
        facts.push(("Note", note));
    }
    if let Some(r) = &o.cancellation_reason {
        facts.push(("Cancelled", clean(r)));
    }
    if let Some(r) = &o.failure_reason {
        facts.push(("Delivery failed", clean(r)));
    }
    s.gap(4.0);
    let value_x = LEFT + 95.0;
    for (k, v) in facts {
        s.line(14.0);
        s.text(LEFT, Font::Bold, 10.0, k);
        s.text(
            value_x,
            Font::Regular,
            10.0,
            &fit(&v, Font::Regular, 10.0, RIGHT - value_x),
        );
    }

    const ROW: f32 = 15.0;
    let (unit_r, qty_r) = (RIGHT - 175.0, RIGHT - 110.0);
    let table_head = |s: &mut Sheet| {
        s.line(ROW);
        s.text(LEFT, Font::Bold, 10.0, "Item");
        s.text_right(unit_r, Font::Bold, 10.0, "Unit price");
        s.text_right(qty_r, Font::Bold, 10.0, "Qty");
        s.text_right(RIGHT, Font::Bold, 10.0, "Line total");
        s.gap(3.0);
        s.rule();
    };
    s.gap(14.0);
    table_head(&mut s);
    for it in &o.items {
        if s.room(ROW) {
            table_head(&mut s);
        }
        s.line(ROW);
        let name_w = unit_r - LEFT - 90.0;
        s.text(
            LEFT,
            Font::Regular,
            10.0,
            &fit(&clean(&it.name), Font::Regular, 10.0, name_w),
        );
        s.text_right(unit_r, Font::Regular, 10.0, &money(it.unit_price, currency));
        s.text_right(qty_r, Font::Regular, 10.0, &it.quantity.to_string());
        s.text_right(RIGHT, Font::Regular, 10.0, &money(it.line_total, currency));
    }
    s.gap(4.0);
    s.room(ROW * 4.0 + 8.0);
    s.rule();
    for (label, amount, font) in [
        ("Item total", o.item_total, Font::Regular),
        ("Delivery fee", o.delivery_fee, Font::Regular),
        ("Platform fee", o.platform_fee, Font::Regular),
        ("Total", o.total, Font::Bold),
    ] {
        s.line(ROW);
        s.text_right(qty_r, font, 10.0, label);
        s.text_right(RIGHT, font, 10.0, &money(amount, currency));
    }

    let footer = format!("{} · receipt {}", clean(&shop.name), o.display_id);
    s.finish(&format!("Receipt {}", o.display_id), &footer)
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Campus time as a person reads it, with its zone: `2026-12-02 17:00 IST`.
fn stamp(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

fn batch_status_label(s: BatchStatus) -> &'static str {
    match s {
        BatchStatus::Open => "open",
        BatchStatus::Locked => "locked",
        BatchStatus::InTransit => "in transit",
        BatchStatus::Completed => "completed",
        BatchStatus::Cancelled => "cancelled",
    }
}

fn method_label(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Cash => "Cash",
        PaymentMethod::Upi => "UPI",
    }
}

fn payment_label(p: PaymentStatus) -> &'static str {
    match p {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Paid => "paid",
    }
}

/// User text on one line: control characters (newlines in notes) become
/// spaces and runs of whitespace collapse.
fn clean(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Orders "A-2" before "A-10": digit runs compare as numbers, the rest
/// case-insensitively, so rooms come in the order a runner walks them.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut n = String::new();
                    while let Some(c) = it.next_if(char::is_ascii_digit) {
                        n.push(c);
                    }
                    n.trim_start_matches('0').to_string()
                };
                let (n, m) = (take(&mut x), take(&mut y));
                let o = n.len().cmp(&m.len()).then_with(|| n.cmp(&m));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(c), Some(d)) => {
                let o = c.to_lowercase().cmp(d.to_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                x.next();
                y.next();
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Font {
    Regular,
    Bold,
    Oblique,
}

impl Font {
    fn builtin(self) -> BuiltinFont {
        match self {
            Font::Regular => BuiltinFont::Helvetica,
            Font::Bold => BuiltinFont::HelveticaBold,
            Font::Oblique => BuiltinFont::HelveticaOblique,
        }
    }
}

/// Advance widths (1/1000 em) of ASCII 32..=126 from the standard AFMs;
/// Helvetica-Oblique shares the regular face's. Enough to right-align
/// amounts and cut long names without a font file.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0..?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P.._
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // `..o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p..~
];

fn width(s: &str, font: Font, size: f32) -> f32 {
    let table = match font {
        Font::Bold => &HELVETICA_BOLD,
        Font::Regular | Font::Oblique => &HELVETICA,
    };
    let units: u32 = s
        .chars()
        .map(|c| match c as u32 {
            cp @ 32..=126 => table[(cp - 32) as usize] as u32,
            // As wide as the widest Latin-1 glyphs (Æ, Œ): text may end a
            // little early, never overflow.
            _ => 1000,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// `s`, cut with "..." so it fits in `max` points.
fn fit(s: &str, font: Font, size: f32, max: f32) -> String {
    if width(s, font, size) <= max {
        return s.to_string();
    }
    let mut out: String = s.to_string();
    while !out.is_empty() && width(&out, font, size) + width("...", font, size) > max {
        out.pop();
    }
    format!("{}...", out.trim_end())
}

/// A flow of lines down A4 pages: `line` moves down and breaks the page
/// when the next line would not fit; text is then drawn on that baseline.
struct Sheet {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Sheet {
    fn new() -> Self {
        Sheet {
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Makes room for `h` points, starting a new page if this one is too
    /// full; true when it did. A block taller than a page starts at the top
    /// of one and flows on line by line.
    fn room(&mut self, h: f32) -> bool {
        if self.y - h < BOTTOM && self.y < TOP {
            self.pages.push(Vec::new());
            self.y = TOP;
            true
        } else {
            false
        }
    }

    fn line(&mut self, h: f32) -> bool {
        let broke = self.room(h);
        self.y -= h;
        broke
    }

    fn gap(&mut self, h: f32) {
        self.y = (self.y - h).max(BOTTOM);
    }

    fn text(&mut self, x: f32, font: Font, size: f32, s: &str) {
        let y = self.y;
        put_text(self.ops(), x, y, font, size, s);
    }

    fn text_right(&mut self, right: f32, font: Font, size: f32, s: &str) {
        let x = right - width(s, font, size);
        self.text(x, font, size, s);
    }

    fn rule(&mut self) {
        let y = self.y - 4.0;
        let ops = self.ops();
        ops.push(Op::SetOutlineThickness { pt: Pt(0.5) });
        ops.push(Op::DrawLine {
            line: Line {
                points: vec![
                    LinePoint {
                        p: Point {
                            x: Pt(LEFT),
                            y: Pt(y),
                        },
                        bezier: false,
                    },
                    LinePoint {
                        p: Point {
                            x: Pt(RIGHT),
                            y: Pt(y),
                        },
                        bezier: false,
                    },
                ],
                is_closed: false,
            },
        });
        self.y -= 6.0;
    }

    /// An empty square the runner ticks, sitting on the current baseline.
    fn tick_box(&mut self, x: f32, size: f32) {
        let y = self.y - 1.5;
        let ops = self.ops();
        ops.push(Op::SetOutlineThickness { pt: Pt(0.9) });
        ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x),
                y: Pt(y),
                width: Pt(size),
                height: Pt(size),
                mode: Some(PaintMode::Stroke),
                winding_order: None,
            },
        });
    }

    fn finish(mut self, title: &str, footer: &str) -> Vec<u8> {
        let n = self.pages.len();
        let footer = fit(footer, Font::Regular, 8.0, RIGHT - LEFT - 80.0);
        let pages = self
            .pages
            .drain(..)
            .enumerate()
            .map(|(i, mut ops)| {
                put_text(&mut ops, LEFT, 30.0, Font::Regular, 8.0, &footer);
                let num = format!("Page {} of {n}", i + 1);
                put_text(
                    &mut ops,
                    RIGHT - width(&num, Font::Regular, 8.0),
                    30.0,
                    Font::Regular,
                    8.0,
                    &num,
                );
                PdfPage::new(Mm(210.0), Mm(297.0), ops)
            })
            .collect();
        let mut doc = PdfDocument::new(title);
        doc.with_pages(pages);
        let mut warnings = Vec::new();
        doc.save(&PdfSaveOptions::default(), &mut warnings)
    }
}

fn put_text(ops: &mut Vec<Op>, x: f32, y: f32, font: Font, size: f32, s: &str) {
    ops.extend([
        Op::StartTextSection,
        Op::SetFont {
            font: PdfFontHandle::Builtin(font.builtin()),
            size: Pt(size),
        },
        Op::SetTextCursor {
            pos: Point { x: Pt(x), y: Pt(y) },
        },
        Op::ShowText {
            items: vec![TextItem::Text(s.to_string())],
        },
        Op::EndTextSection,
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kolkata() -> Tz {
        "Asia/Kolkata".parse().unwrap()
    }

    /// Every test order's student is `student`.
    fn names() -> HashMap<String, String> {
        HashMap::from([("student".to_string(), "Kavya Rao".to_string())])
    }
    use crate::domain::batch::test_support::batch;
    use crate::domain::order::OrderStatus;
    use crate::domain::order::test_support::{at, item, order};
    use crate::domain::shop::{ShopType, Verification};

    fn shop() -> Shop {
        Shop {
            id: "shop1".into(),
            owner_id: "owner".into(),
            name: "Foot Hill Canteen".into(),
            description: String::new(),
            location: "Market row 3".into(),
            shop_type: ShopType::Canteen,
            opens_at: 480,
            closes_at: 1320,
            image: None,
            upi_id: None,
            upi_qr_image: None,
            is_active: true,
            accepting_orders: true,
            verification: Verification::Verified,
            verification_note: None,
            min_order_value: 0,
            delivery_fee: 1000,
            direct_delivery_fee: 0,
            delivers_to: vec![],
            staff: vec![],
            deleted_at: None,
            created_at: at("2026-11-01T00:00:00Z"),
            updated_at: at("2026-11-01T00:00:00Z"),
        }
    }

    /// The text of every page, and how many pages there are.
    fn text_of(pdf: &[u8]) -> (String, usize) {
        assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
        let doc = lopdf::Document::load_mem(pdf).expect("a PDF lopdf can read");
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        (doc.extract_text(&pages).expect("text"), pages.len())
    }

    fn pos(text: &str, needle: &str) -> usize {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"))
    }

    #[test]
    fn money_is_printed_from_minor_units() {
        assert_eq!(money(12345, "INR"), "123.45 INR");
        assert_eq!(money(5, "INR"), "0.05 INR");
        assert_eq!(money(0, "EUR"), "0.00 EUR");
        assert_eq!(money(-150, "INR"), "-1.50 INR");
        assert_eq!(money(100_000_000, "INR"), "1000000.00 INR");
    }

    #[test]
    fn rooms_sort_as_a_runner_walks_them() {
        let mut rooms = vec!["A-10", "a-2", "B-1", "A-9", "A-02b", "101", "20"];
        rooms.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            rooms,
            vec!["20", "101", "a-2", "A-02b", "A-9", "A-10", "B-1"]
        );
        assert_eq!(natural_cmp("A-2", "A-2"), Ordering::Equal);
    }

    #[test]
    fn user_text_is_one_line_and_fits() {
        assert_eq!(clean("  Tea\nwith\t\tmilk \u{7} "), "Tea with milk");
        let long = "Extra large paneer tikka roll ".repeat(10);
        let cut = fit(&long, Font::Regular, 10.0, 200.0);
        assert!(cut.ends_with("..."), "{cut}");
        assert!(width(&cut, Font::Regular, 10.0) <= 200.0);
        assert_eq!(fit("Tea", Font::Bold, 10.0, 200.0), "Tea");
        // The AFM widths: digits are tabular, bold is wider.
        assert_eq!(width("0123456789", Font::Regular, 10.0), 55.6);
        assert!(width("Total", Font::Bold, 10.0) > width("Total", Font::Regular, 10.0));
    }

    #[test]
    fn pick_list_groups_by_building_then_room_with_totals_and_no_otp() {
        let mut cash = order("UP-CCCCC", "Hostel A", "A-10", OrderStatus::Batched);
        cash.payment_method = PaymentMethod::Cash;
        cash.address.notes = "Ring twice\nthen wait".into();
        let mut moving = order("UP-DDDDD", "Hostel B", "B-3", OrderStatus::OutForDelivery);
        moving.otp = Some("555123".into());
        let orders = vec![
            order("UP-BBBBB", "Hostel B", "B-12", OrderStatus::Batched),
            cash,
            order("UP-AAAAA", "Hostel A", "A-2", OrderStatus::Batched),
            moving,
            order("UP-EEEEE", "Hostel A", "A-1", OrderStatus::Cancelled),
            order("UP-FFFFF", "Hostel A", "A-1", OrderStatus::Completed),
            order("UP-GGGGG", "Hostel A", "A-1", OrderStatus::New),
        ];
        let pdf = pick_list(
            &shop(),
            &batch(BatchStatus::Locked),
            &orders,
            &names(),
            "INR",
            kolkata(),
        );
        let (text, pages) = text_of(&pdf);
        assert_eq!(pages, 1);
        assert!(text.contains("Pick list: Foot Hill Canteen"), "{text}");
        assert!(text.contains("Night batch · cutoff 2026-11-22 23:59 IST · locked"));
        // Hostel A, then Hostel B (B-3, B-12).
        let order_of = [
            pos(&text, "Hostel A (2 orders)"),
            pos(&text, "UP-AAAAA"),
            pos(&text, "Room A-2 · Room"),
            pos(&text, "UP-CCCCC"),
            pos(&text, "Room A-10 · Room"),
            pos(&text, "Hostel B (2 orders)"),
            pos(&text, "UP-DDDDD"),
            pos(&text, "UP-BBBBB"),
        ];
        assert!(order_of.is_sorted(), "{order_of:?}\n{text}");
        for gone in ["UP-EEEEE", "UP-FFFFF", "UP-GGGGG"] {
            assert!(!text.contains(gone), "{gone} is not carried:\n{text}");
        }
        assert!(text.contains("2 × Masala Tea"));
        assert!(text.contains("1 × Samosa"));
        assert!(text.contains("Where: Ring twice then wait"));
        assert!(text.contains("Cash · pending"));
        assert!(text.contains("UPI · pending"));
        assert!(text.contains("52.50 INR"));
        assert!(text.contains("Orders\n4\n"), "{text}");
        assert!(text.contains("Items\n12\n"), "{text}");
        assert!(
            text.contains("Cash to collect\n52.50 INR (1 order)"),
            "{text}"
        );
        assert!(text.contains("UPI\n157.50 INR (3 orders, 3 not yet marked paid)"));
        assert!(text.contains("Total\n210.00 INR"));
        // Four carried orders of 2 teas and 1 samosa each, packed at once.
        assert!(
            text.contains("To pack\n8 ×\nMasala Tea\n4 ×\nSamosa"),
            "{text}"
        );
        for otp in ["987612", "555123"] {
            assert!(!text.contains(otp), "an OTP was printed");
        }
    }

    #[test]
    fn long_names_are_cut_to_the_page() {
        let mut sh = shop();
        sh.name = "Very Long Shop Name ".repeat(8);
        let mut o = order("UP-AAAAA", &"Block ".repeat(30), "1", OrderStatus::Batched);
        o.items[0].name = "W".repeat(200);
        let (text, _) = text_of(&pick_list(
            &sh,
            &batch(BatchStatus::Locked),
            &[o],
            &names(),
            "INR",
            kolkata(),
        ));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Pick list: Very") && l.ends_with("..."))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Block Block") && l.ends_with("... (1 order)"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("2 × WWW") && l.ends_with("..."))
        );
        assert!(text.contains("UP-AAAAA"));
    }

    #[test]
    fn an_open_batch_previews_its_waiting_orders() {
        let orders = vec![
            order("UP-AAAAA", "Hostel A", "1", OrderStatus::New),
            order("UP-BBBBB", "Hostel A", "2", OrderStatus::Rescheduled),
            order("UP-CCCCC", "Hostel A", "3", OrderStatus::Cancelled),
        ];
        let (text, _) = text_of(&pick_list(
            &shop(),
            &batch(BatchStatus::Open),
            &orders,
            &names(),
            "INR",
            kolkata(),
        ));
        assert!(text.contains("UP-AAAAA") && text.contains("UP-BBBBB"));
        assert!(!text.contains("UP-CCCCC"));
        assert!(text.contains("Preview"));

        let mut elsewhere = order("UP-DDDDD", "Hostel A", "1", OrderStatus::Batched);
        elsewhere.batch_id = Some("other".into());
        let (text, _) = text_of(&pick_list(
            &shop(),
            &batch(BatchStatus::Locked),
            &[elsewhere],
            &names(),
            "INR",
            kolkata(),
        ));
        assert!(!text.contains("UP-DDDDD"));
        assert!(text.contains("No orders to carry."));
        assert!(text.contains("Orders\n0\n"));
    }

    #[test]
    fn a_hundred_orders_run_over_pages_without_losing_one() {
        let orders: Vec<Order> = (0..100)
            .map(|i| {
                let mut o = order(
                    &format!("UP-{i:05}"),
                    if i % 2 == 0 { "Hostel A" } else { "Hostel B" },
                    &format!("R-{i}"),
                    OrderStatus::Batched,
                );
                o.notes = "Please bring change".into();
                o
            })
            .collect();
        let (text, pages) = text_of(&pick_list(
            &shop(),
            &batch(BatchStatus::Locked),
            &orders,
            &names(),
            "INR",
            kolkata(),
        ));
        assert!(pages > 2, "{pages} pages");
        for i in 0..100 {
            assert!(text.contains(&format!("UP-{i:05}")), "UP-{i:05} is missing");
        }
        assert!(text.contains(&format!("Page {pages} of {pages}")));
        assert!(text.contains("Hostel A (continued)") || text.contains("Hostel B (continued)"));
        assert!(text.contains("Orders\n100\n"));
        assert!(text.contains("Total\n5250.00 INR"));
    }

    #[test]
    fn receipt_lists_prices_fees_payment_and_address_but_no_otp() {
        let mut o = order("UP-7K3Q9", "Hostel A", "A-12", OrderStatus::Batched);
        o.address.notes = "Second floor".into();
        o.notes = "Less sugar".into();
        let (text, pages) = text_of(&receipt(&shop(), &o, "Kavya Rao", "INR", kolkata()));
        assert_eq!(pages, 1);
        for want in [
            "Foot Hill Canteen",
            "Market row 3",
            "Receipt UP-7K3Q9",
            "2026-11-22 15:45 IST",
            "For\nKavya Rao",
            "Batched",
            "UPI · pending",
            "Room: Room A-12, Hostel A",
            "Second floor",
            "Less sugar",
            "Masala Tea\n10.00 INR\n2\n20.00 INR",
            "Samosa\n20.00 INR\n1\n20.00 INR",
            "Item total\n40.00 INR",
            "Delivery fee\n10.00 INR",
            "Platform fee\n2.50 INR",
            "Total\n52.50 INR",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert!(!text.contains("987612"), "the OTP was printed");
    }

    #[test]
    fn a_receipt_of_many_items_repeats_the_table_head() {
        let mut o = order("UP-7K3Q9", "Hostel A", "A-12", OrderStatus::Completed);
        o.items = (0..50)
            .map(|i| item(&format!("Item {i}"), 100, 1))
            .collect();
        let (text, pages) = text_of(&receipt(&shop(), &o, "Kavya Rao", "INR", kolkata()));
        assert_eq!(pages, 2);
        assert_eq!(text.matches("Unit price").count(), 2);
        assert!(text.contains("Item 49") && text.contains("Total\n52.50 INR"));
    }
}
