/**
 * C strftime() in the C locale and the local time zone: the broker's
 * log_timestamp_format and the tools' `@<c>` format codes, %I and %j. One copy for both,
 * since the command-line tools may not import the broker.
 */
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTH_NAMES = [
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

const pad = (n: number, width = 2, fill = '0'): string => String(n).padStart(width, fill);

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  return Math.round((startOfDay(d) - start.getTime()) / 86_400_000);
}

function startOfDay(d: Date): number {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** ISO 8601 week-based year and week number (%G, %V). */
function isoWeek(d: Date): { year: number; week: number } {
  const date = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay();
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  return {
    year: date.getUTCFullYear(),
    week: Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7),
  };
}

/** "+hhmm" / "-hhmm" of the local time zone at `d` (%z). */
export function zoneOffset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

function zoneName(d: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName');
  return part?.value ?? '';
}

const hour12 = (d: Date): number => d.getHours() % 12 || 12;

/** strftime conversions in the C locale, local time. */
const CONVERSIONS: Readonly<Record<string, (d: Date) => string>> = {
  a: (d) => (DAY_NAMES[d.getDay()] ?? '').slice(0, 3),
  A: (d) => DAY_NAMES[d.getDay()] ?? '',
  b: (d) => (MONTH_NAMES[d.getMonth()] ?? '').slice(0, 3),
  h: (d) => (MONTH_NAMES[d.getMonth()] ?? '').slice(0, 3),
  B: (d) => MONTH_NAMES[d.getMonth()] ?? '',
  c: (d) => strftime('%a %b %e %H:%M:%S %Y', d),
  C: (d) => pad(Math.floor(d.getFullYear() / 100)),
  d: (d) => pad(d.getDate()),
  D: (d) => strftime('%m/%d/%y', d),
  e: (d) => pad(d.getDate(), 2, ' '),
  F: (d) => strftime('%Y-%m-%d', d),
  g: (d) => pad(isoWeek(d).year % 100),
  G: (d) => String(isoWeek(d).year),
  H: (d) => pad(d.getHours()),
  I: (d) => pad(hour12(d)),
  j: (d) => pad(dayOfYear(d) + 1, 3),
  k: (d) => pad(d.getHours(), 2, ' '),
  l: (d) => pad(hour12(d), 2, ' '),
  m: (d) => pad(d.getMonth() + 1),
  M: (d) => pad(d.getMinutes()),
  n: () => '\n',
  p: (d) => (d.getHours() < 12 ? 'AM' : 'PM'),
  P: (d) => (d.getHours() < 12 ? 'am' : 'pm'),
  r: (d) => strftime('%I:%M:%S %p', d),
  R: (d) => strftime('%H:%M', d),
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  S: (d) => pad(d.getSeconds()),
  t: () => '\t',
  T: (d) => strftime('%H:%M:%S', d),
  u: (d) => String(d.getDay() === 0 ? 7 : d.getDay()),
  U: (d) => pad(Math.floor((dayOfYear(d) + 7 - d.getDay()) / 7)),
  V: (d) => pad(isoWeek(d).week),
  w: (d) => String(d.getDay()),
  W: (d) => pad(Math.floor((dayOfYear(d) + 7 - ((d.getDay() + 6) % 7)) / 7)),
  x: (d) => strftime('%m/%d/%y', d),
  X: (d) => strftime('%H:%M:%S', d),
  y: (d) => pad(d.getFullYear() % 100),
  Y: (d) => String(d.getFullYear()),
  z: zoneOffset,
  Z: zoneName,
  '%': () => '%',
};

/** One conversion (the character after '%'); an unknown one is copied as written, as glibc does. */
export function strftimeConversion(code: string, date: Date): string {
  const convert = Object.hasOwn(CONVERSIONS, code) ? CONVERSIONS[code] : undefined;
  return convert === undefined ? `%${code}` : convert(date);
}

/** C strftime() for the conversions above (C locale, the local time zone). */
export function strftime(format: string, date: Date): string {
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format.charAt(i);
    if (c !== '%' || i + 1 >= format.length) {
      out += c;
      continue;
    }
    out += strftimeConversion(format.charAt(++i), date);
  }
  return out;
}
