/**
 * Reading a Mosquitto 2.1 SQLite store at start-up, in the order of 2.1's restore: base
 * messages, retains (by topic), clients, subscriptions, client messages (by rowid), wills;
 * each record goes to the sink as its row is read.
 *
 * The two large tables (base_msgs, client_msgs) are read packed: SQLite itself turns each
 * batch of rows into one blob (group_concat of a header of decimal numbers, then the raw
 * bytes of the row's strings and blobs), which is parsed here. better-sqlite3 costs about
 * half a microsecond per row and as much again per string or blob column; for millions of
 * rows that was most of the start-up, and one blob per few thousand rows costs a fraction.
 * Column values are taken as sqlite3_column_int64/_text/_blob take them (printf's %d
 * converts the same way), as Mosquitto reads them.
 */
import { Buffer } from 'node:buffer';
import type Database from 'better-sqlite3';
import { LastString } from '../../../common/last-string.ts';
import type { QoS } from '../../../protocol/constants.ts';
import type { DurableStateSink, MessageState, RefilledRecord, RetainRecord } from '../records.ts';
import { blankBaseMessage, blankClientMessage, MessageDirection } from '../records.ts';
import { StoreIdIndex } from '../store-id-index.ts';
import { propertiesFromJson } from './properties-json.ts';

type Db = Database.Database;
export type LoadLog = (level: 'warning' | 'info', line: string) => void;

const EMPTY_PAYLOAD = Buffer.alloc(0);

// ---- Values as better-sqlite3 returns them -------------------------------------------------

export function int(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') return Number.parseInt(value, 10) || 0;
  return 0;
}

/** sqlite3_column_int then a C cast to uint32_t. */
function uint32(value: unknown): number {
  return int(value) >>> 0;
}

function uint16(value: unknown): number {
  return int(value) & 0xffff;
}

function uint8(value: unknown): number {
  return int(value) & 0xff;
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return null;
}

function blob(value: unknown, length: number): Buffer {
  if (!Buffer.isBuffer(value) || length === 0 || value.length === 0) return EMPTY_PAYLOAD;
  // Mosquitto copies payloadlen bytes.
  return length < value.length ? value.subarray(0, length) : value;
}

// ---- Packed rows ---------------------------------------------------------------------------

/** Rows per batch, counted in rowids (a sparse table gives fewer rows, never more). */
const BATCH_ROWIDS = 4096;

const SPACE = 0x20;
const MINUS = 0x2d;

/** The bytes of a text column for a packed row: its UTF-8, or nothing for NULL. */
const bytesOf = (column: string): string => `ifnull(CAST(${column} AS BLOB), x'')`;
/** Its length for the header: -1 for NULL. */
const lengthOf = (column: string): string => `ifnull(octet_length(${column}), -1)`;

/**
 * The rows of `table` in rowid order, packed: for each row, the values of `numbers` in
 * decimal, each followed by a space, then the bytes `bytes` concatenates. Yields one batch
 * at a time, with `read` positioned at its first row.
 */
function* packedBatches(
  db: Db,
  table: string,
  numbers: readonly string[],
  bytes: string,
): Generator<PackedReader> {
  const row = `printf('${numbers.map(() => '%d ').join('')}', ${numbers.join(', ')}) || ${bytes}`;
  // A window of rowids from the first row, then from the next row after the last one
  // read, so gaps in the rowids cost nothing. Ids come back as BigInt: rowids are int64.
  const sql = (start: string, order: string): string =>
    `SELECT max(rowid), CAST(group_concat(${row}, ''${order}) AS BLOB) ` +
    `FROM ${table} WHERE rowid >= ${start} AND rowid < ${start} + ${BATCH_ROWIDS}`;
  const batch = (start: string): Database.Statement => {
    // group_concat takes the rows in the order the query visits them, which SQLite does
    // not promise in general: when the plan is a search of the table by rowid, that is
    // rowid order; otherwise the aggregate is asked for it (a sort: 40% slower).
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN ${sql(start, '')}`)
      .all(...(start.includes('?') ? [0, 0] : [])) as { detail: string }[];
    const byRowid =
      plan[0]?.detail.startsWith(`SEARCH ${table} USING INTEGER PRIMARY KEY (rowid>`) === true &&
      plan.every((step) => !step.detail.includes('TEMP B-TREE'));
    return db
      .prepare(sql(start, byRowid ? '' : ' ORDER BY rowid'))
      .raw()
      .safeIntegers(true);
  };
  const first = batch(`(SELECT min(rowid) FROM ${table})`);
  const next = batch(`(SELECT min(rowid) FROM ${table} WHERE rowid > ?)`);
  const reader = new PackedReader();
  let result = first.get() as [unknown, unknown] | undefined;
  while (result !== undefined && result[0] !== null) {
    const last = result[0];
    if (Buffer.isBuffer(result[1])) {
      reader.reset(result[1]);
      yield reader;
    }
    result = next.get(last, last) as [unknown, unknown] | undefined;
  }
}

/** A cursor over one batch of packed rows. */
class PackedReader {
  data: Buffer = EMPTY_PAYLOAD;
  pos = 0;

  reset(data: Buffer): void {
    this.data = data;
    this.pos = 0;
  }

  get more(): boolean {
    return this.pos < this.data.length;
  }

  /** The next number of the header (an int64 as a JS number). */
  int(): number {
    const data = this.data;
    let pos = this.pos;
    const negative = data[pos] === MINUS;
    if (negative) pos++;
    let value = 0;
    for (let c = data[pos] ?? SPACE; c !== SPACE; c = data[++pos] ?? SPACE) {
      value = value * 10 + (c - 0x30);
    }
    this.pos = pos + 1;
    // As a small integer where it is one (see StoredMessage's storeId): no boxed double.
    return value <= 0x7fff_ffff ? (negative ? -value : value) | 0 : negative ? -value : value;
  }

  /** A text column of `length` bytes (-1: NULL), decoded as better-sqlite3 decodes it. */
  text(length: number, last: LastString): string | null {
    if (length < 0) return null;
    const start = this.pos;
    this.pos += length;
    if (last.matches(this.data, start, length)) return last.value;
    return last.remember(this.data.toString('utf8', start, this.pos), this.data, start, length);
  }

  /** The next `length` bytes, as a view of the batch. */
  view(length: number): Buffer {
    const start = this.pos;
    this.pos += length;
    return this.data.subarray(start, this.pos);
  }
}

// ---- The tables ------------------------------------------------------------------------

interface ClientRow {
  client_id: unknown;
  username: unknown;
  will_delay_time: unknown;
  session_expiry_time: unknown;
  listener_port: unknown;
  max_packet_size: unknown;
  max_qos: unknown;
  retain_available: unknown;
  session_expiry_interval: unknown;
  will_delay_interval: unknown;
}

/**
 * Reads the whole store into `sink`; one record object per large table serves every row
 * (the sink copies what it keeps). Logs Mosquitto 2.1.2's "Restored" line per table.
 */
export function readState(db: Db, sink: DurableStateSink, log: LoadLog): void {
  const warn = (line: string): void => {
    log('warning', line);
  };
  const known = new StoreIdIndex<true>();
  const baseCount = readBaseMessages(db, sink, known, warn);

  const [retainCount, retainsFailed] = readRetains(db, sink, known);

  const clientIds = new Set<string>();
  for (const row of db
    .prepare(
      'SELECT client_id,username,will_delay_time,session_expiry_time,listener_port,' +
        'max_packet_size,max_qos,retain_available,session_expiry_interval,will_delay_interval ' +
        'FROM clients ORDER BY rowid',
    )
    .iterate() as IterableIterator<ClientRow>) {
    const clientId = text(row.client_id);
    if (clientId === null || clientIds.has(clientId)) continue;
    clientIds.add(clientId);
    sink.client({
      clientId,
      username: text(row.username),
      sessionExpiryTime: int(row.session_expiry_time),
      sessionExpiryInterval: uint32(row.session_expiry_interval),
      // Derived from its messages below, as Mosquitto 2.1 derives it.
      lastMid: 0,
      listenerPort: uint16(row.listener_port),
      willDelayTime: int(row.will_delay_time),
      willDelayInterval: uint32(row.will_delay_interval),
      maxPacketSize: uint32(row.max_packet_size),
      maxQos: uint8(row.max_qos) as QoS,
      retainAvailable: int(row.retain_available) !== 0,
    });
  }

  let subscriptionCount = 0;
  let subscriptionsFailed = 0;
  for (const row of db
    .prepare(
      'SELECT client_id,topic,subscription_options,subscription_identifier ' +
        'FROM subscriptions ORDER BY rowid',
    )
    .raw()
    .iterate() as IterableIterator<unknown[]>) {
    const clientId = text(row[0]);
    const topicFilter = text(row[1]);
    if (
      clientId === null ||
      topicFilter === null ||
      topicFilter === '' ||
      !clientIds.has(clientId)
    ) {
      subscriptionsFailed++;
      continue;
    }
    subscriptionCount++;
    sink.subscription({
      clientId,
      topicFilter,
      options: uint8(row[2]),
      identifier: uint32(row[3]),
    });
  }

  const [clientMessageCount, clientMessagesFailed] = readClientMessages(db, sink, known, clientIds);

  let willCount = 0;
  for (const row of db
    .prepare(
      'SELECT client_id, CAST(topic AS TEXT) AS topic, payload, payloadlen, qos, retain, ' +
        'CAST(properties AS TEXT) AS properties FROM wills ORDER BY rowid',
    )
    .raw()
    .iterate() as IterableIterator<unknown[]>) {
    const clientId = text(row[0]);
    const topic = text(row[1]);
    if (clientId === null || topic === null) continue;
    willCount++;
    sink.will({
      clientId,
      topic,
      payload: blob(row[2], uint32(row[3])),
      qos: uint8(row[4]) as QoS,
      retain: int(row[5]) !== 0,
      properties: propertiesFromJson(text(row[6]), warn),
    });
  }

  const restored: [number, string, number][] = [
    [baseCount, 'base messages', 0],
    [retainCount, 'retained messages', retainsFailed],
    [clientIds.size, 'clients', 0],
    [subscriptionCount, 'subscriptions', subscriptionsFailed],
    [clientMessageCount, 'client messages', clientMessagesFailed],
    [willCount, 'will messages', 0],
  ];
  for (const [count, what, failed] of restored) {
    log('info', `sqlite: Restored ${count} ${what} (${failed} failed)`);
  }
}

/**
 * retains, by topic, packed: a few batches of the ordered rows (LIMIT and OFFSET: the
 * order is the topic index's, which has no rowid windows to batch by). Retains of unknown
 * messages are counted as failed. Returns [read, failed].
 */
function readRetains(db: Db, sink: DurableStateSink, known: StoreIdIndex<true>): [number, number] {
  const rows = int(db.prepare('SELECT count(*) FROM retains').pluck().get());
  // At most about four batches (each skips the rows before it), of at most 2^21 rows (a
  // blob of SQLite's 1 GB limit holds that many of any sane topic).
  const size = Math.min(2 ** 21, Math.max(2 ** 18, Math.ceil(rows / 4)));
  // The outer query takes the inner one's rows in their order (they are its LIMIT's).
  const statement = db
    .prepare(
      `SELECT count(*), CAST(group_concat(x, '') AS BLOB) FROM (SELECT printf('%d %d ', ` +
        `store_id, ${lengthOf('topic')}) || ${bytesOf('topic')} AS x FROM retains ` +
        'ORDER BY topic LIMIT ? OFFSET ?)',
    )
    .raw();
  const reader = new PackedReader();
  const topics = new LastString();
  const record: RefilledRecord<RetainRecord> = { topic: '', storeId: 0 };
  let count = 0;
  let failed = 0;
  for (let offset = 0; offset < rows; offset += size) {
    const [batch, bytes] = statement.get(size, offset) as [number, unknown];
    if (batch === 0 || !Buffer.isBuffer(bytes)) break;
    reader.reset(bytes);
    while (reader.more) {
      const storeId = reader.int();
      const topic = reader.text(reader.int(), topics);
      if (topic === null || known.get(storeId) === undefined) {
        failed++;
        continue;
      }
      count++;
      record.topic = topic;
      record.storeId = storeId;
      sink.retain(record);
    }
  }
  return [count, failed];
}

/** base_msgs, packed; notes each store id in `known`. Returns how many were read. */
function readBaseMessages(
  db: Db,
  sink: DurableStateSink,
  known: StoreIdIndex<true>,
  warn: (line: string) => void,
): number {
  const record = blankBaseMessage();
  const topics = new LastString();
  const sourceIds = new LastString();
  const usernames = new LastString();
  const properties = new LastString();
  let lastStoreId = 0;
  let count = 0;
  // A payload that is not a blob reads as none (as before: only blobs were payloads).
  const payload = "iif(typeof(payload) = 'blob', payload, x'')";
  for (const rows of packedBatches(
    db,
    'base_msgs',
    [
      'store_id',
      'expiry_time',
      'payloadlen',
      'source_mid',
      'source_port',
      'qos',
      'retain',
      lengthOf('topic'),
      lengthOf('source_id'),
      lengthOf('source_username'),
      `length(${payload})`,
      lengthOf('properties'),
    ],
    [
      bytesOf('topic'),
      bytesOf('source_id'),
      bytesOf('source_username'),
      payload,
      bytesOf('properties'),
    ].join(' || '),
  )) {
    while (rows.more) {
      const storeId = rows.int();
      const expiryTime = rows.int();
      const payloadlen = rows.int() >>> 0;
      const sourceMid = rows.int() & 0xffff;
      const sourcePort = rows.int() & 0xffff;
      const qos = rows.int() & 0xff;
      const retain = rows.int() !== 0;
      const topicLength = rows.int();
      const sourceIdLength = rows.int();
      const usernameLength = rows.int();
      const payloadLength = rows.int();
      const propertiesLength = rows.int();
      const topic = rows.text(topicLength, topics);
      const sourceId = rows.text(sourceIdLength, sourceIds);
      const username = rows.text(usernameLength, usernames);
      const bytes = rows.view(payloadLength);
      const json = rows.text(propertiesLength, properties);
      if (topic === null) continue;
      known.set(storeId, true);
      if (storeId > lastStoreId) lastStoreId = storeId;
      count++;
      record.storeId = storeId;
      record.expiryTime = expiryTime;
      record.topic = topic;
      record.payload = blob(bytes, payloadlen);
      record.sourceId = sourceId ?? '';
      record.sourceUsername = username;
      record.sourceMid = sourceMid;
      record.sourcePort = sourcePort;
      record.qos = qos as QoS;
      record.retain = retain;
      record.properties = propertiesFromJson(json, warn);
      sink.baseMessage(record);
    }
  }
  sink.lastStoreId(lastStoreId);
  return count;
}

/**
 * client_msgs, packed; those of unknown clients or messages, or with a direction that is
 * neither in nor out, are counted as failed. Returns [read, failed].
 */
function readClientMessages(
  db: Db,
  sink: DurableStateSink,
  known: StoreIdIndex<true>,
  clientIds: Set<string>,
): [number, number] {
  const record = blankClientMessage();
  const ids = new LastString();
  // Mosquitto 2.1 derives a client's last packet id from its restored messages: the id of
  // its last outgoing QoS 1/2 message. A client's messages mostly come together: the map
  // is written when the client changes.
  const lastMids = new Map<string, number>();
  let client = '';
  let lastMid = -1;
  let count = 0;
  let failed = 0;
  for (const rows of packedBatches(
    db,
    'client_msgs',
    [
      lengthOf('client_id'),
      'cmsg_id',
      'store_id',
      'dup',
      'direction',
      'mid',
      'qos',
      'retain',
      'state',
      'subscription_identifier',
    ],
    bytesOf('client_id'),
  )) {
    while (rows.more) {
      const idLength = rows.int();
      const cmsgId = rows.int();
      const storeId = rows.int();
      const dup = rows.int() & 0xff;
      const direction = rows.int() & 0xff;
      const mid = rows.int() & 0xffff;
      const qos = rows.int() & 0xff;
      const retain = rows.int() !== 0;
      const state = rows.int() & 0xff;
      const subscriptionId = rows.int() >>> 0;
      const clientId = rows.text(idLength, ids);
      if (
        clientId === null ||
        !clientIds.has(clientId) ||
        known.get(storeId) === undefined ||
        (direction !== MessageDirection.In && direction !== MessageDirection.Out)
      ) {
        failed++;
        continue;
      }
      count++;
      if (direction === MessageDirection.Out && qos > 0) {
        if (clientId !== client) {
          if (lastMid >= 0) lastMids.set(client, lastMid);
          client = clientId;
        }
        lastMid = mid;
      }
      record.clientId = clientId;
      record.cmsgId = cmsgId;
      record.storeId = storeId;
      record.mid = mid;
      record.qos = qos as QoS;
      record.retain = retain;
      record.dup = dup !== 0;
      record.direction = direction;
      record.state = state as MessageState;
      record.subscriptionId = subscriptionId;
      sink.clientMessage(record);
    }
  }
  if (lastMid >= 0) lastMids.set(client, lastMid);
  for (const [clientId, mid] of lastMids) sink.lastMid(clientId, mid);
  return [count, failed];
}
