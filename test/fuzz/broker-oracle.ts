/**
 * Runs one fuzz conversation (broker-cases.ts) over a real TCP socket and judges what the
 * broker did with it.
 *
 * What the broker should do is worked out from our own decoder, run over the bytes the
 * client sends as the broker runs it (server side, the broker's max_packet_size, the
 * protocol version switched after CONNECT): the "mirror". It tells whether the input ends
 * the connection on its own (a decoding error, a DISCONNECT, a second CONNECT), ends at a
 * packet boundary (the broker must then still answer a PINGREQ), or stops inside a packet
 * (the broker legitimately waits; the client closes after a while).
 *
 * The verdict, per connection:
 *  - the broker closes its side after the client's FIN, and on its own after input that
 *    ends the connection (within a deadline: no half-open connections);
 *  - at a packet boundary it answers a PINGREQ probe with PINGRESP (or closes);
 *  - everything it sends decodes with our FrameDecoder as packets of that protocol
 *    version, the first one a CONNACK, nothing after a refusing CONNACK or a DISCONNECT;
 *    an MQTT 5 DISCONNECT has a reason code >= 0x80; no CONNACK, PUBLISH or AUTH exceeds
 *    the Maximum Packet Size the client announced; acknowledgements answer packets the
 *    client sent (SUBACK with one code per filter), and all of them have arrived once the
 *    probe is answered.
 *
 * Accepted because Mosquitto does the same (and pinned in broker-findings.test.ts): an
 * empty SUBACK for an MQTT 3.1 SUBSCRIBE without filters, PUBACK / PUBREC 0x95 for a
 * PUBLISH over message_size_limit, SUBACK / UNSUBACK / small acknowledgements above the
 * client's Maximum Packet Size, and output cut short when the broker closes with input
 * unread (a reset).
 */
import { Buffer } from 'node:buffer';
import { mkdtempSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { defaultSecurity } from '../../src/broker/config/types.ts';
import type { BrokerConfig } from '../../src/broker/config/types.ts';
import { PacketType, PacketTypeName, ProtocolVersion } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { isMqttError } from '../../src/protocol/errors.ts';
import type { MqttError } from '../../src/protocol/errors.ts';
import type { ConnectPacket, Packet } from '../../src/protocol/packets.ts';
import { startTestBroker } from '../helpers/broker.ts';
import { trackTempDir } from '../helpers/children.ts';
import type { TestBroker } from '../helpers/broker.ts';
import { toHex } from '../helpers/packet-bytes.ts';
import { frameLength } from '../helpers/raw-client.ts';
import { LIMITED } from './broker-cases.ts';
import type { BrokerProfile, Conversation } from './broker-cases.ts';

// ---------------------------------------------------------------------------------
// The mirror

export interface Mirror {
  /** The first packet, when it decoded as CONNECT. */
  readonly connect: ConnectPacket | null;
  /** Packets after the CONNECT, in order, up to the first error. */
  readonly packets: readonly Packet[];
  /** The first decoding error (the broker must close the connection). */
  readonly error: MqttError | null;
  /** Bytes of an incomplete packet remain (the broker legitimately waits for more). */
  readonly partial: boolean;
  /** The input ends the connection by itself: an error, a DISCONNECT or a second CONNECT. */
  readonly endsConnection: boolean;
  /**
   * The broker reads every byte of the input before any reason to close: no error, no
   * partial packet, and nothing after a packet that ends the connection. Otherwise bytes
   * may arrive after the broker stopped reading, and closing with input unread turns
   * its close into a reset that can drop the end of its output (in Mosquitto too).
   */
  readonly readToTheEnd: boolean;
  /** The protocol version the broker's answers are in. */
  readonly outputVersion: ProtocolVersion;
}

/** Decodes `bytes` as the broker does (see the module note). */
export function mirror(bytes: Buffer, maxPacketSize: number): Mirror {
  // The fuzz brokers have no bridge and no extended authentication, so, as in
  // client-connection.ts, server-only packets and AUTH are refused only once whole: a
  // partial AUTH with bad flags is waited for, not closed on at its fixed header.
  const decoder = new FrameDecoder({
    expectConnect: true,
    maximumPacketSize: maxPacketSize,
    refuseServerPackets: true,
    refuseAuth: true,
  });
  decoder.push(bytes);
  let connectPacket: ConnectPacket | null = null;
  const packets: Packet[] = [];
  let error: MqttError | null = null;
  let ends = false;
  let endsAt = -1;
  try {
    for (let p = decoder.next(); p !== null; p = decoder.next()) {
      if (connectPacket === null && p.type === PacketType.Connect) {
        connectPacket = p;
        decoder.protocolVersion = p.protocolVersion;
        continue;
      }
      packets.push(p);
      if (
        p.type === PacketType.Disconnect ||
        p.type === PacketType.Connect ||
        // A server-to-client packet from a client is a protocol error (dispatch.ts).
        p.type === PacketType.Connack ||
        p.type === PacketType.Suback ||
        p.type === PacketType.Unsuback ||
        p.type === PacketType.Pingresp
      ) {
        if (!ends) endsAt = packets.length - 1;
        ends = true;
      }
    }
  } catch (e) {
    if (!isMqttError(e)) throw e;
    error = e;
  }
  // A refused protocol level is answered in the 3.1.1 layout (dispatch.ts).
  const outputVersion = connectPacket?.protocolVersion ?? ProtocolVersion.V311;
  const partial = error === null && decoder.bufferedBytes > 0;
  return {
    connect: connectPacket,
    packets,
    error,
    partial,
    endsConnection: error !== null || ends,
    readToTheEnd: error === null && !partial && (!ends || endsAt === packets.length - 1),
    outputVersion,
  };
}

// ---------------------------------------------------------------------------------
// Running a conversation

export interface Outcome {
  /** Every byte the broker sent. */
  readonly received: Buffer;
  /** The broker ended the connection before the client did. */
  readonly brokerClosedFirst: boolean;
  /**
   * The connection was reset: the broker closed with input unread (Mosquitto does the
   * same), which makes the close a reset (RST) and may drop the broker's last bytes,
   * before or after they reach the client.
   */
  readonly reset: boolean;
  /** The connection was still open `deadlineMs` after the client's FIN. */
  readonly hungAfterFin: boolean;
  /** Input that ends the connection, but the broker kept it open for `deadlineMs`. */
  readonly notClosedAfterEndingInput: boolean;
  readonly probe: 'not-sent' | 'answered' | 'closed' | 'timeout';
  readonly localPort: number;
  /** Milliseconds from connect to the end. */
  readonly elapsedMs: number;
}

/** Counts whole frames as bytes arrive (for waiting on a PINGRESP). */
class FrameCounter {
  private pending: Buffer = Buffer.alloc(0);
  pingresps = 0;
  stuck = false;

  push(chunk: Buffer): void {
    if (this.stuck) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const length = frameLength(this.pending);
      if (length === null || length > this.pending.length) break;
      if (Number.isNaN(length)) {
        this.stuck = true;
        return;
      }
      if (this.pending[0] === 0xd0) this.pingresps++;
      this.pending = this.pending.subarray(length);
    }
  }
}

function openSocket(port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to 127.0.0.1:${port} timed out`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs `conv` against the broker on `port` (see the module note). */
export async function runConversation(
  port: number,
  conv: Conversation,
  expected: Mirror,
  deadlineMs: number,
): Promise<Outcome> {
  const started = Date.now();
  const socket = await openSocket(port, deadlineMs);
  const localPort = socket.localPort ?? 0;
  const chunks: Buffer[] = [];
  const counter = new FrameCounter();
  // Fields of an object, not locals: the socket's handlers change them between awaits.
  const state = { brokerEnded: false, closed: false, clientEnded: false };
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    counter.push(chunk);
    wake();
  });
  socket.on('end', () => {
    if (!state.clientEnded) state.brokerEnded = true;
    wake();
  });
  socket.on('close', () => {
    if (!state.clientEnded) state.brokerEnded = true;
    state.closed = true;
    wake();
  });
  let reset = false;
  socket.on('error', () => {
    // ECONNRESET on a read, or EPIPE / ECONNRESET on a write after the broker closed
    // with input unread: either way the socket is gone, and with it what was unread.
    reset = true;
    wake();
  });

  /** True once `done()` holds, false when `ms` pass first. */
  const until = (done: () => boolean, ms: number): Promise<boolean> => {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        resolve(done());
      }, ms);
      waiters.add(check);
    });
  };
  const writable = (): boolean => !state.brokerEnded && !state.closed && !socket.writableEnded;

  let previous = 0;
  for (const cut of conv.cuts) {
    if (!writable()) break;
    socket.write(conv.bytes.subarray(previous, cut));
    previous = cut;
    if (conv.pauses) await turn();
  }

  let hungAfterFin = false;
  let notClosedAfterEndingInput = false;
  let probe: Outcome['probe'] = 'not-sent';
  const finish = (): Outcome => ({
    received: Buffer.concat(chunks),
    brokerClosedFirst: state.brokerEnded,
    reset,
    hungAfterFin,
    notClosedAfterEndingInput,
    probe,
    localPort,
    elapsedMs: Date.now() - started,
  });

  if (conv.ending === 'reset') {
    state.clientEnded = true;
    socket.resetAndDestroy();
    return finish();
  }
  const brokerEnded = (): boolean => state.brokerEnded;
  if (conv.ending === 'hold') {
    if (conv.holdMs > 0) await until(brokerEnded, conv.holdMs);
    if (!brokerEnded() && expected.endsConnection) {
      notClosedAfterEndingInput = !(await until(brokerEnded, deadlineMs));
    } else if (!brokerEnded() && !expected.partial && writable()) {
      const pingreqs = expected.packets.filter((p) => p.type === PacketType.Pingreq).length;
      socket.write(Buffer.from([0xc0, 0x00]));
      probe = 'timeout';
      if (await until(() => brokerEnded() || counter.pingresps > pingreqs, deadlineMs)) {
        probe = counter.pingresps > pingreqs ? 'answered' : 'closed';
      }
    }
  }
  if (!brokerEnded()) {
    state.clientEnded = true;
    socket.end();
  }
  hungAfterFin = !(await until(() => state.closed, deadlineMs));
  if (hungAfterFin) socket.destroy();
  return finish();
}

// ---------------------------------------------------------------------------------
// The verdict

const FROM_SERVER: ReadonlySet<PacketType> = new Set<PacketType>([
  PacketType.Connack,
  PacketType.Publish,
  PacketType.Puback,
  PacketType.Pubrec,
  PacketType.Pubrel,
  PacketType.Pubcomp,
  PacketType.Suback,
  PacketType.Unsuback,
  PacketType.Pingresp,
  PacketType.Disconnect,
  PacketType.Auth,
]);

function name(type: PacketType): string {
  return PacketTypeName[type];
}

/** The broker's packets, or the problem with its bytes. */
export function decodeBrokerOutput(
  received: Buffer,
  version: ProtocolVersion,
): { packets: { packet: Packet; size: number }[]; problem: string | null; leftover: number } {
  const packets: { packet: Packet; size: number }[] = [];
  let offset = 0;
  for (;;) {
    const rest = received.subarray(offset);
    const size = frameLength(rest);
    if (size === null || size > rest.length)
      return { packets, problem: null, leftover: rest.length };
    const bytes = rest.subarray(0, Number.isNaN(size) ? rest.length : size);
    if (
      version === ProtocolVersion.V31 &&
      bytes.length === 4 &&
      bytes[0] === 0x90 &&
      bytes[1] === 2
    ) {
      // MQTT 3.1: Mosquitto answers a SUBSCRIBE without filters with an empty SUBACK
      // (handle_subscribe.c checks for an empty payload from 3.1.1 on only), which our
      // client-side decoder refuses.
      const packetId = (bytes[2]! << 8) | bytes[3]!;
      packets.push({
        packet: { type: PacketType.Suback, packetId, reasonCodes: [], properties: {} },
        size: 4,
      });
    } else if (
      version === ProtocolVersion.V5 &&
      bytes.length === 5 &&
      (bytes[0] === 0x40 || bytes[0] === 0x50) &&
      bytes[1] === 3 &&
      bytes[4] === 0x95
    ) {
      // PUBACK / PUBREC 0x95 (Packet Too Large, not a reason code these packets have):
      // Mosquitto's answer to a QoS 1/2 PUBLISH over message_size_limit (handle_publish.c).
      const packetId = (bytes[2]! << 8) | bytes[3]!;
      packets.push({
        packet: {
          type: bytes[0] === 0x40 ? PacketType.Puback : PacketType.Pubrec,
          packetId,
          reasonCode: 0x95,
          properties: {},
        },
        size: 5,
      });
    } else {
      const decoder = new FrameDecoder({ protocolVersion: version });
      decoder.push(bytes);
      try {
        const packet = decoder.next();
        if (packet === null) throw new Error('incomplete');
        packets.push({ packet, size: bytes.length });
      } catch (e) {
        const message = isMqttError(e) || e instanceof Error ? e.message : String(e);
        return {
          packets,
          problem: `packet #${packets.length + 1} from the broker does not decode as v${version} (${message}): ${toHex(bytes.subarray(0, 64))}`,
          leftover: 0,
        };
      }
    }
    if (Number.isNaN(size))
      return { packets, problem: 'a remaining length over 4 bytes', leftover: 0 };
    offset += size;
  }
}

/** Everything wrong with how the broker handled `conv` (empty: nothing). */
export function judge(
  conv: Conversation,
  expected: Mirror,
  outcome: Outcome,
  deadlineMs: number,
): string[] {
  const problems: string[] = [];
  if (outcome.hungAfterFin) {
    problems.push(`the broker kept the connection open ${deadlineMs} ms after the client's FIN`);
  }
  if (outcome.notClosedAfterEndingInput) {
    const why =
      expected.error !== null
        ? `decoding error "${expected.error.message}"`
        : 'DISCONNECT / second CONNECT / server packet';
    problems.push(`the broker did not close the connection within ${deadlineMs} ms after ${why}`);
  }
  if (outcome.probe === 'timeout') {
    problems.push(`the broker neither answered a PINGREQ nor closed within ${deadlineMs} ms`);
  }

  const version = expected.outputVersion;
  const { packets, problem, leftover } = decodeBrokerOutput(outcome.received, version);
  if (problem !== null) problems.push(problem);
  // Only where the broker surely read everything the client sent before it closed: a
  // handler may refuse a packet the mirror accepts, and a later write (or the probe)
  // then stays unread, which makes the close a reset.
  const allRead = expected.readToTheEnd && outcome.probe === 'not-sent' && conv.cuts.length === 1;
  if (leftover > 0 && outcome.brokerClosedFirst && !outcome.reset && allRead && problem === null) {
    problems.push(`the broker closed after ${leftover} bytes of an incomplete packet`);
  }

  const v5 = version === ProtocolVersion.V5;
  const connectPacket = expected.connect;
  const clientMax =
    v5 && connectPacket !== null ? (connectPacket.properties.maximumPacketSize ?? 0) : 0;
  // What the client sent, to match acknowledgements against.
  const sent = expected.packets;
  const qos1 = new Set<number>();
  const qos2 = new Set<number>();
  const pubrels = new Set<number>();
  const subscribes = new Map<number, number[]>();
  const unsubscribes = new Map<number, number[]>();
  let pingreqs = 0;
  const counts = { qos1: 0, qos2: 0, pubrel: 0, subscribe: 0, unsubscribe: 0 };
  for (const p of sent) {
    switch (p.type) {
      case PacketType.Publish:
        if (p.qos === 1) {
          qos1.add(p.packetId);
          counts.qos1++;
        } else if (p.qos === 2) {
          qos2.add(p.packetId);
          counts.qos2++;
        }
        break;
      case PacketType.Pubrel:
        pubrels.add(p.packetId);
        counts.pubrel++;
        break;
      case PacketType.Subscribe: {
        const list = subscribes.get(p.packetId) ?? [];
        list.push(p.subscriptions.length);
        subscribes.set(p.packetId, list);
        counts.subscribe++;
        break;
      }
      case PacketType.Unsubscribe: {
        const list = unsubscribes.get(p.packetId) ?? [];
        list.push(p.topicFilters.length);
        unsubscribes.set(p.packetId, list);
        counts.unsubscribe++;
        break;
      }
      case PacketType.Pingreq:
        pingreqs++;
        break;
      default:
        break;
    }
  }
  const got = { puback: 0, pubrec: 0, pubcomp: 0, suback: 0, unsuback: 0, pingresp: 0 };

  let refused = false;
  packets.forEach(({ packet, size }, i) => {
    const where = `packet #${i + 1} (${name(packet.type)})`;
    if (!FROM_SERVER.has(packet.type)) {
      problems.push(`${where}: not a packet a server sends`);
      return;
    }
    if (i === 0 && packet.type !== PacketType.Connack) {
      problems.push(`${where}: the first packet is not CONNACK`);
    }
    if (i > 0 && packet.type === PacketType.Connack) problems.push(`${where}: a second CONNACK`);
    if (refused) problems.push(`${where}: sent after a refusing CONNACK`);
    if (i > 0 && packets[i - 1]?.packet.type === PacketType.Disconnect) {
      problems.push(`${where}: sent after DISCONNECT`);
    }
    if (!v5 && (packet.type === PacketType.Disconnect || packet.type === PacketType.Auth)) {
      problems.push(`${where}: an MQTT 5 packet on a v${version} connection`);
    }
    // Mosquitto checks CONNACK, PUBLISH and AUTH against the client's limit; the small
    // acknowledgements, and SUBACK / UNSUBACK whatever their size, are sent regardless.
    if (
      clientMax > 0 &&
      size > clientMax &&
      (packet.type === PacketType.Connack ||
        packet.type === PacketType.Publish ||
        packet.type === PacketType.Auth)
    ) {
      problems.push(`${where}: ${size} bytes, above the client's Maximum Packet Size ${clientMax}`);
    }
    switch (packet.type) {
      case PacketType.Connack:
        if (packet.reasonCode !== 0) refused = true;
        if (
          connectPacket === null &&
          !(packet.reasonCode === 1 && version === ProtocolVersion.V311)
        ) {
          problems.push(
            `${where}: CONNACK ${packet.reasonCode} for a CONNECT that does not decode`,
          );
        }
        break;
      case PacketType.Disconnect:
        if (packet.reasonCode < 0x80) {
          problems.push(
            `${where}: DISCONNECT with reason code 0x${packet.reasonCode.toString(16)} (< 0x80)`,
          );
        }
        break;
      case PacketType.Puback:
        got.puback++;
        if (!qos1.has(packet.packetId))
          problems.push(`${where}: PUBACK for id ${packet.packetId}, never a QoS 1 PUBLISH`);
        break;
      case PacketType.Pubrec:
        got.pubrec++;
        if (!qos2.has(packet.packetId))
          problems.push(`${where}: PUBREC for id ${packet.packetId}, never a QoS 2 PUBLISH`);
        break;
      case PacketType.Pubcomp:
        got.pubcomp++;
        if (!pubrels.has(packet.packetId))
          problems.push(`${where}: PUBCOMP for id ${packet.packetId}, never a PUBREL`);
        break;
      case PacketType.Suback: {
        got.suback++;
        const sizes = subscribes.get(packet.packetId);
        if (sizes === undefined)
          problems.push(`${where}: SUBACK for id ${packet.packetId}, never a SUBSCRIBE`);
        else if (!sizes.includes(packet.reasonCodes.length)) {
          problems.push(
            `${where}: SUBACK with ${packet.reasonCodes.length} codes for ${sizes.join('/')} filters`,
          );
        }
        break;
      }
      case PacketType.Unsuback: {
        got.unsuback++;
        const sizes = unsubscribes.get(packet.packetId);
        if (sizes === undefined)
          problems.push(`${where}: UNSUBACK for id ${packet.packetId}, never an UNSUBSCRIBE`);
        else if (v5 && !sizes.includes(packet.reasonCodes.length)) {
          problems.push(
            `${where}: UNSUBACK with ${packet.reasonCodes.length} codes for ${sizes.join('/')} filters`,
          );
        }
        break;
      }
      case PacketType.Pingresp:
        got.pingresp++;
        break;
      default:
        break;
    }
  });

  if (outcome.probe === 'answered') {
    // Packets are handled in order: by the probe's PINGRESP every earlier one was answered.
    const expectations: [string, number, number][] = [
      ['PUBACK', got.puback, counts.qos1],
      ['PUBREC', got.pubrec, counts.qos2],
      ['PUBCOMP', got.pubcomp, counts.pubrel],
      ['SUBACK', got.suback, counts.subscribe],
      ['UNSUBACK', got.unsuback, counts.unsubscribe],
      ['PINGRESP', got.pingresp, pingreqs + 1],
    ];
    for (const [kind, actual, wanted] of expectations) {
      if (actual !== wanted)
        problems.push(`${actual} ${kind} for ${wanted} packets that ask for one`);
    }
    if (packets[0]?.packet.type !== PacketType.Connack)
      problems.push('the probe was answered without a CONNACK first');
  }
  return problems;
}

// ---------------------------------------------------------------------------------
// The brokers

/**
 * By hand, FUZZ_PERSISTENCE=db|db-ack|sqlite|sqlite-ack runs the brokers with that store
 * (in a temporary directory), so the persistence hooks meet every hostile flow too.
 */
function fuzzPersistence(): Partial<BrokerConfig> {
  const mode = process.env.FUZZ_PERSISTENCE;
  if (mode === undefined || mode === '') return {};
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-fuzz-store-')));
  const durableAck = mode.endsWith('-ack');
  if (mode.startsWith('sqlite')) {
    return {
      sqlitePersistence: {
        dbFile: join(dir, 'mosquitto.sqlite3'),
        sync: 'normal',
        flushPeriod: 1,
        pageSize: 0,
      },
      persistenceDurableAck: durableAck,
    };
  }
  return {
    persistence: true,
    persistenceLocation: dir,
    // Broker time jumps 61 s at a time here: a save every 30 s of it, not 61 per jump.
    autosaveInterval: 30,
    persistenceDurableAck: durableAck,
  };
}

/** A broker of a profile, on a ManualClock (time moves only when the fuzzer says so). */
export async function startFuzzBroker(profile: BrokerProfile): Promise<TestBroker> {
  // Durable sessions end within a minute of broker time, so the fuzzer can expire them.
  const common = { persistentClientExpiration: 60, ...fuzzPersistence() };
  if (profile === 'default') return startTestBroker({ manualClock: true, config: common });
  return startTestBroker({
    manualClock: true,
    config: {
      ...common,
      maxPacketSize: LIMITED.maxPacketSize,
      messageSizeLimit: LIMITED.messageSizeLimit,
      maxInflightMessages: LIMITED.maxInflightMessages,
      maxQueuedMessages: LIMITED.maxQueuedMessages,
      maxKeepalive: 120,
      retainAvailable: false,
      security: { ...defaultSecurity(true), allowZeroLengthClientid: false },
    },
    listener: {
      maxQos: LIMITED.maxQos,
      maxTopicAlias: LIMITED.maxTopicAlias,
      mountPoint: LIMITED.mountPoint,
    },
  });
}

/** The max_packet_size a profile's broker decodes with. */
export function profileMaxPacketSize(profile: BrokerProfile): number {
  return profile === 'limited' ? LIMITED.maxPacketSize : 0;
}

/** A forced garbage collection, when V8 lets us have one (for memory checks). */
export function loadGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
