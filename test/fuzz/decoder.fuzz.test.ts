/**
 * Seeded mutation fuzzer for FrameDecoder. Mutants of real packets (see mutations.ts)
 * are pushed in random chunkings into fresh decoders (expectConnect on/off, versions
 * 3/4/5, maximumPacketSize variants, limits changed mid-stream), and every step is
 * checked against an independent framer:
 *  - push() never throws; next() returns a Packet or null, or throws an MqttError, and
 *    after an error every later call throws the same error;
 *  - each next() loop terminates, and bufferedBytes never exceeds what was pushed and
 *    not yet returned as packets;
 *  - a packet is returned only when its whole frame is buffered, its type matches the
 *    header, and it fits maximumPacketSize; 0x95 only for frames over the limit, and
 *    before the body arrives; with expectConnect a first byte other than 0x10 is a
 *    protocol error at once, and the first packet is a CONNECT;
 *  - every returned packet re-encodes, decodes again to an equal packet, and is not
 *    changed by later pushes (no aliasing of reused buffers); input chunks are not
 *    modified;
 *  - memory stays bounded (no allocation sized by an announced length; heap growth).
 *
 * The loop runs in a worker thread so a decoder that hangs inside next() is caught by
 * a watchdog (the worker publishes its current case index in shared memory). Runs
 * ~3 s by default; FUZZ_SECONDS=<n> for longer, FUZZ_SEED=<n> to replay a run,
 * FUZZ_SEED=<n> FUZZ_CASE=<i> to replay one case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { isDeepStrictEqual, inspect } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Buffer } from 'node:buffer';
import { PacketType, PacketTypeName } from '../../src/protocol/constants.ts';
import type { ProtocolVersion } from '../../src/protocol/constants.ts';
import { isMqttError } from '../../src/protocol/errors.ts';
import type { MqttError } from '../../src/protocol/errors.ts';
import type { Packet } from '../../src/protocol/packets.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import type { FrameDecoderOptions } from '../../src/protocol/decoder.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { buildSeedCorpus, readVarint } from './corpus.ts';
import { describeCase, makeCase } from './mutations.ts';
import type { FuzzCase } from './mutations.ts';
import {
  flattenUserProperties,
  fromMqttPacket,
  mapUserProperties,
  parseWithMqttPacket,
  userPropertiesAsMqttPacketParses,
} from '../protocol/differential/mqtt-packet-mapping.ts';

const DEFAULT_SECONDS = 3;
/** A single case takes well under a millisecond; this long without progress is a hang. */
const STALL_MS = 15_000;
const HEAP_GROWTH_LIMIT = 64 * 1024 * 1024;
/** External (Buffer) memory one case may hold beyond a small multiple of its input. */
const CASE_EXTERNAL_LIMIT = 32 * 1024 * 1024;
/** Distinct kinds of failure after which the run stops early. */
const MAX_FAILURE_KINDS = 20;

interface WorkerConfig {
  readonly seed: number;
  readonly seconds: number;
  readonly onlyCase: number | null;
  readonly progress: SharedArrayBuffer;
}

interface Failure {
  readonly caseIndex: number;
  readonly message: string;
  /** Further cases that failed the same way (same message once hex and numbers go). */
  count: number;
}

interface Report {
  readonly cases: number;
  readonly inputBytes: number;
  readonly packets: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly failures: Failure[];
  readonly heapGrowth: number | null;
  /** Frames our decoder accepted that mqtt-packet rejects or reads differently. */
  readonly mqttPacketDisagreements: Record<string, { count: number; sample: string }>;
}

// ---------------------------------------------------------------------------------
// One case

/** The fixed header at `offset` of `input[0, available)`, read independently. */
function frameAt(
  input: Buffer,
  offset: number,
  available: number,
): { kind: 'incomplete' } | { kind: 'malformed' } | { kind: 'complete'; size: number } {
  if (offset >= available) return { kind: 'incomplete' };
  const rl = readVarint(input, offset + 1, available);
  if (rl !== null) return { kind: 'complete', size: 1 + rl.length + rl.value };
  let continuation = 0;
  while (continuation < 4 && offset + 1 + continuation < available) {
    if ((input[offset + 1 + continuation]! & 0x80) === 0) break;
    continuation++;
  }
  return continuation === 4 ? { kind: 'malformed' } : { kind: 'incomplete' };
}

interface CaseStats {
  packets: Record<string, number>;
  errors: Record<string, number>;
  disagreements: Report['mqttPacketDisagreements'];
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function describeError(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : inspect(e);
}

/** Packets our decoder accepted: does mqtt-packet read the same frame the same way? */
function crossCheck(
  frame: Buffer,
  packet: Packet,
  version: ProtocolVersion,
  stats: CaseStats,
): void {
  let key: string;
  try {
    const parsed = parseWithMqttPacket(frame, version);
    if (parsed.error !== null) key = `mqtt-packet rejects: ${parsed.error.message}`;
    else if (parsed.packets.length !== 1)
      key = `mqtt-packet found ${parsed.packets.length} packets`;
    else {
      const theirs = fromMqttPacket(parsed.packets[0]!, version);
      const ours = mapUserProperties(packet, (p) =>
        flattenUserProperties(userPropertiesAsMqttPacketParses(p)),
      );
      if (isDeepStrictEqual(theirs, ours)) return;
      key = `mqtt-packet reads a different ${PacketTypeName[packet.type]}`;
    }
  } catch (e) {
    key = `mapping failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  const entry = stats.disagreements[key];
  if (entry === undefined)
    stats.disagreements[key] = { count: 1, sample: `v${version} ${frame.toString('hex')}` };
  else entry.count++;
}

/** A minimal CONNECT per version, to bring a server-side decoder past its first packet. */
const HELLO: Readonly<Record<ProtocolVersion, Buffer>> = {
  3: Buffer.from('100f00064d514973647003020000000161', 'hex'),
  4: Buffer.from('100d00044d5154540402003c000161', 'hex'),
  5: Buffer.from('100e00044d5154540502003c00000161', 'hex'),
};

/**
 * Decodes re-encoded bytes on the same side as the original decoder: the two sides
 * legitimately differ (a server ignores a client's Subscription Identifier, whatever
 * its value; a client must refuse 0).
 */
function decodeAgain(
  bytes: Buffer,
  type: PacketType,
  version: ProtocolVersion,
  serverSide: boolean,
): Packet | null {
  const decoder = new FrameDecoder({ protocolVersion: version, expectConnect: serverSide });
  if (serverSide && type !== PacketType.Connect) {
    decoder.push(HELLO[version]);
    decoder.next();
    decoder.protocolVersion = version;
  }
  decoder.push(bytes);
  const packet = decoder.next();
  if (decoder.next() !== null || decoder.bufferedBytes !== 0) {
    throw new Error('re-encoded bytes hold more than one packet');
  }
  return packet;
}

/** Runs one case; returns a failure description or null. */
function runCase(c: FuzzCase, stats: CaseStats): string | null {
  const { input, setup } = c;
  const pristine = Buffer.from(input);
  const options: { -readonly [K in keyof FrameDecoderOptions]: FrameDecoderOptions[K] } = {
    protocolVersion: setup.protocolVersion,
    expectConnect: setup.expectConnect,
  };
  if (setup.maximumPacketSize !== undefined) options.maximumPacketSize = setup.maximumPacketSize;
  const externalBefore = process.memoryUsage().arrayBuffers;
  const decoder = new FrameDecoder(options);

  let pushed = 0;
  let consumed = 0;
  let limit = setup.maximumPacketSize ?? 0;
  /** Limits in force since the current frame's first byte was pushed. */
  let frameLimits = [limit];
  let error: MqttError | null = null;
  let sawPacket = false;
  const returned: { packet: Packet; version: ProtocolVersion; bytes: Buffer }[] = [];

  const sticky = (): string | null => {
    try {
      decoder.next();
    } catch (e) {
      if (e === error) return null;
      if (isMqttError(e) && e.reasonCode === error?.reasonCode && e.message === error.message)
        return null;
      return `after ${inspect(error)}, next() threw a different error ${describeError(e)}`;
    }
    return `after ${inspect(error)}, next() stopped throwing`;
  };

  for (let chunkIndex = 0; chunkIndex < c.cuts.length; chunkIndex++) {
    for (const change of c.limitChanges) {
      if (change.beforeChunk !== chunkIndex) continue;
      decoder.maximumPacketSize = change.value;
      limit = change.value;
      frameLimits.push(limit);
    }
    const chunk = input.subarray(chunkIndex === 0 ? 0 : c.cuts[chunkIndex - 1], c.cuts[chunkIndex]);
    try {
      decoder.push(chunk);
    } catch (e) {
      return `push() threw ${describeError(e)}`;
    }
    pushed += chunk.length;
    if (decoder.bufferedBytes > pushed - consumed) {
      return `bufferedBytes ${decoder.bufferedBytes} > ${pushed - consumed} pushed and not returned`;
    }
    if (error !== null) {
      const s = sticky();
      if (s !== null) return s;
      continue;
    }
    for (let calls = 0; ; calls++) {
      if (calls > pushed + 1)
        return `next() kept returning packets (${calls} calls for ${pushed} bytes)`;
      const header = frameAt(input, consumed, pushed);
      // The first packet must be a CONNECT: judged on the type nibble alone, before the
      // rest of the header arrives (Mosquitto's packet__read does the same).
      const firstByteRule =
        setup.expectConnect && consumed === 0 && pushed > 0 && input[0]! >> 4 !== 1;
      let packet: Packet | null;
      try {
        packet = decoder.next();
      } catch (e) {
        if (!isMqttError(e)) return `next() threw a non-MqttError: ${describeError(e)}`;
        // FrameDecoder turns its own internal exceptions into 0x81 "undecodable packet";
        // for the fuzzer that is still an exception that is not an MqttError.
        if (e.message.startsWith('undecodable packet')) return `internal error: ${e.message}`;
        error = e;
        bump(stats.errors, `0x${e.reasonCode.toString(16)} ${e.specRef}`);
        if (firstByteRule && e.reasonCode !== 0x82) {
          return `expectConnect and first byte 0x${input[0]!.toString(16)}: got ${inspect(e)}, want 0x82`;
        }
        if (e.reasonCode === 0x95) {
          const lowest = Math.min(...frameLimits.map((l) => (l === 0 ? Infinity : l)));
          if (header.kind !== 'complete' || header.size <= lowest) {
            return `0x95 for a frame of ${header.kind === 'complete' ? header.size : '?'} bytes, limits ${frameLimits.join('/')}`;
          }
        }
        const s = sticky();
        if (s !== null) return s;
        break;
      }
      if (firstByteRule)
        return `expectConnect: first byte 0x${input[0]!.toString(16)} was not rejected at once`;
      if (packet === null) {
        if (header.kind === 'malformed') return 'a remaining length of 5+ bytes was not rejected';
        if (header.kind === 'complete' && consumed + header.size <= pushed) {
          return `next() returned null with a whole ${header.size}-byte frame buffered`;
        }
        if (
          header.kind === 'complete' &&
          frameLimits.length === 1 &&
          limit > 0 &&
          header.size > limit
        ) {
          return `frame of ${header.size} bytes over the ${limit}-byte limit not rejected before its body`;
        }
        break;
      }
      // A packet: check it against the independent framing.
      if (header.kind !== 'complete' || consumed + header.size > pushed) {
        return `next() returned ${inspect(packet)} but no whole frame is buffered at ${consumed}`;
      }
      if (packet.type !== input[consumed]! >> 4)
        return `type ${packet.type} from header 0x${input[consumed]!.toString(16)}`;
      const highest = frameLimits.includes(0) ? Infinity : Math.max(...frameLimits);
      if (header.size > highest)
        return `a ${header.size}-byte packet passed the limit ${frameLimits.join('/')}`;
      if (setup.expectConnect && !sawPacket && packet.type !== PacketType.Connect) {
        return `expectConnect, yet the first packet is ${inspect(packet)}`;
      }
      const frame = input.subarray(consumed, consumed + header.size);
      consumed += header.size;
      frameLimits = [limit];
      if (decoder.bufferedBytes !== pushed - consumed) {
        return `bufferedBytes ${decoder.bufferedBytes} after a packet, want ${pushed - consumed}`;
      }
      const version =
        packet.type === PacketType.Connect ? packet.protocolVersion : decoder.protocolVersion;
      // Emulate the broker: it adopts the version of the CONNECT it accepts.
      if (packet.type === PacketType.Connect && setup.expectConnect && !sawPacket) {
        decoder.protocolVersion = packet.protocolVersion;
      }
      sawPacket = true;
      bump(stats.packets, `${PacketTypeName[packet.type]} v${version}`);
      let bytes: Buffer;
      try {
        bytes = encodePacket(packet, version);
      } catch (e) {
        return `decoded ${inspect(packet, { depth: 4 })} (v${version}) does not re-encode: ${describeError(e)}`;
      }
      let decodedAgain: Packet | null;
      try {
        decodedAgain = decodeAgain(bytes, packet.type, version, setup.expectConnect);
      } catch (e) {
        return `re-encoded ${bytes.toString('hex')} (v${version}) does not decode: ${describeError(e)}`;
      }
      if (!isDeepStrictEqual(decodedAgain, packet)) {
        return `round trip changed the packet (v${version}):\n    decoded ${inspect(packet, { depth: 4 })}\n    re-encoded ${bytes.toString('hex')}\n    decoded again ${inspect(decodedAgain, { depth: 4 })}`;
      }
      crossCheck(frame, packet, version, stats);
      returned.push({ packet, version, bytes });
    }
  }

  const external = process.memoryUsage().arrayBuffers - externalBefore;
  if (external > CASE_EXTERNAL_LIMIT + 4 * input.length) {
    return `${external} bytes of Buffer memory held for a ${input.length}-byte input`;
  }
  if (!input.equals(pristine)) return 'the decoder modified a pushed chunk';
  for (const { packet, version, bytes } of returned) {
    if (!encodePacket(packet, version).equals(bytes)) {
      return `a returned packet changed after later pushes (aliasing): ${inspect(packet, { depth: 4 })}`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------
// Worker: the loop

function loadGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

function runWorker(config: WorkerConfig): Report {
  const progress = new Int32Array(config.progress);
  const corpus = buildSeedCorpus(config.seed);
  const gc = loadGc();
  const stats: CaseStats = { packets: {}, errors: {}, disagreements: {} };
  const failures = new Map<string, Failure>();
  let inputBytes = 0;
  gc?.();
  const heapBefore = v8.getHeapStatistics().used_heap_size;
  const deadline = performance.now() + config.seconds * 1000;
  let index = config.onlyCase ?? 0;
  let cases = 0;
  for (; ; index++) {
    if (config.onlyCase !== null ? index > config.onlyCase : performance.now() > deadline) break;
    Atomics.store(progress, 0, index);
    const c = makeCase(corpus, config.seed, index);
    inputBytes += c.input.length;
    cases++;
    const failure = runCase(c, stats);
    if (failure !== null) {
      // One example per kind of failure, so a known bug does not hide the others.
      const kind = (failure.split('\n')[0] ?? '')
        .replace(/[0-9a-f]{6,}/g, '<hex>')
        .replace(/\d+/g, 'N');
      const seen = failures.get(kind);
      if (seen !== undefined) seen.count++;
      else
        failures.set(kind, {
          caseIndex: index,
          message: `${failure}\n  ${describeCase(c)}`,
          count: 1,
        });
      if (failures.size >= MAX_FAILURE_KINDS) break;
    }
  }
  gc?.();
  const heapGrowth = gc === null ? null : v8.getHeapStatistics().used_heap_size - heapBefore;
  return {
    cases,
    inputBytes,
    packets: stats.packets,
    errors: stats.errors,
    failures: [...failures.values()],
    heapGrowth,
    mqttPacketDisagreements: stats.disagreements,
  };
}

if (!isMainThread && parentPort !== null) {
  parentPort.postMessage(runWorker(workerData as WorkerConfig));
}

// ---------------------------------------------------------------------------------
// Main thread: the test and its watchdog

type Outcome =
  | { kind: 'report'; report: Report }
  | { kind: 'stalled' | 'crashed'; caseIndex: number; detail: string };

function runInWorker(config: Omit<WorkerConfig, 'progress'>): Promise<Outcome> {
  const progress = new SharedArrayBuffer(4);
  const current = new Int32Array(progress);
  return new Promise((resolve) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { ...config, progress } satisfies WorkerConfig,
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    let last = -1;
    let lastChange = Date.now();
    const timer = setInterval(() => {
      const now = Atomics.load(current, 0);
      if (now !== last) {
        last = now;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > STALL_MS) {
        clearInterval(timer);
        resolve({ kind: 'stalled', caseIndex: now, detail: `no progress for ${STALL_MS} ms` });
        void worker.terminate();
      }
    }, 250);
    worker.once('message', (report: Report) => {
      clearInterval(timer);
      resolve({ kind: 'report', report });
    });
    worker.once('error', (e) => {
      clearInterval(timer);
      resolve({ kind: 'crashed', caseIndex: Atomics.load(current, 0), detail: describeError(e) });
    });
    worker.once('exit', (code) => {
      clearInterval(timer);
      resolve({
        kind: 'crashed',
        caseIndex: Atomics.load(current, 0),
        detail: `worker exited with ${code}`,
      });
    });
  });
}

function envInt(name: string): number | null {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name}=${raw} is not an integer`);
  return n;
}

if (isMainThread) {
  test('FrameDecoder survives mutated packets (seeded fuzzer)', async (t) => {
    const seed = envInt('FUZZ_SEED') ?? randomInt(0x7fffffff);
    const seconds = envInt('FUZZ_SECONDS') ?? DEFAULT_SECONDS;
    const onlyCase = envInt('FUZZ_CASE');
    const replay = (i: number): string => `FUZZ_SEED=${seed} FUZZ_CASE=${i}`;
    t.diagnostic(
      `fuzz seed ${seed}, ${onlyCase === null ? `${seconds} s` : `case ${onlyCase}`} (replay: FUZZ_SEED=${seed})`,
    );
    const outcome = await runInWorker({ seed, seconds, onlyCase });
    if (outcome.kind !== 'report') {
      const c = makeCase(buildSeedCorpus(seed), seed, outcome.caseIndex);
      assert.fail(
        `decoder ${outcome.kind} on case ${outcome.caseIndex} (${replay(outcome.caseIndex)}): ${outcome.detail}\n  ${describeCase(c)}`,
      );
    }
    const { report } = outcome;
    t.diagnostic(`${report.cases} cases, ${report.inputBytes} bytes`);
    t.diagnostic(`packets decoded: ${JSON.stringify(report.packets)}`);
    t.diagnostic(`errors: ${JSON.stringify(report.errors)}`);
    t.diagnostic(
      `heap growth: ${report.heapGrowth === null ? 'not measured (no gc)' : `${report.heapGrowth} bytes`}`,
    );
    for (const [what, { count, sample }] of Object.entries(report.mqttPacketDisagreements)) {
      t.diagnostic(`accepted by us, ${what}: ${count}x, e.g. ${sample}`);
    }
    if (report.failures.length > 0) {
      assert.fail(
        `${report.failures.length} kind(s) of failure, seed ${seed}:\n` +
          report.failures
            .map(
              (f) =>
                `case ${f.caseIndex} (${replay(f.caseIndex)}; ${f.count} case(s) like it): ${f.message}`,
            )
            .join('\n'),
      );
    }
    assert.ok(report.cases > 0, 'the fuzzer ran no case');
    if (report.heapGrowth !== null) {
      assert.ok(report.heapGrowth < HEAP_GROWTH_LIMIT, `heap grew by ${report.heapGrowth} bytes`);
    }
  });
}
