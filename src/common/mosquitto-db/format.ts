/**
 * Mosquitto's `mosquitto.db` persistence file: the chunk types the codec returns, its
 * error, and the layout facts both directions share (Mosquitto 2.0.22's src/persist.h).
 *
 * A file is a 15-byte magic, a 4-byte CRC field (always written as 0 and never checked),
 * a 4-byte big-endian format version, then chunks. Versions 5 and 6 (Mosquitto 1.6 and
 * 2.x) put an 8-byte header (chunk type, length: both uint32 big endian) in front of a
 * fixed C struct written as it lies in memory, followed by the variable-length strings.
 * In those structs the 16- and 32-bit fields are converted to network order but the
 * 64-bit ones (ids, times) are not: they are in the writer's host order, little endian on
 * x86 and ARM. Versions 2 to 4 (Mosquitto 1.x) have a 6-byte header (uint16 type,
 * uint32 length) and write every field one by one.
 */
import { Buffer } from 'node:buffer';

/** Chunks in file order, and the format version the file declared. */
export interface MosquittoDbFile {
  version: number;
  chunks: DbChunk[];
}

export type DbChunk =
  | DbConfigChunk
  | DbMessageChunk
  | DbClientMessageChunk
  | DbRetainChunk
  | DbSubscriptionChunk
  | DbClientChunk;

/** DB_CHUNK_CFG: written first. */
export interface DbConfigChunk {
  type: 'cfg';
  /** The last store id handed out. */
  lastDbId: bigint;
  /** True when written at shutdown, false for an autosave. */
  shutdown: boolean;
  /** sizeof(dbid_t): always 8 (a file with another size is refused). */
  dbIdSize: number;
}

/** DB_CHUNK_MSG_STORE: one stored message (Mosquitto's msg_store / base_msg). */
export interface DbMessageChunk {
  type: 'msgStore';
  storeId: bigint;
  /** Unix seconds when the message expires; 0 for never. */
  expiryTime: bigint;
  /** The publishing client; null when absent (Mosquitto writes no bytes for it). */
  sourceId: string | null;
  sourceUsername: string | null;
  sourceMid: number;
  /** The port of the listener the message arrived on; 0 for none. */
  sourcePort: number;
  topic: string;
  qos: number;
  retain: boolean;
  payload: Buffer;
  /** The MQTT 5 property list bytes without their varint length prefix; null for none. */
  properties: Buffer | null;
}

/** DB_CHUNK_CLIENT_MSG: one message queued or in flight for a client. */
export interface DbClientMessageChunk {
  type: 'clientMsg';
  storeId: bigint;
  mid: number;
  clientId: string;
  qos: number;
  /** Mosquitto's enum mosquitto_msg_state (e.g. 11 = queued). */
  state: number;
  retain: boolean;
  dup: boolean;
  /** 0 = incoming, 1 = outgoing. */
  direction: number;
  /** As in DbMessageChunk. */
  properties: Buffer | null;
}

/** DB_CHUNK_RETAIN: the message with this store id is retained on its topic. */
export interface DbRetainChunk {
  type: 'retain';
  storeId: bigint;
}

/** DB_CHUNK_SUB: one subscription of a durable session. */
export interface DbSubscriptionChunk {
  type: 'sub';
  clientId: string;
  topic: string;
  qos: number;
  /** no_local << 2 | retain_as_published << 3 (Mosquitto writes only these two bits). */
  options: number;
  /** The Subscription Identifier; 0 for none. */
  identifier: number;
}

/** DB_CHUNK_CLIENT: one durable session. */
export interface DbClientChunk {
  type: 'client';
  clientId: string;
  username: string | null;
  /** Unix seconds when the session expires; 0 while it has no deadline. */
  sessionExpiryTime: bigint;
  /** UINT32_MAX (4294967295) for a session that never expires. */
  sessionExpiryInterval: number;
  lastMid: number;
  /** The port of the client's listener; 0 for none. */
  listenerPort: number;
}

/**
 * A MSG_STORE chunk as DbChunkVisitor gets it: ids and times as numbers (a file with one
 * beyond 2^53 is refused), payload and property list as views of the file.
 */
export interface DbMessageFields extends Omit<DbMessageChunk, 'type' | 'storeId' | 'expiryTime'> {
  storeId: number;
  expiryTime: number;
}

/** A CLIENT_MSG chunk as DbChunkVisitor gets it (see DbMessageFields). */
export interface DbClientMessageFields extends Omit<DbClientMessageChunk, 'type' | 'storeId'> {
  storeId: number;
}

/**
 * Takes a file's chunks as they are read (ReadMosquittoDbOptions.visitor). The kinds a
 * large store has millions of come as one field object per kind, refilled for each chunk,
 * so reading costs no object per chunk: the visitor copies what it keeps.
 */
export interface DbChunkVisitor {
  /** CFG, CLIENT and SUB chunks (few in any file), as the chunks readMosquittoDb returns. */
  chunk(chunk: DbConfigChunk | DbClientChunk | DbSubscriptionChunk): void;
  message(fields: DbMessageFields): void;
  clientMessage(fields: DbClientMessageFields): void;
  /** A RETAIN chunk: the message stored as `storeId` is retained. */
  retain(storeId: number): void;
}

/** What went wrong, for callers that treat some cases differently. */
export type MosquittoDbErrorReason =
  /** A zero-length file: Mosquitto only warns ("Persistence file is empty") and starts afresh. */
  | 'empty'
  /** Not a Mosquitto database: wrong magic. */
  | 'format'
  /** A format version Mosquitto 2.0 cannot read. */
  | 'version'
  /** The file ends inside the header, a chunk header or a chunk. */
  | 'truncated'
  /** Anything else: lengths that do not add up, bad properties, a wrong dbid size. */
  | 'corrupt';

/** Thrown by readMosquittoDb: the message names the file and what is wrong with it. */
export class MosquittoDbError extends Error {
  constructor(
    readonly path: string,
    readonly reason: MosquittoDbErrorReason,
    detail: string,
    /** The byte offset of the chunk (or header) concerned, when there is one. */
    readonly offset: number | null = null,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'MosquittoDbError';
  }
}

/** The first 15 bytes of every file. */
export const DB_MAGIC: Buffer = Buffer.from([
  0x00, 0xb5, 0x00, 0x6d, 0x6f, 0x73, 0x71, 0x75, 0x69, 0x74, 0x74, 0x6f, 0x20, 0x64, 0x62,
]);

/** The version Mosquitto 2.0 and 2.1 write (MOSQ_DB_VERSION). */
export const DB_VERSION = 6;
/** The oldest version Mosquitto 2.0 still reads. */
export const DB_OLDEST_VERSION = 2;
/** Magic + CRC + version. */
export const DB_FILE_HEADER_SIZE = 23;

export const DbChunkType = {
  Cfg: 1,
  MsgStore: 2,
  ClientMsg: 3,
  Retain: 4,
  Sub: 5,
  Client: 6,
} as const;

/** Mosquitto's names for the chunk types, as in messages and db_dump. */
export const DB_CHUNK_NAMES: Readonly<Record<number, string>> = {
  1: 'CFG',
  2: 'MSG_STORE',
  3: 'CLIENT_MSG',
  4: 'RETAIN',
  5: 'SUB',
  6: 'CLIENT',
};

/** sizeof(struct PF_header) in versions 5 and 6. */
export const PF_HEADER_SIZE = 8;
/** sizeof(struct PF_header) as read in versions 2 to 4: uint16 type, uint32 length. */
export const PF_HEADER_SIZE_V234 = 6;
/** sizeof(struct PF_cfg): uint64, two bytes, six bytes of padding. */
export const PF_CFG_SIZE = 16;
/** sizeof(struct PF_client): int64, uint32, four uint16, four bytes of padding. */
export const PF_CLIENT_SIZE = 24;
/** sizeof(struct PF_client_v5): the version 5 client, without port and username. */
export const PF_CLIENT_V5_SIZE = 16;
/** sizeof(struct PF_client_msg): uint64, two uint16, four bytes. */
export const PF_CLIENT_MSG_SIZE = 16;
/** sizeof(struct PF_msg_store): uint64, int64, uint32, five uint16, two bytes. */
export const PF_MSG_STORE_SIZE = 32;
/** sizeof(struct PF_sub): uint32, two uint16, two bytes, two bytes of padding. */
export const PF_SUB_SIZE = 12;
/** sizeof(struct PF_retain): uint64. */
export const PF_RETAIN_SIZE = 8;
/** sizeof(dbid_t). */
export const DBID_SIZE = 8;
/** sizeof(time_t) on the 64-bit hosts that wrote version 3 and 4 client chunks. */
export const TIME_T_SIZE = 8;

/** MQTT_MAX_PAYLOAD: a larger stored payload makes Mosquitto refuse the file. */
export const MQTT_MAX_PAYLOAD = 268_435_455;
