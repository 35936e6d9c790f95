/**
 * Local time as the tools print it: strftime() in the C locale (for `@<c>` in -F
 * formats and %I), the ISO-8601 timestamp with microseconds of %j, and the Unix time with
 * nanoseconds of %U. Times come from one reading per message, with the sub-millisecond
 * part from the high-resolution clock.
 */
import { strftime, zoneOffset } from '../common/strftime.ts';

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

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** %j's "tst": 2026-11-24T19:02:12.038514+0000 (2.0.13+; 2.0.11 had a stray 'Z'). */
export function isoMicroseconds(instant: Instant): string {
  const d = instant.date;
  return `${strftime('%FT%T', d)}.${pad(Math.floor(instant.nanoseconds / 1000), 6)}${zoneOffset(d)}`;
}

/** %I: strftime("%FT%T%z"). */
export function isoSeconds(instant: Instant): string {
  return strftime('%FT%T%z', instant.date);
}
