// time.js - calendar dates and times in a meter's own time zone.
//
// Dates are 'YYYY-MM-DD' strings: a day in the device's zone, as the
// consumption API takes them.  Arithmetic on them is plain calendar
// arithmetic (done in UTC so no daylight-saving shift can move a date).

import { ago } from '../ui.js';

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function utc(d) {
	return new Date(`${d}T00:00:00Z`);
}

function iso(dt) {
	return dt.toISOString().slice(0, 10);
}

export function isDate(s) {
	return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(utc(s).getTime()) && iso(utc(s)) === s;
}

// Today's date in zone tz.
export function todayIn(tz) {
	return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
}

export function addDays(d, n) {
	const t = utc(d);
	t.setUTCDate(t.getUTCDate() + n);
	return iso(t);
}

// The Monday of d's week (weeks run Monday to Sunday, as `current-week`).
export function weekStart(d) {
	return addDays(d, -((utc(d).getUTCDay() + 6) % 7));
}

export function monthStart(d) {
	return `${d.slice(0, 7)}-01`;
}

export function monthEnd(d) {
	const t = utc(monthStart(d));
	return iso(new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 0)));
}

export function addMonths(d, n) {
	const t = utc(monthStart(d));
	return iso(new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + n, 1)));
}

// 'Sunday 30 March 2025' and friends, for a date string.
export function fmtDate(d, opts = { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }) {
	return utc(d).toLocaleDateString(undefined, { timeZone: 'UTC', ...opts });
}

// The local wall-clock parts of an API timestamp such as
// '2025-03-30T03:00:00+02:00': its date, 'HH:MM' and offset as written.
export function parts(stamp) {
	const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.exec(stamp || '');
	return m ? { date: m[1], hm: m[2], offset: m[3] === 'Z' ? '+00:00' : m[3] } : { date: '', hm: stamp, offset: '' };
}

// A reading time for people, in the device's zone; the zone is named when
// it is not the browser's own.
export function absTime(stamp, tz) {
	if (!stamp) return 'never';
	const s = new Date(stamp).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz || undefined });
	return tz && tz !== browserZone ? `${s} (${tz})` : s;
}

export function sameZoneAsBrowser(tz) {
	return !tz || tz === browserZone;
}

// "5 min ago" for recent readings; a date once it is more than a week old.
export function since(stamp, tz) {
	if (!stamp) return 'never';
	const t = new Date(stamp).getTime();
	if (Date.now() - t < 7 * 86400e3) return ago(stamp);
	return `on ${new Date(t).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric', timeZone: tz || undefined })}`;
}
