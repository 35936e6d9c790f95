/**
 * mosquitto_db_dump's view of a file: the chunk readers of Mosquitto's persist_read_v5.c
 * and persist_read_v234.c (which db_dump links) reproduced with their stdio behaviour, so
 * that our tool prints what theirs prints for damaged files too, not only for good ones.
 *
 * Unlike readMosquittoDb (src/common/mosquitto-db), nothing is checked that Mosquitto does
 * not check: a chunk's fields are read one after another from the stream whatever its
 * length says, a short read fails the chunk, and strings are C strings (a zero-length one
 * is NULL, printed as glibc's "(null)"; printing stops at a NUL byte).
 */
import type { Buffer } from 'node:buffer';
import { parseDbProperties, type DbProperty } from '../common/mosquitto-db.ts';

/** MQTT_MAX_PAYLOAD. */
export const MAX_PAYLOAD = 268_435_455;

/** A FILE* over the whole file: fread() either reads all it asked for or fails. */
export class DbStream {
  pos = 0;

  constructor(readonly data: Buffer) {}

  /** fread(buf, n, 1): the bytes, or null (having consumed what was left) when short. */
  read(length: number): Buffer | null {
    if (this.pos > this.data.length || this.data.length - this.pos < length) {
      this.pos = Math.max(this.pos, this.data.length);
      return null;
    }
    const bytes = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return bytes;
  }

  /** fseek(length, SEEK_CUR): past the end is allowed, later reads then fail. */
  skip(length: number): void {
    this.pos += length;
  }
}

export interface RawCfg {
  readonly lastDbId: bigint;
  readonly shutdown: number;
  readonly dbIdSize: number;
}

export interface RawMsgStore {
  readonly storeId: bigint;
  /** int64. */
  readonly expiryTime: bigint;
  readonly payloadLength: number;
  readonly sourceMid: number;
  readonly sourcePort: number;
  readonly qos: number;
  readonly retain: number;
  readonly sourceId: Buffer | null;
  readonly sourceUsername: Buffer | null;
  readonly topic: Buffer | null;
  readonly payload: Buffer | null;
  readonly properties: readonly DbProperty[] | null;
}

export interface RawClientMsg {
  readonly storeId: bigint;
  readonly mid: number;
  readonly qos: number;
  readonly state: number;
  readonly retainDup: number;
  readonly direction: number;
  readonly clientId: Buffer | null;
  /** The property list (2.0 prints it; 2.1 keeps only the subscription identifier). */
  readonly properties: readonly DbProperty[] | null;
}

export interface RawClient {
  /** int64. */
  readonly sessionExpiryTime: bigint;
  readonly sessionExpiryInterval: number;
  readonly lastMid: number;
  readonly listenerPort: number;
  /** NULL only in versions 2 to 4 (5 and 6 refuse a client without an id). */
  readonly clientId: Buffer | null;
  readonly username: Buffer | null;
}

export interface RawSub {
  readonly identifier: number;
  readonly qos: number;
  readonly options: number;
  readonly clientId: Buffer | null;
  readonly topic: Buffer | null;
}

/**
 * One chunk reader: the chunk, or null when Mosquitto's reader returns an error. `v21`
 * adds the checks 2.1's readers make (mosquitto_db_dump --json is 2.1's).
 */
type Reader<T> = (stream: DbStream, version: number, length: number, v21: boolean) => T | null;

const isV56 = (version: number): boolean => version === 5 || version === 6;

/** persist__read_string_len(): NULL for length 0. */
function stringOfLength(stream: DbStream, length: number): Buffer | null | false {
  if (length === 0) return null;
  const bytes = stream.read(length);
  return bytes ?? false;
}

/** persist__read_string(): a uint16 length, then the bytes. */
function lengthPrefixedString(stream: DbStream): Buffer | null | false {
  const length = stream.read(2);
  if (length === null) return false;
  return stringOfLength(stream, length.readUInt16BE(0));
}

/** persist__chunk_header_read(): [type, length], or null at the end of the file. */
export function readChunkHeader(stream: DbStream, version: number): [number, number] | null {
  if (isV56(version)) {
    const header = stream.read(8);
    return header === null ? null : [header.readUInt32BE(0), header.readUInt32BE(4)];
  }
  const type = stream.read(2);
  if (type === null) return null;
  const length = stream.read(4);
  if (length === null) return null;
  return [type.readUInt16BE(0), length.readUInt32BE(0)];
}

export const readCfg: Reader<RawCfg> = (stream, version) => {
  if (isV56(version)) {
    const fixed = stream.read(16);
    if (fixed === null) return null;
    return {
      lastDbId: fixed.readBigUInt64LE(0),
      shutdown: fixed[8] ?? 0,
      dbIdSize: fixed[9] ?? 0,
    };
  }
  const shutdown = stream.read(1);
  if (shutdown === null) return null;
  const dbIdSize = stream.read(1);
  if (dbIdSize === null) return null;
  const lastDbId = stream.read(8);
  if (lastDbId === null) return null;
  return {
    lastDbId: lastDbId.readBigUInt64LE(0),
    shutdown: shutdown[0] ?? 0,
    dbIdSize: dbIdSize[0] ?? 0,
  };
};

/** persist__chunk_msg_store_read_v56() / _v234(). */
export const readMsgStore: Reader<RawMsgStore> = (stream, version, length, v21) => {
  if (!isV56(version)) return readMsgStoreV234(stream, version, v21);
  const fixed = stream.read(32);
  if (fixed === null) return null;
  const payloadLength = fixed.readUInt32BE(16);
  if (payloadLength > MAX_PAYLOAD) return null;
  const sourceIdLength = fixed.readUInt16BE(22);
  const usernameLength = fixed.readUInt16BE(24);
  const topicLength = fixed.readUInt16BE(26);
  const propertiesLength =
    (length - 32 - payloadLength - sourceIdLength - usernameLength - topicLength) >>> 0;
  const fields = {
    storeId: fixed.readBigUInt64LE(0),
    expiryTime: fixed.readBigInt64LE(8),
    payloadLength,
    sourceMid: fixed.readUInt16BE(20),
    sourcePort: fixed.readUInt16BE(28),
    qos: fixed[30] ?? 0,
    retain: fixed[31] ?? 0,
  };
  if (v21 && propertiesLength > MAX_PAYLOAD) {
    // 2.1.2 leaves by its error path with rc still 0: a "successful" read of the fixed
    // part alone, and the next chunk header is read from inside this chunk.
    return {
      ...fields,
      sourceId: null,
      sourceUsername: null,
      topic: null,
      payload: null,
      properties: null,
    };
  }
  const sourceId = stringOfLength(stream, sourceIdLength);
  if (sourceId === false) return null;
  const sourceUsername = stringOfLength(stream, usernameLength);
  if (sourceUsername === false) return null;
  const topic = stringOfLength(stream, topicLength);
  if (topic === false) return null;
  let payload: Buffer | null = null;
  if (payloadLength > 0) {
    payload = stream.read(payloadLength);
    if (payload === null) return null;
  }
  const properties = readProperties(stream, propertiesLength);
  if (properties === false) return null;
  return { ...fields, sourceId, sourceUsername, topic, payload, properties };
};

function readMsgStoreV234(stream: DbStream, version: number, v21: boolean): RawMsgStore | null {
  const storeId = stream.read(8);
  if (storeId === null) return null;
  const sourceId = lengthPrefixedString(stream);
  if (sourceId === false) return null;
  let sourceUsername: Buffer | null = null;
  let sourcePort = 0;
  if (version === 4) {
    const username = lengthPrefixedString(stream);
    if (username === false) return null;
    sourceUsername = username;
    const port = stream.read(2);
    if (port === null) return null;
    sourcePort = port.readUInt16BE(0);
  }
  const sourceMid = stream.read(2);
  if (sourceMid === null) return null;
  if (stream.read(2) === null) return null; // the stored mid, unused
  const topic = lengthPrefixedString(stream);
  if (topic === false || (v21 && topic === null)) return null;
  const qos = stream.read(1);
  if (qos === null) return null;
  const retain = stream.read(1);
  if (retain === null) return null;
  const payloadLength = stream.read(4);
  if (payloadLength === null) return null;
  const length = payloadLength.readUInt32BE(0);
  if (v21 && length > MAX_PAYLOAD) return null;
  let payload: Buffer | null = null;
  if (length > 0) {
    payload = stream.read(length);
    if (payload === null) return null;
  }
  return {
    storeId: storeId.readBigUInt64LE(0),
    expiryTime: 0n,
    payloadLength: length,
    sourceMid: sourceMid.readUInt16BE(0),
    sourcePort,
    qos: qos[0] ?? 0,
    retain: retain[0] ?? 0,
    sourceId,
    sourceUsername,
    topic,
    payload,
    properties: null,
  };
}

/** persist__chunk_client_msg_read_v56() / _v234(). */
export const readClientMsg: Reader<RawClientMsg> = (stream, version, length, v21) => {
  if (!isV56(version)) {
    const clientId = lengthPrefixedString(stream);
    if (clientId === false) return null;
    const fields = stream.read(8 + 2 + 5);
    if (fields === null) return null;
    const retain = fields[11] ?? 0;
    const dup = fields[14] ?? 0;
    return {
      storeId: fields.readBigUInt64LE(0),
      mid: fields.readUInt16BE(8),
      qos: fields[10] ?? 0,
      direction: fields[12] ?? 0,
      state: fields[13] ?? 0,
      retainDup: ((retain & 0x0f) << 4) | (dup & 0x0f),
      clientId,
      properties: null,
    };
  }
  const fixed = stream.read(16);
  if (fixed === null) return null;
  const idLength = fixed.readUInt16BE(10);
  const propertiesLength = (length - 16 - idLength) >>> 0;
  if (v21 && propertiesLength > MAX_PAYLOAD) return null;
  const clientId = stringOfLength(stream, idLength);
  if (clientId === false) return null;
  const properties = readProperties(stream, propertiesLength);
  if (properties === false) return null;
  return {
    storeId: fixed.readBigUInt64LE(0),
    mid: fixed.readUInt16BE(8),
    qos: fixed[12] ?? 0,
    state: fixed[13] ?? 0,
    retainDup: fixed[14] ?? 0,
    direction: fixed[15] ?? 0,
    clientId,
    properties,
  };
};

/** `length` bytes read whole, then property__read_all(): false on any failure. */
function readProperties(stream: DbStream, length: number): readonly DbProperty[] | null | false {
  if (length === 0) return null;
  const bytes = stream.read(length);
  if (bytes === null) return false;
  const parsed = parseDbProperties(bytes, 0, bytes.length);
  if (!parsed.ok) return false;
  return parsed.properties.length === 0 ? null : parsed.properties;
}

export const readRetain: Reader<bigint> = (stream) => {
  const storeId = stream.read(8);
  return storeId === null ? null : storeId.readBigUInt64LE(0);
};

/** persist__chunk_sub_read_v56() / _v234(). */
export const readSub: Reader<RawSub> = (stream, version) => {
  if (!isV56(version)) {
    const clientId = lengthPrefixedString(stream);
    if (clientId === false) return null;
    const topic = lengthPrefixedString(stream);
    if (topic === false) return null;
    const qos = stream.read(1);
    if (qos === null) return null;
    return { identifier: 0, qos: qos[0] ?? 0, options: 0, clientId, topic };
  }
  const fixed = stream.read(12);
  if (fixed === null) return null;
  const clientId = stringOfLength(stream, fixed.readUInt16BE(4));
  if (clientId === false) return null;
  const topic = stringOfLength(stream, fixed.readUInt16BE(6));
  if (topic === false) return null;
  return {
    identifier: fixed.readUInt32BE(0),
    qos: fixed[8] ?? 0,
    options: fixed[9] ?? 0,
    clientId,
    topic,
  };
};

/**
 * persist__chunk_client_read_v56() / _v234(). A client without an id is an error for
 * db_dump (the broker only warns about it).
 */
export const readClient: Reader<RawClient> = (stream, version) => {
  if (!isV56(version)) {
    const clientId = lengthPrefixedString(stream);
    if (clientId === false) return null;
    const lastMid = stream.read(2);
    if (lastMid === null) return null;
    if (version !== 2 && stream.read(8) === null) return null; // time_t disconnect_t
    return {
      sessionExpiryTime: 0n,
      sessionExpiryInterval: 0,
      lastMid: lastMid.readUInt16BE(0),
      listenerPort: 0,
      clientId,
      username: null,
    };
  }
  const fixed = stream.read(version === 6 ? 24 : 16);
  if (fixed === null) return null;
  const usernameLength = version === 6 ? fixed.readUInt16BE(18) : 0;
  const clientId = stringOfLength(stream, fixed.readUInt16BE(14));
  if (clientId === false || clientId === null) return null;
  let username: Buffer | null = null;
  if (usernameLength > 0) {
    const bytes = stringOfLength(stream, usernameLength);
    if (bytes === false || bytes === null) return null;
    username = bytes;
  }
  return {
    sessionExpiryTime: fixed.readBigInt64LE(0),
    sessionExpiryInterval: fixed.readUInt32BE(8),
    lastMid: fixed.readUInt16BE(12),
    listenerPort: version === 6 ? fixed.readUInt16BE(16) : 0,
    clientId,
    username,
  };
};
