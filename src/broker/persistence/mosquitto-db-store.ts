/**
 * The snapshot store of Mosquitto 2.0: the whole durable state in one `mosquitto.db`
 * file (format 6, src/common/mosquitto-db.ts), written atomically at autosave, SIGUSR1
 * and shutdown, read at start-up. Files go both ways between Mosquitto and us.
 *
 * What the format has no room for stays out of it, as in Mosquitto: wills, retain
 * handling of subscriptions, a session's maximum QoS.
 */
import { Buffer } from 'node:buffer';
import { closeSync, existsSync, openSync, renameSync } from 'node:fs';
import type { QoS } from '../../protocol/constants.ts';
import { PacketType, ReasonCode } from '../../protocol/constants.ts';
import type { Properties } from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import { decodeProperties, propertiesLength, writeProperties } from '../../protocol/properties.ts';
import { PacketReader } from '../../protocol/reader.ts';
import { varintLength, writeVarint } from '../../protocol/primitives.ts';
import { MqttError } from '../../protocol/errors.ts';
import type {
  DbChunk,
  DbChunkVisitor,
  DbClientChunk,
  DbClientMessageFields,
  DbConfigChunk,
  DbMessageFields,
  DbSubscriptionChunk,
  MosquittoDbFile,
} from '../../common/mosquitto-db.ts';
import {
  MosquittoDbError,
  readMosquittoDbFile,
  writeMosquittoDb,
  writeMosquittoDbFileAtomic,
} from '../../common/mosquitto-db.ts';
import type { ClientMessageRecord, DurableState, DurableStateSink } from './records.ts';
import type { MessageState } from './records.ts';
import { blankBaseMessage, blankClientMessage } from './records.ts';
import type { PersistenceStore } from './store.ts';
import { StoreError } from './store.ts';

/** The property list of a message, without its length prefix (as the codec keeps it). */
function encodePropertyList(properties: Properties): Buffer | null {
  if (properties === EMPTY_PROPERTIES) return null;
  const length = propertiesLength(properties);
  if (length === 0) return null;
  const block = Buffer.allocUnsafe(length + 4);
  const end = writeProperties(block, 0, properties, length);
  // writeProperties writes the length prefix first: drop it.
  return block.subarray(end - length, end);
}

const propertyReader = new PacketReader();

function decodePropertyList(list: Buffer | null, path: string): Properties {
  if (list === null || list.length === 0) return EMPTY_PROPERTIES;
  // decodeProperties reads the block with its length prefix, which the codec leaves out.
  const block = Buffer.allocUnsafe(varintLength(list.length) + list.length);
  list.copy(block, writeVarint(block, 0, list.length));
  propertyReader.reset(block, 0, block.length);
  try {
    return decodeProperties(propertyReader, PacketType.Publish, {
      invalidCode: ReasonCode.MalformedPacket,
      serverSide: true,
    });
  } catch (error) {
    if (error instanceof MqttError)
      throw new StoreError(`${path}: bad message properties: ${error.message}`);
    throw error;
  }
}

function toQos(value: number): QoS {
  return value >= 2 ? 2 : value === 1 ? 1 : 0;
}

/** A DurableState as the chunks Mosquitto 2.0 writes, in its order. */
export function stateToDbFile(state: DurableState, shutdown: boolean): MosquittoDbFile {
  const chunks: DbChunk[] = [
    { type: 'cfg', lastDbId: BigInt(state.lastStoreId), shutdown, dbIdSize: 8 },
  ];
  for (const m of state.baseMessages) {
    chunks.push({
      type: 'msgStore',
      storeId: BigInt(m.storeId),
      expiryTime: BigInt(m.expiryTime),
      sourceId: m.sourceId === '' ? null : m.sourceId,
      sourceUsername: m.sourceUsername,
      sourceMid: m.sourceMid,
      sourcePort: m.sourcePort,
      topic: m.topic,
      // Mosquitto saves $SYS messages without their retain flag.
      qos: m.qos,
      retain: m.retain && !m.topic.startsWith('$SYS'),
      payload: m.payload,
      properties: encodePropertyList(m.properties),
    });
  }
  const messagesOf = new Map<string, ClientMessageRecord[]>();
  for (const cm of state.clientMessages) {
    let list = messagesOf.get(cm.clientId);
    if (list === undefined) messagesOf.set(cm.clientId, (list = []));
    list.push(cm);
  }
  for (const c of state.clients) {
    chunks.push({
      type: 'client',
      clientId: c.clientId,
      username: c.username,
      sessionExpiryTime: BigInt(c.sessionExpiryTime),
      sessionExpiryInterval: c.sessionExpiryInterval,
      lastMid: c.lastMid,
      listenerPort: c.listenerPort,
    });
    for (const cm of messagesOf.get(c.clientId) ?? []) {
      chunks.push({
        type: 'clientMsg',
        storeId: BigInt(cm.storeId),
        mid: cm.mid,
        clientId: cm.clientId,
        qos: cm.qos,
        state: cm.state,
        retain: cm.retain,
        dup: cm.dup,
        direction: cm.direction,
        properties:
          cm.subscriptionId === 0
            ? null
            : encodePropertyList({ subscriptionIdentifiers: [cm.subscriptionId] }),
      });
    }
  }
  for (const s of state.subscriptions) {
    chunks.push({
      type: 'sub',
      clientId: s.clientId,
      topic: s.topicFilter,
      qos: s.options & 0x03,
      // Mosquitto 2.0 keeps no-local and retain-as-published only.
      options: s.options & 0x0c,
      identifier: s.identifier,
    });
  }
  for (const r of state.retains) chunks.push({ type: 'retain', storeId: BigInt(r.storeId) });
  return { version: 6, chunks };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function safeNumber(value: bigint, what: string, path: string): number {
  if (value < 0n || value > MAX_SAFE) {
    throw new StoreError(`${path}: ${what} ${value} out of range`);
  }
  return Number(value);
}

/**
 * The records of a mosquitto.db file, chunk by chunk as the reader hands them over, into a
 * sink. One record object per kind serves every message and client message (the sink
 * copies what it keeps), so a large store costs no object per chunk on the way.
 */
export class DbRecordFeeder implements DbChunkVisitor {
  readonly #sink: DurableStateSink;
  readonly #path: string;
  #cmsgId = 1;
  readonly #message = blankBaseMessage();
  readonly #clientMessage = blankClientMessage();

  constructor(sink: DurableStateSink, path: string) {
    this.#sink = sink;
    this.#path = path;
  }

  chunk(chunk: DbConfigChunk | DbClientChunk | DbSubscriptionChunk): void {
    switch (chunk.type) {
      case 'cfg':
        this.#sink.lastStoreId(safeNumber(chunk.lastDbId, 'last db id', this.#path));
        break;
      case 'client':
        this.#sink.client({
          clientId: chunk.clientId,
          username: chunk.username,
          sessionExpiryTime: safeNumber(chunk.sessionExpiryTime, 'session expiry time', this.#path),
          sessionExpiryInterval: chunk.sessionExpiryInterval,
          lastMid: chunk.lastMid,
          listenerPort: chunk.listenerPort,
          willDelayTime: 0,
          willDelayInterval: 0,
          maxPacketSize: 0,
          maxQos: 2,
          retainAvailable: true,
        });
        break;
      case 'sub':
        this.#sink.subscription({
          clientId: chunk.clientId,
          topicFilter: chunk.topic,
          options: (chunk.qos & 0x03) | (chunk.options & 0x3c),
          identifier: chunk.identifier,
        });
        break;
    }
  }

  message(fields: DbMessageFields): void {
    const record = this.#message;
    record.storeId = fields.storeId;
    record.expiryTime = fields.expiryTime;
    record.topic = fields.topic;
    record.payload = fields.payload;
    record.sourceId = fields.sourceId ?? '';
    record.sourceUsername = fields.sourceUsername;
    record.sourceMid = fields.sourceMid;
    record.sourcePort = fields.sourcePort;
    record.qos = toQos(fields.qos);
    record.retain = fields.retain;
    record.properties = decodePropertyList(fields.properties, this.#path);
    this.#sink.baseMessage(record);
  }

  clientMessage(fields: DbClientMessageFields): void {
    const record = this.#clientMessage;
    record.clientId = fields.clientId;
    record.cmsgId = this.#cmsgId++;
    record.storeId = fields.storeId;
    record.mid = fields.mid;
    record.qos = toQos(fields.qos);
    record.retain = fields.retain;
    record.dup = fields.dup;
    record.direction = fields.direction === 0 ? 0 : 1;
    record.state = fields.state as MessageState;
    record.subscriptionId =
      fields.properties === null
        ? 0
        : (decodePropertyList(fields.properties, this.#path).subscriptionIdentifiers?.[0] ?? 0);
    this.#sink.clientMessage(record);
  }

  retain(storeId: number): void {
    this.#sink.retainOwnTopic(storeId);
  }
}

export class MosquittoDbStore implements PersistenceStore {
  readonly location: string;
  readonly incremental = false;
  readonly wantsSnapshots = true;

  constructor(path: string) {
    this.location = path;
  }

  load(sink: DurableStateSink): void {
    if (!existsSync(this.location)) return;
    // The file is read a window at a time, and each chunk goes to the sink as soon as it is
    // read (payloads as views of the window, which the sink copies): a large store is never
    // in memory whole, as bytes, chunks or records.
    let fd: number | null = null;
    try {
      fd = openSync(this.location, 'r');
      readMosquittoDbFile(fd, this.location, {
        visitor: new DbRecordFeeder(sink, this.location),
      });
    } catch (error) {
      if (error instanceof MosquittoDbError) throw new StoreError(error.message);
      // The file system's own errors (EACCES, EIO, ...), as Node reports them.
      if (typeof (error as { code?: unknown }).code === 'string') {
        throw new StoreError(`${this.location}: ${(error as Error).message}`);
      }
      throw error;
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  save(state: DurableState, shutdown: boolean): void {
    const data = writeMosquittoDb(stateToDbFile(state, shutdown));
    try {
      writeMosquittoDbFileAtomic(this.location, data);
    } catch (error) {
      throw new StoreError((error as Error).message);
    }
  }

  commit(): void {
    // Everything is written by save().
  }

  quarantine(): string | null {
    const moved = `${this.location}.corrupt-${Math.floor(Date.now() / 1000)}`;
    try {
      renameSync(this.location, moved);
      return moved;
    } catch {
      return null;
    }
  }

  close(): void {}

  // Events: a snapshot store takes the whole state at save().
  baseMessageAdd(): void {}
  baseMessageDelete(): void {}
  clientAdd(): void {}
  clientUpdate(): void {}
  clientDelete(): void {}
  clientMessageAdd(): void {}
  clientMessageUpdate(): void {}
  clientMessageDelete(): void {}
  clientMessagesClear(): void {}
  subscriptionAdd(): void {}
  subscriptionDelete(): void {}
  retainSet(): void {}
  retainDelete(): void {}
  willAdd(): void {}
  willDelete(): void {}
}
