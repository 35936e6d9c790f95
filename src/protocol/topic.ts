/**
 * Topic names, topic filters and matching, with Mosquitto's rules (util_topic.c,
 * topic_tok.c):
 *
 * - A topic name is non-empty, at most 65535 UTF-8 bytes, and has no `+` or `#`.
 * - In a filter, `+` occupies a whole level and `#` only the whole last level. Empty
 *   levels are fine (`a//b`, `/a`).
 * - Depth: Mosquitto refuses topics and filters with more than TOPIC_HIERARCHY_LIMIT
 *   (200) `/` separators, i.e. up to 201 levels are accepted; we count the same way.
 * - `$share/<group>/<filter>`: the group is non-empty and has no `+` or `#` (it cannot
 *   contain `/` by construction), and the filter is non-empty and itself valid.
 *   Mosquitto treats a first level of exactly `$share` as a shared subscription, so
 *   `$share` and `$share/g` alone are invalid filters.
 * - Matching: a filter whose first level is a wildcard never matches a topic starting
 *   with `$` [MQTT-4.7.2-1]; `#` also matches the parent level (`a/#` matches `a`).
 *
 * These functions check structure only. Strings decoded from the wire have already
 * passed the UTF-8 checks; callers with strings from elsewhere use checkMqttString too.
 */
import { Buffer } from 'node:buffer';
import { TOPIC_HIERARCHY_LIMIT } from './constants.ts';

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

const SHARE_PREFIX = '$share/';

/** True when `value` fits an MQTT string field (at most 65535 UTF-8 bytes). */
function fitsStringField(value: string): boolean {
  // Each UTF-16 unit takes 1 to 3 UTF-8 bytes: only measure when it could matter.
  if (value.length <= 21_845) return true;
  if (value.length > 65_535) return false;
  return Buffer.byteLength(value, 'utf8') <= 65_535;
}

/** A valid PUBLISH topic name: non-empty, no `+` or `#`, <= 200 separators. */
export function isValidTopicName(topic: string): boolean {
  const n = topic.length;
  if (n === 0) return false;
  let separators = 0;
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return false;
    if (c === SLASH) separators++;
  }
  return separators <= TOPIC_HIERARCHY_LIMIT && fitsStringField(topic);
}

/** The structural filter rules, without the `$share` rules. */
function isValidPlainFilter(filter: string): boolean {
  const n = filter.length;
  if (n === 0) return false;
  let separators = 0;
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === SLASH) {
      separators++;
    } else if (c === PLUS) {
      // [MQTT-4.7.1-2] a whole level: preceded and followed by a separator or an end.
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false;
      if (i + 1 < n && filter.charCodeAt(i + 1) !== SLASH) return false;
    } else if (c === HASH) {
      // [MQTT-4.7.1-1] the whole last level.
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false;
      if (i + 1 !== n) return false;
    }
  }
  return separators <= TOPIC_HIERARCHY_LIMIT && fitsStringField(filter);
}

/**
 * Whether a filter is acceptable to SUBSCRIBE/UNSUBSCRIBE. Mosquitto reports the
 * structural failures as malformed packets and the `$share` failures as protocol
 * errors; `filterProblem` tells them apart.
 */
export function isValidTopicFilter(filter: string): boolean {
  return filterProblem(filter) === FilterProblem.None;
}

export const FilterProblem = {
  None: 0,
  /** Empty, misplaced wildcard, too deep or too long. */
  Invalid: 1,
  /** Starts with the `$share` level but breaks the shared-subscription rules. */
  InvalidShare: 2,
} as const;
export type FilterProblem = (typeof FilterProblem)[keyof typeof FilterProblem];

export function filterProblem(filter: string): FilterProblem {
  if (!isValidPlainFilter(filter)) return FilterProblem.Invalid;
  if (filter.charCodeAt(0) === DOLLAR && isShareLevel(filter)) {
    const shared = parseSharedFilter(filter);
    if (shared === null) return FilterProblem.InvalidShare; // "$share" alone
    const { group, filter: inner } = shared;
    // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
    if (group.length === 0 || group.includes('+') || group.includes('#')) {
      return FilterProblem.InvalidShare;
    }
    if (inner.length === 0) return FilterProblem.InvalidShare;
  }
  return FilterProblem.None;
}

/** True when the first level is exactly `$share`. */
function isShareLevel(filter: string): boolean {
  return filter.startsWith('$share') && (filter.length === 6 || filter.charCodeAt(6) === SLASH);
}

/** Splits a topic or filter into its levels ("a//b" -> ["a", "", "b"]). */
export function splitLevels(topicOrFilter: string): string[] {
  return topicOrFilter.split('/');
}

export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

/**
 * Splits `$share/<group>/<filter>`; null when the filter does not start with `$share/`.
 * No validation: `$share/g` gives filter "" (invalid, see isValidTopicFilter).
 */
export function parseSharedFilter(filter: string): SharedFilter | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null;
  const groupEnd = filter.indexOf('/', SHARE_PREFIX.length);
  if (groupEnd === -1) return { group: filter.slice(SHARE_PREFIX.length), filter: '' };
  return { group: filter.slice(SHARE_PREFIX.length, groupEnd), filter: filter.slice(groupEnd + 1) };
}

/**
 * Whether `topic` (a valid topic name) matches `filter` (a valid filter, not `$share/`:
 * strip that with parseSharedFilter first). Walks both strings without allocating.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  if (fl === 0 || tl === 0) return false;
  const f0 = filter.charCodeAt(0);
  if (topic.charCodeAt(0) === DOLLAR && (f0 === PLUS || f0 === HASH)) return false;

  let f = 0;
  let t = 0;
  for (;;) {
    // Both f and t are at the start of a level.
    if (f < fl && filter.charCodeAt(f) === HASH) return true;
    let fe = filter.indexOf('/', f);
    if (fe === -1) fe = fl;
    let te = topic.indexOf('/', t);
    if (te === -1) te = tl;
    const isPlus = fe - f === 1 && filter.charCodeAt(f) === PLUS;
    if (!isPlus) {
      if (fe - f !== te - t) return false;
      for (let i = 0; i < fe - f; i++) {
        if (filter.charCodeAt(f + i) !== topic.charCodeAt(t + i)) return false;
      }
    }
    const filterDone = fe === fl;
    const topicDone = te === tl;
    if (filterDone) return topicDone;
    if (topicDone) {
      // "a/#" matches "a": the only way a longer filter still matches.
      return fe + 2 === fl && filter.charCodeAt(fe + 1) === HASH;
    }
    f = fe + 1;
    t = te + 1;
  }
}
