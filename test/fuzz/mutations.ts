/**
 * Deterministic fuzz cases: case `index` of run `seed` is always the same input,
 * decoder options and chunking, so a failure can be replayed (FUZZ_SEED, FUZZ_CASE)
 * and a hung worker's case can be rebuilt by the main thread to print its bytes.
 *
 * A case strings 1-4 seed frames together, applies structural mutations (remaining-
 * length and property-length rewrites, header, 16-bit length fields, body truncation
 * and extension, frame drop/duplicate/swap), then byte-level ones (bit flips,
 * interesting bytes, splices from other seeds, truncation, duplication, insertion,
 * deletion).
 */
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import { encodeVarint, frameBytes, readVarint } from './corpus.ts';
import type { SeedFrame } from './corpus.ts';

/** sfc32, seeded from (seed, stream) through a splitmix-style hash. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number) {
    let h = (seed ^ Math.imul(stream + 0x9e3779b9, 0x85ebca6b)) >>> 0;
    const mix = (): number => {
      h = (h + 0x9e3779b9) >>> 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

export interface DecoderSetup {
  readonly protocolVersion: ProtocolVersion;
  readonly expectConnect: boolean;
  /** undefined: the option is not passed at all. */
  readonly maximumPacketSize: number | undefined;
}

export interface FuzzCase {
  readonly input: Buffer;
  readonly setup: DecoderSetup;
  /** Chunk end offsets, non-decreasing, the last one input.length (repeats: empty chunks). */
  readonly cuts: readonly number[];
  /** decoder.maximumPacketSize = value, just before pushing chunk `beforeChunk`. */
  readonly limitChanges: readonly { readonly beforeChunk: number; readonly value: number }[];
  readonly mutations: readonly string[];
}

interface WorkFrame {
  header: number;
  body: number[];
  propertyLengthOffsets: number[];
  remainingLength: number[] | undefined;
}

const INTERESTING_BYTES = [0x00, 0x7f, 0x80, 0xff] as const;
const MAX_VBI = 268_435_455;
const MAX_INPUT = 256 * 1024;

/** `value` as a Variable Byte Integer in an unusual encoding. */
function oddVarint(rng: Rng, value: number): { bytes: number[]; note: string } {
  const minimal = encodeVarint(Math.min(value, MAX_VBI));
  switch (rng.int(6)) {
    case 0:
    case 1:
    case 2:
      return { bytes: minimal, note: 'minimal' };
    case 3: {
      // Non-minimal: same value, padded with continuation bytes ([MQTT-1.5.5-1]).
      if (minimal.length >= 4) return { bytes: minimal, note: 'minimal' };
      const padded = [...minimal];
      padded[padded.length - 1] = padded[padded.length - 1]! | 0x80;
      const extra = rng.range(1, 4 - minimal.length);
      for (let i = 1; i < extra; i++) padded.push(0x80);
      padded.push(0x00);
      return { bytes: padded, note: `padded to ${padded.length} bytes` };
    }
    case 4:
      return {
        bytes: rng.chance(0.5) ? [0xff, 0xff, 0xff, 0xff, 0x7f] : [0x80, 0x80, 0x80, 0x80, 0x01],
        note: '5-byte varint',
      };
    default:
      return { bytes: [(minimal[0]! & 0x7f) | 0x80], note: 'dangling continuation bit' };
  }
}

function newLength(rng: Rng, current: number): number {
  switch (rng.int(7)) {
    case 0:
      return current + rng.range(1, 16);
    case 1:
      return Math.max(0, current - rng.range(1, 16));
    case 2:
      return 0;
    case 3:
      return MAX_VBI;
    case 4:
      return rng.int(MAX_VBI + 1);
    case 5:
      return rng.range(0, 300);
    default:
      return rng.pick([127, 128, 16_383, 16_384, 2_097_151, 2_097_152]);
  }
}

type StructuralMutation = (rng: Rng, frames: WorkFrame[]) => string;

const STRUCTURAL: readonly StructuralMutation[] = [
  function remainingLength(rng, frames) {
    const i = rng.int(frames.length);
    const f = frames[i]!;
    const value = newLength(rng, f.body.length);
    const enc = oddVarint(rng, value);
    f.remainingLength = enc.bytes;
    return `frame ${i}: remaining length ${f.body.length} -> ${value} (${enc.note})`;
  },
  function propertyLength(rng, frames) {
    const candidates = frames.flatMap((f, i) =>
      f.propertyLengthOffsets.map((o) => [i, o] as const),
    );
    if (candidates.length === 0) return STRUCTURAL[0]!(rng, frames);
    const [i, at] = rng.pick(candidates);
    const f = frames[i]!;
    const old = readVarint(Uint8Array.from(f.body), at);
    if (old === null) return 'property length unreadable (skipped)';
    const value = newLength(rng, old.value);
    const enc = oddVarint(rng, value);
    f.body.splice(at, old.length, ...enc.bytes);
    const shift = enc.bytes.length - old.length;
    f.propertyLengthOffsets = f.propertyLengthOffsets.map((o) => (o > at ? o + shift : o));
    return `frame ${i}: property length at ${at} ${old.value} -> ${value} (${enc.note})`;
  },
  function header(rng, frames) {
    const i = rng.int(frames.length);
    const f = frames[i]!;
    const before = f.header;
    switch (rng.int(3)) {
      case 0:
        f.header = rng.int(256);
        break;
      case 1:
        f.header ^= 1 << rng.int(4);
        break;
      default:
        f.header = (rng.int(16) << 4) | (f.header & 0x0f);
    }
    return `frame ${i}: header 0x${before.toString(16)} -> 0x${f.header.toString(16)}`;
  },
  function u16Field(rng, frames) {
    const i = rng.int(frames.length);
    const f = frames[i]!;
    if (f.body.length < 2) return `frame ${i}: body too short for a 16-bit rewrite`;
    const at = rng.int(f.body.length - 1);
    const current = (f.body[at]! << 8) | f.body[at + 1]!;
    const rest = f.body.length - at - 2;
    const value =
      rng.pick([0, 1, 0x7fff, 0x8000, 0xffff, current + 1, current - 1, rest, rest + 1]) & 0xffff;
    f.body[at] = value >> 8;
    f.body[at + 1] = value & 0xff;
    return `frame ${i}: u16 at ${at} ${current} -> ${value}`;
  },
  function truncateBody(rng, frames) {
    const i = rng.int(frames.length);
    const f = frames[i]!;
    const n = rng.int(f.body.length + 1);
    f.body.length = n;
    f.propertyLengthOffsets = f.propertyLengthOffsets.filter((o) => o < n);
    return `frame ${i}: body truncated to ${n}`;
  },
  function extendBody(rng, frames) {
    const i = rng.int(frames.length);
    const n = rng.range(1, 8);
    for (let k = 0; k < n; k++)
      frames[i]!.body.push(rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256));
    return `frame ${i}: ${n} surplus bytes`;
  },
  function frameOrder(rng, frames) {
    const i = rng.int(frames.length);
    const f = frames[i]!;
    if (frames.length > 1 && rng.chance(0.3)) {
      frames.splice(i, 1);
      return `frame ${i} dropped`;
    }
    if (frames.length > 1 && rng.chance(0.5)) {
      const j = rng.int(frames.length);
      frames[i] = frames[j]!;
      frames[j] = f;
      return `frames ${i} and ${j} swapped`;
    }
    frames.splice(i, 0, {
      ...f,
      body: [...f.body],
      propertyLengthOffsets: [...f.propertyLengthOffsets],
    });
    return `frame ${i} duplicated`;
  },
];

type ByteMutation = (rng: Rng, bytes: number[], corpus: readonly SeedFrame[]) => string;

const BYTE_LEVEL: readonly ByteMutation[] = [
  function bitFlip(rng, bytes) {
    const at = rng.int(bytes.length);
    const bit = rng.int(8);
    bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
    return `bit ${bit} of byte ${at} flipped`;
  },
  function interestingByte(rng, bytes) {
    const at = rng.int(bytes.length);
    const value = rng.pick(INTERESTING_BYTES);
    bytes[at] = value;
    return `byte ${at} = 0x${value.toString(16)}`;
  },
  function splice(rng, bytes, corpus) {
    const other = frameBytes(rng.pick(corpus));
    const from = rng.int(other.length);
    const to = rng.range(from, other.length);
    const at = rng.int(bytes.length + 1);
    const overwrite = rng.chance(0.5);
    bytes.splice(at, overwrite ? to - from : 0, ...other.slice(from, to));
    return `${overwrite ? 'overwrote' : 'inserted'} ${to - from} bytes of another seed at ${at}`;
  },
  function truncate(rng, bytes) {
    const n = rng.range(1, Math.max(1, bytes.length - 1));
    bytes.length = Math.min(bytes.length, n);
    return `truncated to ${bytes.length} bytes`;
  },
  function duplicate(rng, bytes) {
    const from = rng.int(bytes.length);
    const to = rng.range(from, Math.min(bytes.length, from + 64));
    bytes.splice(to, 0, ...bytes.slice(from, to));
    return `bytes ${from}..${to} duplicated`;
  },
  function insertRandom(rng, bytes) {
    const at = rng.int(bytes.length + 1);
    const n = rng.range(1, 8);
    const inserted = Array.from({ length: n }, () => rng.int(256));
    bytes.splice(at, 0, ...inserted);
    return `${n} random bytes inserted at ${at}`;
  },
  function deleteRange(rng, bytes) {
    const at = rng.int(bytes.length);
    const n = rng.range(1, 8);
    bytes.splice(at, n);
    return `${n} bytes deleted at ${at}`;
  },
];

function pickLimit(rng: Rng, firstFrameSize: number): number | undefined {
  const r = rng.int(100);
  if (r < 45) return undefined;
  if (r < 55) return 0;
  if (r < 70) return Math.max(1, firstFrameSize + rng.range(-1, 1));
  if (r < 85) return rng.range(1, 64);
  if (r < 95) return rng.range(64, 100_000);
  return MAX_VBI + 5;
}

function pickCuts(rng: Rng, length: number): number[] {
  const r = rng.int(100);
  if (r < 30 || length === 0) return [length];
  if (r < 40 && length <= 4096) return Array.from({ length }, (_, i) => i + 1);
  const cuts = Array.from({ length: rng.range(1, 8) }, () => rng.int(length + 1));
  cuts.push(length);
  return cuts.sort((a, b) => a - b);
}

/** Builds case `index` of the run seeded with `seed`. */
export function makeCase(corpus: readonly SeedFrame[], seed: number, index: number): FuzzCase {
  const rng = new Rng(seed, index);
  const mutations: string[] = [];
  const connects = corpus.filter((f) => f.type === PacketType.Connect);
  const expectConnect = rng.chance(0.35);

  let bytes: number[];
  let version: ProtocolVersion;
  let firstFrameSize: number;
  if (rng.chance(0.03)) {
    bytes = Array.from({ length: rng.range(1, 64) }, () => rng.int(256));
    version = rng.pick([ProtocolVersion.V31, ProtocolVersion.V311, ProtocolVersion.V5]);
    firstFrameSize = bytes.length;
    mutations.push('random bytes');
  } else {
    const first = expectConnect && rng.chance(0.7) ? rng.pick(connects) : rng.pick(corpus);
    const sameVersion = corpus.filter((f) => f.version === first.version);
    const seeds = [first];
    for (let n = rng.pick([0, 0, 0, 1, 1, 2, 3]); n > 0; n--) {
      seeds.push(rng.chance(0.8) ? rng.pick(sameVersion) : rng.pick(corpus));
    }
    const frames: WorkFrame[] = seeds.map((s) => ({
      header: s.header,
      body: Array.from(s.body),
      propertyLengthOffsets: [...s.propertyLengthOffsets],
      remainingLength: undefined,
    }));
    const structural = rng.pick([0, 0, 1, 1, 1, 2, 3]);
    for (let k = 0; k < structural; k++) mutations.push(rng.pick(STRUCTURAL)(rng, frames));
    bytes = frames.flatMap((f) =>
      frameBytes({ header: f.header, body: Uint8Array.from(f.body) }, f.remainingLength),
    );
    const byteLevel = structural === 0 ? rng.pick([0, 1, 1, 2, 3, 4]) : rng.pick([0, 0, 1, 2]);
    for (let k = 0; k < byteLevel && bytes.length > 0; k++)
      mutations.push(rng.pick(BYTE_LEVEL)(rng, bytes, corpus));
    if (bytes.length > MAX_INPUT) bytes.length = MAX_INPUT;
    version = rng.chance(0.7)
      ? first.version
      : rng.pick([ProtocolVersion.V31, ProtocolVersion.V311, ProtocolVersion.V5]);
    firstFrameSize = 1 + encodeVarint(first.body.length).length + first.body.length;
  }

  const cuts = pickCuts(rng, bytes.length);
  const limitChanges: { beforeChunk: number; value: number }[] = [];
  if (cuts.length > 1 && rng.chance(0.1)) {
    limitChanges.push({
      beforeChunk: rng.range(1, cuts.length - 1),
      value: pickLimit(rng, firstFrameSize) ?? 0,
    });
  }
  return {
    input: Buffer.from(bytes),
    setup: {
      protocolVersion: version,
      expectConnect,
      maximumPacketSize: pickLimit(rng, firstFrameSize),
    },
    cuts,
    limitChanges,
    mutations,
  };
}

/** A one-line description of a case, for failure messages. */
export function describeCase(c: FuzzCase): string {
  const chunks = c.cuts.map((end, i) => end - (i === 0 ? 0 : c.cuts[i - 1]!));
  return [
    `input (${c.input.length} bytes): ${c.input.toString('hex')}`,
    `decoder: ${JSON.stringify(c.setup)}`,
    `chunk sizes: ${chunks.join(',')}`,
    c.limitChanges.length > 0 ? `limit changes: ${JSON.stringify(c.limitChanges)}` : '',
    `mutations: ${c.mutations.join('; ') || 'none'}`,
  ]
    .filter((line) => line !== '')
    .join('\n  ');
}
