/**
 * Local time as the tools print it: strftime() in the C locale (for `@<c>` in -F
 * formats and %I), the ISO-8601 timestamp with microseconds of %j, and the Unix time with
 * nanoseconds of %U. Times come from one reading per message, with the sub-millisecond
 * part from the high-resolution clock.
 */

export interface Instant {
  /** Whole seconds since the epoch. */
  readonly seconds: number;
  /** Nanoseconds within the second. */
  readonly nanoseconds: number;
  /** The same instant as a Date (local-time fields). */
  readonly date: Date;
}

export function now(): Instant {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  const nanoseconds = Math.min(999_999_999, Math.floor((ms - seconds * 1000) * 1e6));
  return { seconds, nanoseconds, date: new Date(seconds * 1000) };
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const pad = (n: number, width: number, fill = '0'): string => String(n).padStart(width, fill);

/** "+hhmm" / "-hhmm" of the local time zone at `date`. */
function zoneOffset(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${sign}${pad(Math.floor(abs / 60), 2)}${pad(abs % 60, 2)}`;
}

function zoneName(date: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(date)
    .find((p) => p.type === 'timeZoneName');
  return part?.value ?? '';
}

function dayOfYear(date: Date): number {
  const start = new Date(date.getFullYear(), 0, 1);
  return Math.round(
    (date.getTime() - start.getTime()) / 86_400_000 +
      (start.getTimezoneOffset() - date.getTimezoneOffset()) / 1440,
  );
}

/** ISO 8601 week number and week-based year (%V, %G). */
function isoWeek(date: Date): { week: number; year: number } {
  const d = new Date(Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()));
  const day = d.getUTCDay() === 0 ? 7 : d.getUTCDay();
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((d.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return { week, year: d.getUTCFullYear() };
}

/** One strftime conversion (the character after '%') in the C locale. */
export function strftimeConversion(c: string, date: Date, seconds: number): string {
  const h = date.getHours();
  switch (c) {
    case 'a':
      return (DAYS[date.getDay()] ?? '').slice(0, 3);
    case 'A':
      return DAYS[date.getDay()] ?? '';
    case 'b':
    case 'h':
      return (MONTHS[date.getMonth()] ?? '').slice(0, 3);
    case 'B':
      return MONTHS[date.getMonth()] ?? '';
    case 'c':
      return `${strftimeConversion('a', date, seconds)} ${strftimeConversion('b', date, seconds)} ${pad(date.getDate(), 2, ' ')} ${strftimeConversion('T', date, seconds)} ${date.getFullYear()}`;
    case 'C':
      return pad(Math.floor(date.getFullYear() / 100), 2);
    case 'd':
      return pad(date.getDate(), 2);
    case 'D':
      return `${pad(date.getMonth() + 1, 2)}/${pad(date.getDate(), 2)}/${pad(date.getFullYear() % 100, 2)}`;
    case 'e':
      return pad(date.getDate(), 2, ' ');
    case 'F':
      return `${date.getFullYear()}-${pad(date.getMonth() + 1, 2)}-${pad(date.getDate(), 2)}`;
    case 'g':
      return pad(isoWeek(date).year % 100, 2);
    case 'G':
      return String(isoWeek(date).year);
    case 'H':
      return pad(h, 2);
    case 'I':
      return pad(h % 12 === 0 ? 12 : h % 12, 2);
    case 'j':
      return pad(dayOfYear(date) + 1, 3);
    case 'k':
      return pad(h, 2, ' ');
    case 'l':
      return pad(h % 12 === 0 ? 12 : h % 12, 2, ' ');
    case 'm':
      return pad(date.getMonth() + 1, 2);
    case 'M':
      return pad(date.getMinutes(), 2);
    case 'n':
      return '\n';
    case 'p':
      return h < 12 ? 'AM' : 'PM';
    case 'P':
      return h < 12 ? 'am' : 'pm';
    case 'r':
      return `${strftimeConversion('I', date, seconds)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)} ${strftimeConversion('p', date, seconds)}`;
    case 'R':
      return `${pad(h, 2)}:${pad(date.getMinutes(), 2)}`;
    case 's':
      return String(seconds);
    case 'S':
      return pad(date.getSeconds(), 2);
    case 't':
      return '\t';
    case 'T':
      return `${pad(h, 2)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)}`;
    case 'u':
      return String(date.getDay() === 0 ? 7 : date.getDay());
    case 'U':
      return pad(Math.floor((dayOfYear(date) + 7 - date.getDay()) / 7), 2);
    case 'V':
      return pad(isoWeek(date).week, 2);
    case 'w':
      return String(date.getDay());
    case 'W':
      return pad(Math.floor((dayOfYear(date) + 7 - ((date.getDay() + 6) % 7)) / 7), 2);
    case 'x':
      return strftimeConversion('D', date, seconds);
    case 'X':
      return strftimeConversion('T', date, seconds);
    case 'y':
      return pad(date.getFullYear() % 100, 2);
    case 'Y':
      return String(date.getFullYear());
    case 'z':
      return zoneOffset(date);
    case 'Z':
      return zoneName(date);
    case '%':
      return '%';
    default:
      // glibc copies an unknown conversion through as written.
      return `%${c}`;
  }
}

/** %j's "tst": 2026-11-24T19:02:12.038514+0000 (2.0.13+; 2.0.11 had a stray 'Z'). */
export function isoMicroseconds(instant: Instant): string {
  const d = instant.date;
  const base = `${strftimeConversion('F', d, instant.seconds)}T${strftimeConversion('T', d, instant.seconds)}`;
  return `${base}.${pad(Math.floor(instant.nanoseconds / 1000), 6)}${zoneOffset(d)}`;
}

/** %I: strftime("%FT%T%z"). */
export function isoSeconds(instant: Instant): string {
  const d = instant.date;
  return `${strftimeConversion('F', d, instant.seconds)}T${strftimeConversion('T', d, instant.seconds)}${zoneOffset(d)}`;
}
