import { get } from "./state";

const formats = new Map<string, Intl.NumberFormat>();

/** Minor units (paise) to a price, in the campus currency. */
export function money(minor: number): string {
  const currency = get().fees?.currency ?? "INR";
  let f = formats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat("en-IN", { style: "currency", currency });
    formats.set(currency, f);
  }
  return f.format(minor / 100);
}

// Times read in the campus's zone (from /fees), not the device's: a cutoff
// is "17:00" for everyone on campus, whatever a phone is set to.
const zone = () => get().fees?.timezone;

export function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: zone() });
}

export function time(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone: zone() });
}

/** "1 h 04 min", "12:09" (under an hour), for a countdown. */
export function countdown(ms: number): string {
  if (ms <= 0) return "closed";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  return `${m}:${String(sec).padStart(2, "0")}`;
}

export const label = (s: string) => s.charAt(0) + s.slice(1).toLowerCase().replace(/_/g, " ");

export function minutesToClock(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

/** "08:30" (a time input's value) to minutes from midnight. */
export function clockToMinutes(v: string): number {
  const [h, m] = v.split(":").map(Number);
  return (h || 0) * 60 + (m || 0);
}

/** The minute of the day now on the campus clock (`fees.timezone`). */
export function campusMinute(at = new Date()): number {
  const timeZone = get().fees?.timezone;
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(at);
  const n = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return n("hour") * 60 + n("minute");
}

/**
 * The server's rule (`domain::hours`): open from `opens` up to `closes`,
 * past midnight when `closes` is earlier, all day when they are equal.
 */
export function isOpen(opens: number, closes: number, minute = campusMinute()): boolean {
  if (opens === closes) return true;
  if (opens < closes) return minute >= opens && minute < closes;
  return minute >= opens || minute < closes;
}

/** "Open 08:00–22:00", or "Open all day". */
export function hoursText(opens: number, closes: number): string {
  return opens === closes ? "Open all day" : `Open ${minutesToClock(opens)}–${minutesToClock(closes)}`;
}
