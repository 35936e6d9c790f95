/**
 * `max_auth_failures` (a mosquitto-ts extension): slows password guessing. After
 * `max_auth_failures` refused logins from one source address within
 * `auth_failure_window` seconds, every CONNECT from that address is refused (CONNACK
 * 5 / 0x87) for `auth_block_period` seconds, before any password is hashed.
 *
 * Why refuse rather than delay answers: a delayed answer still costs a PBKDF2 hash (the
 * attacker's CPU budget becomes ours) and holds a socket per attempt, while a refusal
 * without hashing costs neither. Correct passwords are refused too while an address is
 * blocked, or the block would still tell the attacker when a guess was right.
 *
 * Why one table for the whole broker, not per listener: an address guessing on two
 * listeners is the same attacker. A successful login clears nothing: an attacker holding
 * one valid account could otherwise reset its count between guesses. IPv6 addresses are
 * counted per /64, the block a single host is usually given, so rotating through its
 * addresses does not escape the count.
 *
 * Bounded: at most MAX_TRACKED_ADDRESSES entries. Entries sit in a list in order of their
 * last update, and an entry's relevance ends at most max(window, block) after that update,
 * so expired entries are always at the front and are dropped as the table is used; when
 * the table is full the least recently updated address is forgotten. No timer is needed,
 * and the work per CONNECT is O(1) amortised. (The order is a linked list, not the Map's
 * own: V8 leaves deleted Map entries as holes that every iteration from the front walks
 * over until the next rehash, which made evicting from a full table quadratic.)
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Clock } from '../../common/clock.ts';
import type { AuthFailureLimitConfig } from '../config/types.ts';

/** The most addresses remembered (about 120 bytes each: ~12 MB at most). */
export const MAX_TRACKED_ADDRESSES = 100_000;

/** The limiter turned off (no max_auth_failures line). */
export const AUTH_FAILURE_LIMIT_OFF: AuthFailureLimitConfig = {
  maxFailures: 0,
  windowSeconds: 60,
  blockSeconds: 60,
};

interface AddressRecord {
  readonly key: string;
  /** Failures counted since windowStart. */
  failures: number;
  /** Clock.now() of the first failure of the current window. */
  windowStart: number;
  /** Clock.now() until which the address is refused; 0 when not blocked. */
  blockedUntil: number;
  /** Clock.now() of the last change; the list is ordered by it. */
  updated: number;
  /** The list of records, least recently updated first. */
  older: AddressRecord | null;
  newer: AddressRecord | null;
}

/** What recordFailure() did, for the log line. */
export interface FailureOutcome {
  /** This failure blocked the address (it was not blocked before). */
  readonly blocked: boolean;
  /** The table was full and the least recently updated address was forgotten. */
  readonly evicted: boolean;
}

export class AuthFailureLimiter {
  readonly #clock: Clock;
  readonly capacity: number;
  /** The "table full" warning was logged since the table last had room. */
  fullWarned = false;
  #settings: AuthFailureLimitConfig;
  readonly #records = new Map<string, AddressRecord>();
  #oldest: AddressRecord | null = null;
  #newest: AddressRecord | null = null;

  constructor(clock: Clock, settings: AuthFailureLimitConfig, capacity = MAX_TRACKED_ADDRESSES) {
    this.#clock = clock;
    this.#settings = settings;
    this.capacity = capacity;
  }

  get settings(): AuthFailureLimitConfig {
    return this.#settings;
  }

  get enabled(): boolean {
    return this.#settings.maxFailures > 0;
  }

  /** Addresses currently remembered (tests, $SYS-style introspection). */
  get size(): number {
    return this.#records.size;
  }

  /** SIGHUP: new limits apply from now on; turning the limiter off forgets everything. */
  reconfigure(settings: AuthFailureLimitConfig): void {
    this.#settings = settings;
    if (!this.enabled) {
      this.#records.clear();
      this.#oldest = null;
      this.#newest = null;
    }
  }

  /**
   * Milliseconds the address stays blocked, or 0 when it may try to log in. Called for
   * every CONNECT before authentication, so it must stay cheap.
   */
  blockedFor(address: string): number {
    if (!this.enabled) return 0;
    const now = this.#clock.now();
    this.#dropExpired(now);
    const record = this.#records.get(addressKey(address));
    if (record === undefined || record.blockedUntil <= now) return 0;
    return record.blockedUntil - now;
  }

  /** A login from this address was refused. */
  recordFailure(address: string): FailureOutcome {
    if (!this.enabled) return { blocked: false, evicted: false };
    const now = this.#clock.now();
    this.#dropExpired(now);
    const key = addressKey(address);
    const { maxFailures, windowSeconds, blockSeconds } = this.#settings;
    let record = this.#records.get(key);
    let evicted = false;
    if (record === undefined) {
      if (this.#oldest !== null && this.#records.size >= this.capacity) {
        this.#remove(this.#oldest);
        evicted = true;
      }
      record = {
        key,
        failures: 0,
        windowStart: now,
        blockedUntil: 0,
        updated: now,
        older: null,
        newer: null,
      };
      this.#records.set(key, record);
    } else {
      // Appended again below, so the list stays ordered by last update.
      this.#unlink(record);
      if (now - record.windowStart >= windowSeconds * 1000) {
        record.failures = 0;
        record.windowStart = now;
      }
    }
    record.failures++;
    record.updated = now;
    let blocked = false;
    if (record.failures >= maxFailures && record.blockedUntil <= now) {
      record.blockedUntil = now + blockSeconds * 1000;
      // A blocked address starts counting anew.
      record.failures = 0;
      record.windowStart = now;
      blocked = true;
    }
    this.#append(record);
    return { blocked, evicted };
  }

  /**
   * Drops the records at the front whose window and block are both over: both end at
   * most max(window, block) after the record's last update (windowStart <= updated).
   */
  #dropExpired(now: number): void {
    const { windowSeconds, blockSeconds } = this.#settings;
    const lifetime = Math.max(windowSeconds, blockSeconds) * 1000;
    while (this.#oldest !== null && this.#oldest.updated + lifetime <= now) {
      this.#remove(this.#oldest);
    }
  }

  #remove(record: AddressRecord): void {
    this.#unlink(record);
    this.#records.delete(record.key);
  }

  #unlink(record: AddressRecord): void {
    if (record.older === null) this.#oldest = record.newer;
    else record.older.newer = record.newer;
    if (record.newer === null) this.#newest = record.older;
    else record.newer.older = record.older;
    record.older = null;
    record.newer = null;
  }

  #append(record: AddressRecord): void {
    record.older = this.#newest;
    record.newer = null;
    if (this.#newest === null) this.#oldest = record;
    else this.#newest.newer = record;
    this.#newest = record;
  }
}

/**
 * The key an address is counted under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its
 * /64 prefix, anything else (a Unix socket path) as is.
 */
export function addressKey(address: string): string {
  if (isIPv4(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  const withoutZone = address.split('%', 1)[0] ?? address;
  if (!isIPv6(withoutZone)) return address;
  return `${ipv6Groups(withoutZone).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lower-case hex without zeros. */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.toLowerCase().split('::', 2);
  const parse = (part: string): string[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          // An embedded IPv4 tail (::ffff:1.2.3.4 forms) is two groups.
          if (!group.includes('.')) return [Number.parseInt(group, 16).toString(16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
}
