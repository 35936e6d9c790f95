/**
 * readMosquittoDb: the whole of a `mosquitto.db` file, checked, or a MosquittoDbError;
 * readMosquittoDbFile: the same from an open file, a window at a time, into a visitor.
 *
 * Reads what Mosquitto 2.0.22's persist__restore() reads: format versions 6 (2.0, 2.1),
 * 5 (1.6) and 2 to 4 (1.x). Stricter than Mosquitto, which stops quietly at a partial
 * chunk header and mostly reads a chunk's fields without comparing them with its length:
 * here the file must end on a chunk boundary and, in versions 5 and 6, every chunk's
 * contents must fill exactly the length its header declares, so a damaged file is refused
 * instead of half loaded. In versions 2 to 4 the length is ignored as Mosquitto ignores it
 * (1.5's writer got it wrong: its MSG_STORE lengths count the source id twice), and the
 * next chunk starts where the contents end. A file cut exactly between two chunks cannot
 * be told from a shorter one (the CRC field is always 0); it reads as the chunks before.
 *
 * Like Mosquitto, chunks of an unknown type are skipped (it warns "Unsupported chunk"),
 * through `onUnknownChunk` when given. Strings must be UTF-8 (Mosquitto only ever writes
 * strings it validated as UTF-8); a zero-length source id or username is null, as
 * Mosquitto reads it as a NULL pointer. For versions 2 to 4 the fields those versions lack
 * get the values Mosquitto's reader leaves in them: 0, false, null.
 */
import { Buffer } from 'node:buffer';
import {
  DB_CHUNK_NAMES,
  DB_FILE_HEADER_SIZE,
  DB_MAGIC,
  DB_OLDEST_VERSION,
  DB_VERSION,
  DBID_SIZE,
  DbChunkType,
  MQTT_MAX_PAYLOAD,
  MosquittoDbError,
  PF_CFG_SIZE,
  PF_CLIENT_MSG_SIZE,
  PF_CLIENT_SIZE,
  PF_CLIENT_V5_SIZE,
  PF_HEADER_SIZE,
  PF_HEADER_SIZE_V234,
  PF_MSG_STORE_SIZE,
  PF_RETAIN_SIZE,
  PF_SUB_SIZE,
  TIME_T_SIZE,
  type DbChunk,
  type DbChunkVisitor,
  type DbClientChunk,
  type DbClientMessageFields,
  type DbConfigChunk,
  type DbMessageFields,
  type DbSubscriptionChunk,
  type MosquittoDbFile,
} from './format.ts';
import { fstatSync } from 'node:fs';
import { LastString } from '../last-string.ts';
import { parseDbProperties } from './properties.ts';
import { FileWindow } from './window.ts';

export interface ReadMosquittoDbOptions {
  /** Called for each chunk of a type Mosquitto does not know, which is skipped. */
  onUnknownChunk?: (chunkType: number, length: number, offset: number) => void;
  /**
   * Hands each chunk over as soon as it is read, instead of collecting them (the result's
   * `chunks` is then empty). Stricter than collecting: a store id or time beyond 2^53
   * makes the file corrupt.
   */
  visitor?: DbChunkVisitor;
}

// ignoreBOM: a leading U+FEFF is part of the string, not a byte order mark to drop.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a whole `mosquitto.db` file. `path` is only used in error messages. Throws
 * MosquittoDbError (never anything else) for an empty, foreign, truncated or corrupt file.
 */
export function readMosquittoDb(
  data: Buffer,
  path: string,
  options: ReadMosquittoDbOptions = {},
): MosquittoDbFile {
  return readWindow(FileWindow.whole(data), path, options);
}

/**
 * Reads the open file `fd` into `visitor` (see ReadMosquittoDbOptions) a window at a time,
 * so that a large file is never in memory whole. Throws MosquittoDbError as
 * readMosquittoDb does, and what reading the file throws.
 */
export function readMosquittoDbFile(
  fd: number,
  path: string,
  options: ReadMosquittoDbOptions & { visitor: DbChunkVisitor },
): void {
  readWindow(FileWindow.reading(fd, fstatSync(fd).size, path), path, options);
}

function readWindow(
  window: FileWindow,
  path: string,
  options: ReadMosquittoDbOptions,
): MosquittoDbFile {
  const size = window.size;
  if (size === 0) throw new MosquittoDbError(path, 'empty', 'empty file', 0);
  window.ensure(0, DB_FILE_HEADER_SIZE);
  const magicLength = Math.min(size, DB_MAGIC.length);
  if (!window.data.subarray(0, magicLength).equals(DB_MAGIC.subarray(0, magicLength))) {
    throw new MosquittoDbError(path, 'format', 'unrecognised file format (bad magic)', 0);
  }
  if (size < DB_FILE_HEADER_SIZE) {
    throw new MosquittoDbError(
      path,
      'truncated',
      `truncated file header (${size} of ${DB_FILE_HEADER_SIZE} bytes)`,
      0,
    );
  }
  // The CRC field (offset 15) is always written as 0 and never checked by Mosquitto.
  const version = window.data.readUInt32BE(19);
  if (version < DB_OLDEST_VERSION || version > DB_VERSION) {
    throw new MosquittoDbError(
      path,
      'version',
      `unsupported persistent database format version ${version} (need version ${DB_VERSION}; ${DB_OLDEST_VERSION} to ${DB_VERSION - 1} are also read)`,
      19,
    );
  }
  // Versions 2 to 4 say where a chunk ends only by its contents: read whole (they are old
  // and small).
  if (version < 5) window.ensure(DB_FILE_HEADER_SIZE, size);
  const visitor = options.visitor ?? null;
  const reader = new ChunkReader(window, path, version, visitor);
  const chunks: DbChunk[] = [];
  const headerSize = version >= 5 ? PF_HEADER_SIZE : PF_HEADER_SIZE_V234;
  let offset = DB_FILE_HEADER_SIZE;
  while (offset < size) {
    if (size - offset < headerSize) {
      throw new MosquittoDbError(
        path,
        'truncated',
        `truncated chunk header at offset ${offset}`,
        offset,
      );
    }
    window.ensure(offset, offset + headerSize);
    const at = offset - window.base;
    const data = window.data;
    const type = version >= 5 ? data.readUInt32BE(at) : data.readUInt16BE(at);
    const length = version >= 5 ? data.readUInt32BE(at + 4) : data.readUInt32BE(at + 2);
    const start = offset + headerSize;
    const name = DB_CHUNK_NAMES[type];
    if (name === undefined) {
      if (size - start < length) {
        throw new MosquittoDbError(
          path,
          'truncated',
          `truncated chunk of unknown type ${type} at offset ${offset}`,
          offset,
        );
      }
      options.onUnknownChunk?.(type, length, offset);
      offset = start + length;
    } else {
      if (version >= 5) window.ensure(offset, start + length);
      const chunk = reader.chunk(type, name, offset, start, length);
      if (visitor === null) chunks.push(chunk as DbChunk);
      else if (chunk !== null)
        visitor.chunk(chunk as DbConfigChunk | DbClientChunk | DbSubscriptionChunk);
      offset = reader.next;
    }
  }
  return { version, chunks };
}

/** Reads one chunk body at a time; every failure becomes a MosquittoDbError. */
class ChunkReader {
  private pos = 0;
  private end = 0;
  /** Where the chunk after the last one read starts. */
  next = 0;
  private name = '';
  private offset = 0;
  /** One per kind of string (see LastString): repeated ones are decoded once. */
  private readonly sourceIds = new LastString();
  private readonly usernames = new LastString();
  private readonly topics = new LastString();
  private readonly clientIds = new LastString();

  /**
   * The last MSG_STORE or CLIENT_MSG read, ids still to be read from where they are (as
   * bigints for a chunk, as numbers for a visitor).
   */
  private readonly message: DbMessageFields = {
    storeId: 0,
    expiryTime: 0,
    sourceId: null,
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 0,
    topic: '',
    qos: 0,
    retain: false,
    payload: Buffer.alloc(0),
    properties: null,
  };
  private readonly clientMessage: DbClientMessageFields = {
    storeId: 0,
    mid: 0,
    clientId: '',
    qos: 0,
    state: 0,
    retain: false,
    dup: false,
    direction: 0,
    properties: null,
  };
  /** Where the last store id (and message expiry time, -1: none) were. */
  private storeIdAt = 0;
  private expiryAt = -1;

  /** The window's bytes: positions (pos, end) are in it, chunk offsets in the file. */
  private data: Buffer;
  private base = 0;
  /** window.moves when the string caches were last valid. */
  private moves = -1;

  constructor(
    private readonly window: FileWindow,
    private readonly path: string,
    private readonly version: number,
    private readonly visitor: DbChunkVisitor | null,
  ) {
    this.data = window.data;
  }

  /** The chunk read; null when it went to the visitor already. */
  chunk(type: number, name: string, offset: number, start: number, length: number): DbChunk | null {
    const window = this.window;
    if (window.moves !== this.moves) {
      // The bytes the cached strings came from are gone.
      this.moves = window.moves;
      this.data = window.data;
      this.base = window.base;
      this.sourceIds.forget();
      this.usernames.forget();
      this.topics.forget();
      this.clientIds.forget();
    }
    const base = this.base;
    this.name = name;
    this.offset = offset;
    this.pos = start - base;
    if (this.version < 5) {
      // Versions 2 to 4 (the whole file is in the window): the contents alone say where
      // the chunk ends.
      this.end = this.data.length;
      let chunk: DbChunk | null;
      try {
        chunk = this.body(type, length);
      } catch (error) {
        if (error instanceof OutOfData) throw this.error('truncated', 'truncated');
        throw error;
      }
      this.next = base + this.pos;
      return chunk ?? this.hand(type);
    }
    // The declared length may run past the end of the file: reads are then bounded by the
    // file, so a cut shows up as truncation rather than as a length mismatch.
    const size = window.size;
    this.end = Math.min(start + length, size) - base;
    const truncated = start + length > size;
    this.next = start + length;
    let chunk: DbChunk | null;
    try {
      chunk = this.body(type, length);
    } catch (error) {
      if (error instanceof OutOfData && truncated) throw this.error('truncated', 'truncated');
      if (error instanceof OutOfData) {
        throw this.error('corrupt', `length ${length} is too short for its contents`);
      }
      throw error;
    }
    if (truncated) throw this.error('truncated', 'truncated');
    if (this.pos !== start - base + length) {
      throw this.error(
        'corrupt',
        `length ${length} does not match its contents (${this.pos - (start - base)} bytes)`,
      );
    }
    return chunk ?? this.hand(type);
  }

  /**
   * The message, client message or retain just read (body() returned null for it): to the
   * visitor, or as a chunk of its own.
   */
  private hand(type: number): DbChunk | null {
    const data = this.data;
    const visitor = this.visitor;
    if (type === DbChunkType.MsgStore) {
      const m = this.message;
      if (visitor === null) {
        return {
          ...m,
          type: 'msgStore',
          storeId: data.readBigUInt64LE(this.storeIdAt),
          expiryTime: this.expiryAt < 0 ? 0n : data.readBigInt64LE(this.expiryAt),
          payload: Buffer.from(m.payload),
          properties: m.properties === null ? null : Buffer.from(m.properties),
        };
      }
      m.storeId = this.safe(this.storeIdAt, 'store id');
      m.expiryTime = this.expiryAt < 0 ? 0 : this.safe(this.expiryAt, 'expiry time');
      visitor.message(m);
    } else if (type === DbChunkType.ClientMsg) {
      const m = this.clientMessage;
      if (visitor === null) {
        return {
          ...m,
          type: 'clientMsg',
          storeId: data.readBigUInt64LE(this.storeIdAt),
          properties: m.properties === null ? null : Buffer.from(m.properties),
        };
      }
      m.storeId = this.safe(this.storeIdAt, 'store id');
      visitor.clientMessage(m);
    } else if (visitor === null) {
      return { type: 'retain', storeId: data.readBigUInt64LE(this.storeIdAt) };
    } else {
      visitor.retain(this.safe(this.storeIdAt, 'store id'));
    }
    return null;
  }

  /**
   * The 64-bit little-endian value at `at` as a number: from 0 to 2^53 - 1 (as large as
   * Mosquitto's counters get in practice), else the file is refused.
   */
  private safe(at: number, what: string): number {
    // Byte by byte: Buffer's readUInt32LE checks its arguments, at a cost that shows over
    // millions of ids.
    const d = this.data;
    const high = (d[at + 4] ?? 0) | ((d[at + 5] ?? 0) << 8) | ((d[at + 6] ?? 0) << 16);
    if ((d[at + 7] ?? 0) !== 0 || high > 0x1fffff) {
      throw this.error('corrupt', `${what} ${d.readBigUInt64LE(at)} out of range`);
    }
    const low =
      ((d[at] ?? 0) | ((d[at + 1] ?? 0) << 8) | ((d[at + 2] ?? 0) << 16)) +
      (d[at + 3] ?? 0) * 0x100_0000;
    const value = high * 0x1_0000_0000 + low;
    // As a small integer where it is one: a double here would make every StoredMessage's
    // storeId field a boxed number (an extra object per message, restored or not).
    return value <= 0x7fff_ffff ? value | 0 : value;
  }

  /** The chunk, or null for a message, client message or retain (see hand()). */
  private body(type: number, length: number): DbChunk | null {
    const v56 = this.version >= 5;
    switch (type) {
      case DbChunkType.Cfg:
        return v56 ? this.cfgV56() : this.cfgV234();
      case DbChunkType.MsgStore:
        return v56 ? this.msgStoreV56(length) : this.msgStoreV234();
      case DbChunkType.ClientMsg:
        return v56 ? this.clientMsgV56(length) : this.clientMsgV234();
      case DbChunkType.Retain:
        this.need(v56 ? PF_RETAIN_SIZE : DBID_SIZE);
        this.storeIdAt = this.pos;
        this.pos += v56 ? PF_RETAIN_SIZE : DBID_SIZE;
        return null;
      case DbChunkType.Sub:
        return v56 ? this.subV56() : this.subV234();
      default:
        return v56 ? this.clientV56() : this.clientV234();
    }
  }

  private cfgV56(): DbConfigChunk {
    this.need(PF_CFG_SIZE);
    const at = this.pos;
    const chunk = this.cfg(this.data.readBigUInt64LE(at), this.data[at + 8], this.data[at + 9]);
    this.pos += PF_CFG_SIZE;
    return chunk;
  }

  private cfgV234(): DbConfigChunk {
    const shutdown = this.u8();
    const dbIdSize = this.u8();
    return this.cfg(this.u64(DBID_SIZE), shutdown, dbIdSize);
  }

  private cfg(lastDbId: bigint, shutdown = 0, dbIdSize = 0): DbConfigChunk {
    if (dbIdSize !== DBID_SIZE) {
      throw this.error(
        'corrupt',
        `incompatible database configuration (dbid size is ${dbIdSize} bytes, expected ${DBID_SIZE})`,
      );
    }
    return { type: 'cfg', lastDbId, shutdown: shutdown !== 0, dbIdSize };
  }

  private msgStoreV56(length: number): null {
    this.need(PF_MSG_STORE_SIZE);
    const at = this.pos;
    const data = this.data;
    const m = this.message;
    this.storeIdAt = at;
    this.expiryAt = at + 8;
    const payloadLength = data.readUInt32BE(at + 16);
    m.sourceMid = data.readUInt16BE(at + 20);
    const sourceIdLength = data.readUInt16BE(at + 22);
    const usernameLength = data.readUInt16BE(at + 24);
    const topicLength = data.readUInt16BE(at + 26);
    m.sourcePort = data.readUInt16BE(at + 28);
    m.qos = data[at + 30] ?? 0;
    m.retain = (data[at + 31] ?? 0) !== 0;
    this.pos += PF_MSG_STORE_SIZE;
    this.checkPayloadLength(payloadLength);
    const propertiesLength =
      length - PF_MSG_STORE_SIZE - payloadLength - sourceIdLength - usernameLength - topicLength;
    if (propertiesLength < 0) this.tooShort(length);
    m.sourceId = this.optionalString(sourceIdLength, 'source id', this.sourceIds);
    m.sourceUsername = this.optionalString(usernameLength, 'source username', this.usernames);
    m.topic = this.string(topicLength, 'topic', this.topics);
    m.payload = this.bytes(payloadLength);
    m.properties = this.properties(propertiesLength);
    return null;
  }

  private msgStoreV234(): null {
    const m = this.message;
    this.need(DBID_SIZE);
    this.storeIdAt = this.pos;
    this.expiryAt = -1;
    this.pos += DBID_SIZE;
    m.sourceId = this.optionalString(this.u16(), 'source id', this.sourceIds);
    m.sourceUsername = null;
    m.sourcePort = 0;
    if (this.version === 4) {
      m.sourceUsername = this.optionalString(this.u16(), 'source username', this.usernames);
      m.sourcePort = this.u16();
    }
    m.sourceMid = this.u16();
    this.u16(); // the mid the message had when stored: Mosquitto ignores it
    m.topic = this.string(this.u16(), 'topic', this.topics);
    m.qos = this.u8();
    m.retain = this.u8() !== 0;
    const payloadLength = this.u32();
    this.checkPayloadLength(payloadLength);
    m.payload = this.bytes(payloadLength);
    m.properties = null;
    return null;
  }

  private clientMsgV56(length: number): null {
    this.need(PF_CLIENT_MSG_SIZE);
    const at = this.pos;
    const data = this.data;
    const m = this.clientMessage;
    this.storeIdAt = at;
    m.mid = data.readUInt16BE(at + 8);
    const idLength = data.readUInt16BE(at + 10);
    m.qos = data[at + 12] ?? 0;
    m.state = data[at + 13] ?? 0;
    const retainDup = data[at + 14] ?? 0;
    m.direction = data[at + 15] ?? 0;
    m.retain = (retainDup & 0xf0) !== 0;
    m.dup = (retainDup & 0x0f) !== 0;
    this.pos += PF_CLIENT_MSG_SIZE;
    const propertiesLength = length - PF_CLIENT_MSG_SIZE - idLength;
    if (propertiesLength < 0) this.tooShort(length);
    m.clientId = this.string(idLength, 'client id', this.clientIds);
    m.properties = this.properties(propertiesLength);
    return null;
  }

  private clientMsgV234(): null {
    const m = this.clientMessage;
    m.clientId = this.string(this.u16(), 'client id', this.clientIds);
    this.need(DBID_SIZE);
    this.storeIdAt = this.pos;
    this.pos += DBID_SIZE;
    m.mid = this.u16();
    m.qos = this.u8();
    const retain = this.u8();
    m.direction = this.u8();
    m.state = this.u8();
    const dup = this.u8();
    // Mosquitto keeps the low four bits of each (retain_dup).
    m.retain = (retain & 0x0f) !== 0;
    m.dup = (dup & 0x0f) !== 0;
    m.properties = null;
    return null;
  }

  private subV56(): DbSubscriptionChunk {
    this.need(PF_SUB_SIZE);
    const at = this.pos;
    const identifier = this.data.readUInt32BE(at);
    const idLength = this.data.readUInt16BE(at + 4);
    const topicLength = this.data.readUInt16BE(at + 6);
    const qos = this.data[at + 8] ?? 0;
    const options = this.data[at + 9] ?? 0;
    this.pos += PF_SUB_SIZE;
    const clientId = this.string(idLength, 'client id', this.clientIds);
    const topic = this.string(topicLength, 'topic', this.topics);
    return { type: 'sub', clientId, topic, qos, options, identifier };
  }

  private subV234(): DbSubscriptionChunk {
    const clientId = this.string(this.u16(), 'client id', this.clientIds);
    const topic = this.string(this.u16(), 'topic', this.topics);
    const qos = this.u8();
    return { type: 'sub', clientId, topic, qos, options: 0, identifier: 0 };
  }

  private clientV56(): DbClientChunk {
    const size = this.version === 6 ? PF_CLIENT_SIZE : PF_CLIENT_V5_SIZE;
    this.need(size);
    const at = this.pos;
    const sessionExpiryTime = this.data.readBigInt64LE(at);
    const sessionExpiryInterval = this.data.readUInt32BE(at + 8);
    const lastMid = this.data.readUInt16BE(at + 12);
    const idLength = this.data.readUInt16BE(at + 14);
    const listenerPort = this.version === 6 ? this.data.readUInt16BE(at + 16) : 0;
    const usernameLength = this.version === 6 ? this.data.readUInt16BE(at + 18) : 0;
    this.pos += size;
    // A zero-length id is read as '': Mosquitto skips such a client with "Warning: Empty
    // client entry found in persistence database, it may be corrupt."
    const clientId = this.string(idLength, 'client id', this.clientIds);
    const username = this.optionalString(usernameLength, 'username', this.usernames);
    return {
      type: 'client',
      clientId,
      username,
      sessionExpiryTime,
      sessionExpiryInterval,
      lastMid,
      listenerPort,
    };
  }

  private clientV234(): DbClientChunk {
    const clientId = this.string(this.u16(), 'client id', this.clientIds);
    const lastMid = this.u16();
    if (this.version !== 2) this.bytes(TIME_T_SIZE); // disconnect_t: Mosquitto ignores it
    return {
      type: 'client',
      clientId,
      username: null,
      sessionExpiryTime: 0n,
      sessionExpiryInterval: 0,
      lastMid,
      listenerPort: 0,
    };
  }

  /** The property list filling the rest of a version 5/6 chunk, or null for none. */
  private properties(length: number): Buffer | null {
    if (length === 0) return null;
    const start = this.pos;
    this.need(length);
    const parsed = parseDbProperties(this.data, start, start + length);
    if (!parsed.ok) throw this.error('corrupt', `invalid properties (${parsed.error})`);
    if (parsed.end !== start + length) {
      throw this.error('corrupt', `${start + length - parsed.end} bytes after the property list`);
    }
    this.pos = start + length;
    // Skip the varint length prefix: what remains is the list itself.
    let prefix = 1;
    while (((this.data[start + prefix - 1] ?? 0) & 0x80) !== 0) prefix++;
    return start + prefix === this.pos ? null : this.data.subarray(start + prefix, this.pos);
  }

  private checkPayloadLength(length: number): void {
    if (length > MQTT_MAX_PAYLOAD) {
      throw this.error('corrupt', `payload length ${length} exceeds ${MQTT_MAX_PAYLOAD}`);
    }
  }

  private string(length: number, what: string, last: LastString): string {
    this.need(length);
    const start = this.pos;
    const data = this.data;
    this.pos += length;
    if (last.matches(data, start, length)) return last.value;
    // ASCII (most ids and topics) is valid UTF-8 read as Latin-1, without a view to decode.
    let ascii = true;
    for (let i = start; i < this.pos; i++) {
      if ((data[i] ?? 0) >= 0x80) {
        ascii = false;
        break;
      }
    }
    let value: string;
    if (ascii) {
      value = data.toString('latin1', start, this.pos);
    } else {
      try {
        value = utf8.decode(data.subarray(start, this.pos));
      } catch {
        throw this.error('corrupt', `${what} is not valid UTF-8`);
      }
    }
    return last.remember(value, data, start, length);
  }

  private optionalString(length: number, what: string, last: LastString): string | null {
    return length === 0 ? null : this.string(length, what, last);
  }

  private bytes(length: number): Buffer {
    this.need(length);
    const bytes = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return bytes;
  }

  private u8(): number {
    this.need(1);
    return this.data[this.pos++] ?? 0;
  }

  private u16(): number {
    this.need(2);
    const value = this.data.readUInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  private u32(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  /** A dbid_t, in the writer's (little-endian) host order. */
  private u64(size: number): bigint {
    this.need(size);
    const value = this.data.readBigUInt64LE(this.pos);
    this.pos += size;
    return value;
  }

  private need(length: number): void {
    if (this.end - this.pos < length) throw new OutOfData();
  }

  private tooShort(length: number): never {
    throw this.error('corrupt', `length ${length} is too short for its contents`);
  }

  private error(reason: 'truncated' | 'corrupt', detail: string): MosquittoDbError {
    const what = `${this.name} chunk at offset ${this.offset}`;
    return new MosquittoDbError(
      this.path,
      reason,
      detail === 'truncated' ? `truncated ${what}` : `${what}: ${detail}`,
      this.offset,
    );
  }
}

/** A read past the chunk's (or the file's) end; turned into a MosquittoDbError. */
class OutOfData extends Error {}
