/**
 * A small cache from the bytes of recently decoded PUBLISH topic names to their strings.
 *
 * Topic names repeat: comparing the received bytes with a cached copy costs about a third
 * of decoding and validating them again, and handing out the same string instance lets
 * later Map lookups (router, retained messages, aliases) reuse its cached hash. Only
 * topics that passed every check (UTF-8, no wildcard, depth) are stored, so a hit is a
 * valid topic name.
 *
 * Layout: SLOTS direct-mapped slots of at most SLOT_BYTES bytes in one Uint8Array, picked
 * by a hash of the length and five sampled bytes (no full pass over the bytes). A slot is
 * replaced only when its occupant has not been hit since it was last passed over (second
 * chance), and when fewer than half of a window of lookups hit (ever-new topics) the
 * cache is bypassed for the next 15 windows, so such traffic pays almost nothing for it.
 */

const SLOTS = 512;
const SLOT_BYTES = 128;
const WINDOW = 1024;

const bytes = new Uint8Array(SLOTS * SLOT_BYTES);
const lengths = new Int32Array(SLOTS); // 0: empty slot (an empty topic is never cached)
const referenced = new Uint8Array(SLOTS);
const strings: string[] = new Array<string>(SLOTS).fill('');

let bypass = 0;
let lookups = 0;
let hits = 0;

/** Only topics of 1 to SLOT_BYTES bytes are cached. */
export const TOPIC_CACHE_MAX_BYTES = SLOT_BYTES;

function slotOf(buf: Uint8Array, start: number, length: number): number {
  const last = start + length - 1;
  const quarter = length >> 2;
  return (
    (length * 31 +
      (buf[start] as number) * 5 +
      (buf[start + quarter] as number) * 3 +
      (buf[start + (length >> 1)] as number) * 131 +
      (buf[last - quarter] as number) * 17 +
      (buf[last] as number) * 7) &
    (SLOTS - 1)
  );
}

/**
 * The cached string for bytes [start, start + length), or undefined. The caller checks
 * 1 <= length <= TOPIC_CACHE_MAX_BYTES and that the bytes are inside `buf`.
 */
export function cachedTopicName(
  buf: Uint8Array,
  start: number,
  length: number,
): string | undefined {
  if (bypass > 0) {
    bypass--;
    return undefined;
  }
  if (++lookups === WINDOW) {
    if (hits < WINDOW / 2) bypass = 15 * WINDOW;
    lookups = 0;
    hits = 0;
  }
  const slot = slotOf(buf, start, length);
  if (lengths[slot] !== length) return undefined;
  const base = slot * SLOT_BYTES;
  for (let i = 0; i < length; i++) {
    if (bytes[base + i] !== buf[start + i]) return undefined;
  }
  hits++;
  referenced[slot] = 1;
  return strings[slot];
}

/** Offers a valid topic name just decoded from bytes [start, start + length). */
export function rememberTopicName(
  buf: Uint8Array,
  start: number,
  length: number,
  topic: string,
): void {
  if (bypass > 0) return;
  const slot = slotOf(buf, start, length);
  if (lengths[slot] !== 0 && referenced[slot] === 1) {
    referenced[slot] = 0; // second chance
    return;
  }
  const base = slot * SLOT_BYTES;
  for (let i = 0; i < length; i++) bytes[base + i] = buf[start + i] as number;
  lengths[slot] = length;
  referenced[slot] = 0;
  strings[slot] = topic;
}
