/**
 * Mosquitto's `mosquitto.db` persistence file: a pure codec (readMosquittoDb,
 * writeMosquittoDb) and the atomic replacement of the file on disk. The parts live in
 * mosquitto-db/: format.ts (types, layout, MosquittoDbError), read.ts (with window.ts,
 * which reads a large file a window at a time), write.ts, properties.ts (property lists as
 * Mosquitto reads them), atomic-file.ts.
 */
export {
  DB_CHUNK_NAMES,
  DB_MAGIC,
  DB_VERSION,
  DbChunkType,
  MosquittoDbError,
  type DbChunk,
  type DbChunkVisitor,
  type DbClientChunk,
  type DbClientMessageChunk,
  type DbClientMessageFields,
  type DbConfigChunk,
  type DbMessageChunk,
  type DbMessageFields,
  type DbRetainChunk,
  type DbSubscriptionChunk,
  type MosquittoDbErrorReason,
  type MosquittoDbFile,
} from './mosquitto-db/format.ts';
export {
  readMosquittoDb,
  readMosquittoDbFile,
  type ReadMosquittoDbOptions,
} from './mosquitto-db/read.ts';
export { writeMosquittoDb } from './mosquitto-db/write.ts';
export { DbFileWriteError, writeMosquittoDbFileAtomic } from './mosquitto-db/atomic-file.ts';
export {
  DbPropertyId,
  isMosquittoUtf8,
  parseDbProperties,
  type DbPropertiesParse,
  type DbProperty,
} from './mosquitto-db/properties.ts';
