/**
 * writeMosquittoDb: the bytes Mosquitto 2.0.22's persist__backup() writes for the same
 * chunks (persist_write.c, persist_write_v5.c): format version 6, each chunk's fixed
 * struct as it lies in memory on x86-64 (16- and 32-bit fields big endian, 64-bit ids
 * and times little endian, padding zeroed by the memset before each chunk), then its
 * strings without terminators, then its payload and properties.
 *
 * Chunks are written in the order given; Mosquitto's own order is CFG, every MSG_STORE,
 * then per durable client its CLIENT and CLIENT_MSG chunks, then SUB, then RETAIN. The file
 * is always version 6, whatever `file.version` says (as Mosquitto rewrites an old file it
 * loaded). A property list that is null or empty is left out, as Mosquitto writes none
 * for a message without properties.
 */
import { Buffer } from 'node:buffer';
import {
  DB_MAGIC,
  DB_VERSION,
  DbChunkType,
  PF_CFG_SIZE,
  PF_CLIENT_MSG_SIZE,
  PF_CLIENT_SIZE,
  PF_HEADER_SIZE,
  PF_MSG_STORE_SIZE,
  PF_RETAIN_SIZE,
  PF_SUB_SIZE,
  type DbChunk,
  type MosquittoDbFile,
} from './format.ts';

const UINT32_MAX = 0xffff_ffff;

/** Encodes `file` as Mosquitto 2.0.22 would. Throws RangeError for a value that does not fit. */
export function writeMosquittoDb(file: MosquittoDbFile): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(DB_MAGIC.length + 8);
  DB_MAGIC.copy(header, 0);
  // The CRC field stays 0; the version is big endian.
  header.writeUInt32BE(DB_VERSION, DB_MAGIC.length + 4);
  parts.push(header);
  for (const chunk of file.chunks) parts.push(...encodeChunk(chunk));
  return Buffer.concat(parts);
}

function encodeChunk(chunk: DbChunk): Buffer[] {
  switch (chunk.type) {
    case 'cfg': {
      const fixed = Buffer.alloc(PF_CFG_SIZE);
      fixed.writeBigUInt64LE(u64(chunk.lastDbId, 'lastDbId'), 0);
      fixed[8] = chunk.shutdown ? 1 : 0;
      fixed[9] = uint(chunk.dbIdSize, 0xff, 'dbIdSize');
      return withHeader(DbChunkType.Cfg, [fixed]);
    }
    case 'msgStore': {
      const sourceId = optionalText(chunk.sourceId);
      const username = optionalText(chunk.sourceUsername);
      const topic = Buffer.from(chunk.topic, 'utf8');
      const properties = propertyBlock(chunk.properties);
      const fixed = Buffer.alloc(PF_MSG_STORE_SIZE);
      fixed.writeBigUInt64LE(u64(chunk.storeId, 'storeId'), 0);
      fixed.writeBigInt64LE(i64(chunk.expiryTime, 'expiryTime'), 8);
      fixed.writeUInt32BE(uint(chunk.payload.length, UINT32_MAX, 'payload length'), 16);
      fixed.writeUInt16BE(uint(chunk.sourceMid, 0xffff, 'sourceMid'), 20);
      fixed.writeUInt16BE(length16(sourceId, 'sourceId'), 22);
      fixed.writeUInt16BE(length16(username, 'sourceUsername'), 24);
      fixed.writeUInt16BE(length16(topic, 'topic'), 26);
      fixed.writeUInt16BE(uint(chunk.sourcePort, 0xffff, 'sourcePort'), 28);
      fixed[30] = uint(chunk.qos, 0xff, 'qos');
      fixed[31] = chunk.retain ? 1 : 0;
      return withHeader(DbChunkType.MsgStore, [
        fixed,
        sourceId,
        username,
        topic,
        chunk.payload,
        properties,
      ]);
    }
    case 'clientMsg': {
      const clientId = Buffer.from(chunk.clientId, 'utf8');
      const fixed = Buffer.alloc(PF_CLIENT_MSG_SIZE);
      fixed.writeBigUInt64LE(u64(chunk.storeId, 'storeId'), 0);
      fixed.writeUInt16BE(uint(chunk.mid, 0xffff, 'mid'), 8);
      fixed.writeUInt16BE(length16(clientId, 'clientId'), 10);
      fixed[12] = uint(chunk.qos, 0xff, 'qos');
      fixed[13] = uint(chunk.state, 0xff, 'state');
      fixed[14] = (chunk.retain ? 0x10 : 0) | (chunk.dup ? 0x01 : 0);
      fixed[15] = uint(chunk.direction, 0xff, 'direction');
      return withHeader(DbChunkType.ClientMsg, [fixed, clientId, propertyBlock(chunk.properties)]);
    }
    case 'retain': {
      const fixed = Buffer.alloc(PF_RETAIN_SIZE);
      fixed.writeBigUInt64LE(u64(chunk.storeId, 'storeId'), 0);
      return withHeader(DbChunkType.Retain, [fixed]);
    }
    case 'sub': {
      const clientId = Buffer.from(chunk.clientId, 'utf8');
      const topic = Buffer.from(chunk.topic, 'utf8');
      const fixed = Buffer.alloc(PF_SUB_SIZE);
      fixed.writeUInt32BE(uint(chunk.identifier, UINT32_MAX, 'identifier'), 0);
      fixed.writeUInt16BE(length16(clientId, 'clientId'), 4);
      fixed.writeUInt16BE(length16(topic, 'topic'), 6);
      fixed[8] = uint(chunk.qos, 0xff, 'qos');
      fixed[9] = uint(chunk.options, 0xff, 'options');
      return withHeader(DbChunkType.Sub, [fixed, clientId, topic]);
    }
    case 'client': {
      const clientId = Buffer.from(chunk.clientId, 'utf8');
      const username = optionalText(chunk.username);
      const fixed = Buffer.alloc(PF_CLIENT_SIZE);
      fixed.writeBigInt64LE(i64(chunk.sessionExpiryTime, 'sessionExpiryTime'), 0);
      fixed.writeUInt32BE(
        uint(chunk.sessionExpiryInterval, UINT32_MAX, 'sessionExpiryInterval'),
        8,
      );
      fixed.writeUInt16BE(uint(chunk.lastMid, 0xffff, 'lastMid'), 12);
      fixed.writeUInt16BE(length16(clientId, 'clientId'), 14);
      fixed.writeUInt16BE(uint(chunk.listenerPort, 0xffff, 'listenerPort'), 16);
      fixed.writeUInt16BE(length16(username, 'username'), 18);
      return withHeader(DbChunkType.Client, [fixed, clientId, username]);
    }
  }
}

/** The 8-byte chunk header (type, length: big endian) in front of `parts`. */
function withHeader(type: number, parts: Buffer[]): Buffer[] {
  let length = 0;
  for (const part of parts) length += part.length;
  if (length > UINT32_MAX) throw new RangeError(`chunk of ${length} bytes does not fit a uint32`);
  const header = Buffer.alloc(PF_HEADER_SIZE);
  header.writeUInt32BE(type, 0);
  header.writeUInt32BE(length, 4);
  return [header, ...parts];
}

/** A property list as Mosquitto writes it: varint length, then the list. */
function propertyBlock(properties: Buffer | null): Buffer {
  if (properties === null || properties.length === 0) return Buffer.alloc(0);
  let length = properties.length;
  if (length > 268_435_455) throw new RangeError('property list longer than a varint can say');
  const prefix: number[] = [];
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    prefix.push(byte);
  } while (length > 0);
  return Buffer.concat([Buffer.from(prefix), properties]);
}

function optionalText(text: string | null): Buffer {
  return text === null ? Buffer.alloc(0) : Buffer.from(text, 'utf8');
}

function length16(bytes: Buffer, what: string): number {
  if (bytes.length > 0xffff) {
    throw new RangeError(`${what} is ${bytes.length} bytes; at most 65535 fit`);
  }
  return bytes.length;
}

function uint(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} ${value} is not an integer from 0 to ${max}`);
  }
  return value;
}

function u64(value: bigint, what: string): bigint {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`${what} ${value} does not fit a uint64`);
  }
  return value;
}

function i64(value: bigint, what: string): bigint {
  if (value < -(2n ** 63n) || value >= 2n ** 63n) {
    throw new RangeError(`${what} ${value} does not fit an int64`);
  }
  return value;
}
