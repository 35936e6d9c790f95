/**
 * The SQLite store (Mosquitto 2.1's persist-sqlite layout) on real files: schema and
 * upgrades, properties as JSON, every event read back across close/reopen, commits that
 * survive SIGKILL, write failures, corrupt files; and, when Mosquitto 2.1.2 is at
 * /work/ref/m212, files passed both ways between it and us.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { QoS } from '../../../src/protocol/constants.ts';
import type { Properties, UserProperty } from '../../../src/protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../../src/protocol/packets.ts';
import type {
  BaseMessageRecord,
  ClientMessageRecord,
  ClientRecord,
  DurableState,
  SubscriptionRecord,
  WillRecord,
} from '../../../src/broker/persistence/records.ts';
import { MessageDirection, MessageState } from '../../../src/broker/persistence/records.ts';
import { loadState, StoreError } from '../../../src/broker/persistence/store.ts';
import type {
  SqliteStore,
  SqliteStoreOptions,
} from '../../../src/broker/persistence/sqlite/index.ts';
import {
  openSqliteStore,
  sqliteOptionsFromPluginOpts,
} from '../../../src/broker/persistence/sqlite/index.ts';
import {
  propertiesFromJson,
  propertiesToJson,
} from '../../../src/broker/persistence/sqlite/properties-json.ts';
import { stringValue } from '../../../src/broker/persistence/sqlite/store.ts';
import { removeTempDir, spawnTracked, terminate, trackTempDir } from '../../helpers/children.ts';
import { RawClient } from '../../helpers/raw-client.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import {
  mqttString,
  payload as payloadArb,
  qos as qosArb,
  subscriptionIdentifier,
  topicFilter,
  topicName,
} from '../../helpers/arbitraries.ts';

const execFileAsync = promisify(execFile);

/** The compiled store, for child processes. */
const STORE_MODULE = new URL('../../../src/broker/persistence/sqlite/index.js', import.meta.url)
  .href;

const dirs: string[] = [];
function tempDir(): string {
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'sqlite-store-')));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) removeTempDir(dir);
});

interface LogLine {
  readonly level: string;
  readonly line: string;
}

function open(
  file: string,
  options: Partial<SqliteStoreOptions> = {},
): { store: SqliteStore; log: LogLine[] } {
  const log: LogLine[] = [];
  const store = openSqliteStore({ dbFile: file, ...options }, (level, line) => {
    log.push({ level, line });
  });
  return { store, log };
}

function base(storeId: number, overrides: Partial<BaseMessageRecord> = {}): BaseMessageRecord {
  return {
    storeId,
    expiryTime: 0,
    topic: 't',
    payload: Buffer.from(`m${storeId}`),
    sourceId: 'publisher',
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 1883,
    qos: 1,
    retain: false,
    properties: EMPTY_PROPERTIES,
    ...overrides,
  };
}

function client(clientId: string, overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId,
    username: null,
    sessionExpiryTime: 0,
    sessionExpiryInterval: 0xffffffff,
    lastMid: 0,
    listenerPort: 1883,
    willDelayTime: 0,
    willDelayInterval: 0,
    maxPacketSize: 0,
    maxQos: 2,
    retainAvailable: true,
    ...overrides,
  };
}

function delivery(
  clientId: string,
  cmsgId: number,
  storeId: number,
  overrides: Partial<ClientMessageRecord> = {},
): ClientMessageRecord {
  return {
    clientId,
    cmsgId,
    storeId,
    mid: cmsgId,
    qos: 1,
    retain: false,
    dup: false,
    direction: MessageDirection.Out,
    state: MessageState.Queued,
    subscriptionId: 0,
    ...overrides,
  };
}

function noWarning(line: string): never {
  throw new Error(`unexpected warning: ${line}`);
}

function sql(file: string): Database.Database {
  return new Database(file, { readonly: true });
}

// ---------------------------------------------------------------------------------------
// Schema

/** Mosquitto 2.1.2's sqlite_master, as its init.c leaves it (read off a file it made). */
const MOSQUITTO_212_SCHEMA: readonly (readonly [string, string])[] = [
  [
    'base_msgs',
    'CREATE TABLE base_msgs (store_id INT64 PRIMARY KEY,expiry_time INT64,topic STRING NOT NULL,payload BLOB,source_id STRING,source_username STRING,payloadlen INTEGER,source_mid INTEGER,source_port INTEGER,qos INTEGER,retain INTEGER,properties STRING)',
  ],
  ['retains', 'CREATE TABLE retains (topic STRING PRIMARY KEY,store_id INT64)'],
  [
    'clients',
    'CREATE TABLE clients (client_id TEXT PRIMARY KEY,username TEXT,connection_time INT64,will_delay_time INT64,session_expiry_time INT64,listener_port INT,max_packet_size INT,max_qos INT,retain_available INT,session_expiry_interval INT,will_delay_interval INT)',
  ],
  [
    'subscriptions',
    'CREATE TABLE subscriptions (client_id TEXT NOT NULL,topic TEXT NOT NULL,subscription_options INTEGER,subscription_identifier INTEGER,PRIMARY KEY (client_id, topic) )',
  ],
  [
    'client_msgs',
    'CREATE TABLE client_msgs (client_id TEXT NOT NULL,cmsg_id INT64,store_id INT64,dup INTEGER,direction INTEGER,mid INTEGER,qos INTEGER,retain INTEGER,state INTEGER,subscription_identifier INTEGER)',
  ],
  ['client_msgs_client_id', 'CREATE INDEX client_msgs_client_id ON client_msgs(client_id)'],
  ['client_msgs_store_id', 'CREATE INDEX client_msgs_store_id ON client_msgs(store_id,client_id)'],
  ['retains_storeid', 'CREATE INDEX retains_storeid ON retains(store_id)'],
  [
    'version_info',
    'CREATE TABLE version_info (component TEXT NOT NULL,major INTEGER NOT NULL,minor INTEGER NOT NULL,patch INTEGER NOT NULL)',
  ],
  [
    'wills',
    'CREATE TABLE wills (client_id TEXT PRIMARY KEY,payload BLOB,topic STRING NOT NULL,payloadlen INTEGER,qos INTEGER,retain INTEGER,properties STRING)',
  ],
];

function schemaOf(file: string): [string, string][] {
  const db = sql(file);
  try {
    return (
      db
        .prepare('SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid')
        .all() as { name: string; sql: string }[]
    ).map((row) => [row.name, row.sql]);
  } finally {
    db.close();
  }
}

function versionOf(file: string): unknown[] {
  const db = sql(file);
  try {
    return db.prepare('SELECT component, major, minor, patch FROM version_info').raw().all();
  } finally {
    db.close();
  }
}

describe('SQLite store: schema', () => {
  test('a new file has Mosquitto 2.1.2 tables, indexes, version row, WAL and 4 KiB pages', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store } = open(file);
    assert.deepEqual(loadState(store), {
      lastStoreId: 0,
      baseMessages: [],
      clients: [],
      clientMessages: [],
      subscriptions: [],
      retains: [],
      wills: [],
    });
    store.close();
    assert.deepEqual(schemaOf(file), MOSQUITTO_212_SCHEMA);
    assert.deepEqual(versionOf(file), [['database_schema', 1, 1, 0]]);
    const db = sql(file);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('page_size', { simple: true }), 4096);
    db.close();
  });

  test('plugin_opt_page_size applies to a new file', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store } = open(file, { pageSize: 8192 });
    loadState(store);
    store.close();
    const db = sql(file);
    assert.equal(db.pragma('page_size', { simple: true }), 8192);
    db.close();
  });

  /** The tables of an older file, made as the plugin's own upgrade test makes them. */
  function olderFile(version: readonly [number, number, number] | null, oldIndex = false): string {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode=WAL');
    db.exec(
      'CREATE TABLE base_msgs (store_id INT64 PRIMARY KEY,expiry_time INT64,topic STRING NOT NULL,payload BLOB,source_id STRING,source_username STRING,payloadlen INTEGER,source_mid INTEGER,source_port INTEGER,qos INTEGER,retain INTEGER,properties STRING);' +
        'CREATE TABLE retains (topic STRING PRIMARY KEY,store_id INT64);' +
        'CREATE TABLE clients (client_id TEXT PRIMARY KEY,username TEXT,connection_time INT64,will_delay_time INT64,session_expiry_time INT64,listener_port INT,max_packet_size INT,max_qos INT,retain_available INT,session_expiry_interval INT,will_delay_interval INT);' +
        'CREATE TABLE subscriptions (client_id TEXT NOT NULL,topic TEXT NOT NULL,subscription_options INTEGER,subscription_identifier INTEGER,PRIMARY KEY (client_id, topic) );',
    );
    if (version === null) {
      // Before cmsg_id and subscription_identifier were added to client_msgs.
      db.exec(
        'CREATE TABLE client_msgs (client_id TEXT NOT NULL,store_id INT64,dup INTEGER,direction INTEGER,mid INTEGER,qos INTEGER,retain INTEGER,state INTEGER);',
      );
    } else {
      db.exec(
        'CREATE TABLE client_msgs (client_id TEXT NOT NULL,cmsg_id INT64,store_id INT64,dup INTEGER,direction INTEGER,mid INTEGER,qos INTEGER,retain INTEGER,state INTEGER,subscription_identifier INTEGER);' +
          'CREATE TABLE version_info (component TEXT NOT NULL,major INTEGER NOT NULL,minor INTEGER NOT NULL,patch INTEGER NOT NULL);',
      );
      db.prepare(
        "INSERT INTO version_info(component,major,minor,patch) VALUES ('database_schema',?,?,?)",
      ).run(...version);
    }
    if (oldIndex) db.exec('CREATE INDEX client_msgs_store_id ON client_msgs(store_id);');
    db.prepare(
      "INSERT INTO base_msgs VALUES (7, 0, 'old/topic', x'6869', 'src', NULL, 2, 0, 0, 1, 1, NULL)",
    ).run();
    db.prepare("INSERT INTO retains VALUES ('old/topic', 7)").run();
    db.close();
    return file;
  }

  for (const [name, version, oldIndex] of [
    ['without version_info (pre-release 2.1)', null, true],
    ['at schema 1.0.0', [1, 0, 0], false],
  ] as const) {
    test(`a file ${name} is upgraded to 1.1.0 as the plugin does, keeping its data`, () => {
      const file = olderFile(version, oldIndex);
      const { store } = open(file);
      const state = loadState(store);
      assert.deepEqual(state.retains, [{ topic: 'old/topic', storeId: 7 }]);
      assert.equal(state.baseMessages[0]?.payload.toString(), 'hi');
      store.close();
      const db = sql(file);
      const columns = (db.pragma('table_info(client_msgs)') as { name: string; type: string }[])
        .map((c) => `${c.name} ${c.type}`)
        .join(',');
      const indexColumns = (db.pragma('index_info(client_msgs_store_id)') as { name: string }[])
        .map((c) => c.name)
        .join(',');
      db.close();
      if (version === null) assert.match(columns, /cmsg_id INT64.*subscription_identifier INT$/);
      assert.equal(indexColumns, 'store_id,client_id');
      assert.deepEqual(versionOf(file), [['database_schema', 1, 1, 0]]);
      assert.ok(schemaOf(file).some(([table]) => table === 'wills'));
    });
  }

  test('a newer schema version is refused with StoreError, and the file is left alone', () => {
    const file = olderFile([1, 2, 0]);
    const before = readFileSync(file);
    const { store } = open(file);
    assert.throws(
      () => loadState(store),
      (error: unknown) =>
        error instanceof StoreError &&
        error.message.includes(file) &&
        error.message.includes('1.2.0'),
    );
    assert.deepEqual(readFileSync(file), before);
  });
});

// ---------------------------------------------------------------------------------------
// Properties and text columns

describe('SQLite store: properties as Mosquitto 2.1 writes them', () => {
  /** Read off a file made by Mosquitto 2.1.2 (mosquitto_pub -D publish ...). */
  const MOSQUITTO_JSON =
    '[{"identifier":"user-property","name":"a","value":"b"},{"identifier":"user-property","name":"c","value":"d"},{"identifier":"content-type","value":"text/plain"},{"identifier":"correlation-data","value":"30613042"},{"identifier":"payload-format-indicator","value":1},{"identifier":"response-topic","value":"rt"}]';

  test('the same JSON text, both ways, keeping the property order', () => {
    const properties: Properties = {
      userProperties: [
        ['a', 'b'],
        ['c', 'd'],
      ],
      contentType: 'text/plain',
      correlationData: Buffer.from('0a0B'),
      payloadFormatIndicator: 1,
      responseTopic: 'rt',
    };
    assert.equal(propertiesToJson(properties), MOSQUITTO_JSON);
    const read = propertiesFromJson(MOSQUITTO_JSON, noWarning);
    assert.deepEqual(read, properties);
    assert.deepEqual(Object.keys(read), Object.keys(properties));
  });

  test('no properties is NULL; properties a stored message never carries are left out', () => {
    assert.equal(propertiesToJson(EMPTY_PROPERTIES), null);
    assert.equal(propertiesToJson({}), null);
    assert.equal(
      propertiesToJson({ messageExpiryInterval: 60, subscriptionIdentifiers: [3], topicAlias: 2 }),
      null,
    );
    assert.equal(
      propertiesToJson({ reasonString: 'q"\\\n\u0001é', correlationData: Buffer.from([0, 255]) }),
      '[{"identifier":"reason-string","value":"q\\"\\\\\\n\\u0001é"},{"identifier":"correlation-data","value":"00FF"}]',
    );
  });

  test('reading accepts what Mosquitto accepts and skips the rest with a warning', () => {
    const warnings: string[] = [];
    const read = propertiesFromJson(
      '[{"identifier":"CONTENT-TYPE","Value":"x"},{"identifier":"message-expiry-interval"},' +
        '{"identifier":"nonsense","value":1},{"identifier":"payload-format-indicator","value":"1"},' +
        '{"identifier":"correlation-data","value":"aBz"},{"identifier":"user-property","value":"v"},' +
        '{"identifier":"subscription-identifier","value":5},7]',
      (line) => warnings.push(line),
    );
    assert.deepEqual(read, {
      contentType: 'x',
      correlationData: Buffer.from([0xab]),
      subscriptionIdentifiers: [5],
    });
    assert.equal(warnings.length, 5);
    assert.equal(propertiesFromJson('not json', noWarning), EMPTY_PROPERTIES);
    assert.equal(propertiesFromJson('{"a":1}', noWarning), EMPTY_PROPERTIES);
  });
});

describe('SQLite store: text in STRING columns (NUMERIC affinity)', () => {
  const numeric = ['007', '1.0', ' 5', '5 ', '+5', '-0', '1e3', '1.', '.5', '9223372036854775808'];
  const plain = ['42', '-7', '0', '9223372036854775807', 'a1', '0x10', '1_0', '', 'é'];

  test('text SQLite would rewrite is kept as the bytes of the text; other text as Mosquitto', () => {
    for (const text of numeric) assert.ok(Buffer.isBuffer(stringValue(text)), text);
    for (const text of plain) assert.equal(stringValue(text), text);
  });

  test('every such topic, source id and username reads back unchanged', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store } = open(file);
    loadState(store);
    const all = [...numeric, ...plain.filter((t) => t !== '')];
    all.forEach((text, i) => {
      store.baseMessageAdd(base(i + 1, { topic: text, sourceId: text, sourceUsername: text }));
      store.retainSet({ topic: text, storeId: i + 1 });
      store.willAdd({
        clientId: `w${i}`,
        topic: text,
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        properties: EMPTY_PROPERTIES,
      });
    });
    store.commit(false);
    store.retainDelete('007');
    store.retainSet({ topic: '1.0', storeId: 1 });
    store.close();
    const reopened = open(file).store;
    const state = loadState(reopened);
    assert.deepEqual(
      state.baseMessages.map((m) => [m.topic, m.sourceId, m.sourceUsername]),
      all.map((t) => [t, t, t]),
    );
    assert.deepEqual(
      state.wills.map((w) => w.topic),
      all,
    );
    const retained = new Map(state.retains.map((r) => [r.topic, r.storeId]));
    assert.equal(retained.has('007'), false);
    assert.equal(retained.get('1.0'), 1);
    assert.equal(retained.size, all.length - 1);
    reopened.close();
    const db = sql(file);
    // Canonical integers are stored as Mosquitto stores them (as integers).
    assert.equal(
      db.prepare('SELECT typeof(topic) FROM base_msgs WHERE topic = 42').pluck().get(),
      'integer',
    );
    db.close();
  });
});

// ---------------------------------------------------------------------------------------
// Every event, read back

/** Storable properties, in a random order. */
const storableProperties: fc.Arbitrary<Properties> = fc
  .shuffledSubarray(
    [
      'payloadFormatIndicator',
      'contentType',
      'responseTopic',
      'correlationData',
      'userProperties',
      'reasonString',
    ] as const,
    { minLength: 0 },
  )
  .chain((keys) =>
    fc.tuple(
      ...keys.map((key): fc.Arbitrary<readonly [string, unknown]> => {
        switch (key) {
          case 'payloadFormatIndicator':
            return fc.constantFrom(0, 1).map((v) => [key, v] as const);
          case 'correlationData':
            return fc.uint8Array({ maxLength: 20 }).map((v) => [key, Buffer.from(v)] as const);
          case 'userProperties':
            return fc
              .array(fc.tuple(mqttString(), mqttString()), { minLength: 1, maxLength: 3 })
              .map((v) => [key, v as UserProperty[]] as const);
          default:
            return mqttString(12).map((v) => [key, v] as const);
        }
      }),
    ),
  )
  .map((entries) => Object.fromEntries(entries) as Properties);

const numericLooking = fc.constantFrom('007', '1.0', ' 5', '42', '-0', '1e3');
const textArb = fc.oneof(
  { weight: 5, arbitrary: mqttString(10) },
  { weight: 1, arbitrary: numericLooking },
);
const topicArb = fc.oneof(
  { weight: 5, arbitrary: topicName },
  { weight: 1, arbitrary: numericLooking },
);
const clientIdArb = fc.constantFrom('a', 'b', 'c', '007', 'é é', 'longer-client-id');
const u32Arb = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff));
const timeArb = fc.oneof(fc.constant(0), fc.integer({ min: 1_700_000_000, max: 2 ** 40 }));

/** One step of a run: what to do, and random material to do it with. */
interface Step {
  readonly kind: number;
  readonly pick: number;
  readonly pick2: number;
  readonly clientId: string;
  readonly topic: string;
  readonly text: string;
  readonly text2: string | null;
  readonly payload: Buffer;
  readonly properties: Properties;
  readonly qos: QoS;
  readonly flag: boolean;
  readonly u32: number;
  readonly u16: number;
  readonly time: number;
  readonly time2: number;
  readonly filter: string;
  readonly options: number;
  readonly subId: number;
  readonly state: MessageState;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.integer({ min: 0, max: 17 }),
  pick: fc.nat(),
  pick2: fc.nat(),
  clientId: clientIdArb,
  topic: topicArb,
  text: textArb,
  text2: fc.option(textArb),
  payload: payloadArb,
  properties: storableProperties,
  qos: qosArb,
  flag: fc.boolean(),
  u32: u32Arb,
  u16: fc.integer({ min: 0, max: 0xffff }),
  time: timeArb,
  time2: timeArb,
  filter: topicFilter,
  options: fc.integer({ min: 0, max: 0x3f }),
  subId: fc.oneof(fc.constant(0), subscriptionIdentifier),
  state: fc.constantFrom(...(Object.values(MessageState) as MessageState[])),
});

/** What the store must hold: the semantics of the plugin's statements, in memory. */
class Model {
  bases: BaseMessageRecord[] = [];
  clients: ClientRecord[] = [];
  subs: SubscriptionRecord[] = [];
  cmsgs: ClientMessageRecord[] = [];
  retains = new Map<string, number>();
  wills: WillRecord[] = [];
  nextStoreId: number;
  nextCmsgId = 1;

  constructor(firstStoreId: number) {
    this.nextStoreId = firstStoreId;
  }

  referenced(storeId: number): boolean {
    return (
      this.cmsgs.some((m) => m.storeId === storeId) || [...this.retains.values()].includes(storeId)
    );
  }

  expected(): DurableState {
    const lastMids = new Map<string, number>();
    for (const m of this.cmsgs) {
      if (m.direction === MessageDirection.Out && m.qos > 0) lastMids.set(m.clientId, m.mid);
    }
    return {
      lastStoreId: this.bases.reduce((max, m) => Math.max(max, m.storeId), 0),
      baseMessages: this.bases,
      clients: this.clients.map((c) => ({ ...c, lastMid: lastMids.get(c.clientId) ?? 0 })),
      clientMessages: this.cmsgs,
      subscriptions: this.subs,
      retains: [...this.retains].map(([topic, storeId]) => ({ topic, storeId })),
      wills: this.wills,
    };
  }
}

function sortedRetains(state: DurableState): DurableState {
  return {
    ...state,
    retains: [...state.retains].sort((a, b) =>
      a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0,
    ),
  };
}

function pickOf<T>(list: readonly T[], n: number): T | undefined {
  return list.length === 0 ? undefined : list[n % list.length];
}

/** Applies `step` to the store and the model alike; true when the store must be reopened. */
function applyStep(store: SqliteStore, model: Model, s: Step): 'reopen' | null {
  switch (s.kind) {
    case 0: {
      const record: BaseMessageRecord = {
        storeId: model.nextStoreId++,
        expiryTime: s.time,
        topic: s.topic,
        payload: s.payload,
        sourceId: s.text,
        sourceUsername: s.text2,
        sourceMid: s.u16,
        sourcePort: s.u16 ^ 0x5555,
        qos: s.qos,
        retain: s.flag,
        properties: s.properties,
      };
      store.baseMessageAdd(record);
      model.bases.push(record);
      break;
    }
    case 1: {
      const victim = pickOf(
        model.bases.filter((m) => !model.referenced(m.storeId)),
        s.pick,
      );
      if (victim === undefined) break;
      store.baseMessageDelete(victim.storeId);
      model.bases = model.bases.filter((m) => m !== victim);
      break;
    }
    case 2: {
      const record: ClientRecord = {
        clientId: s.clientId,
        username: s.text2,
        sessionExpiryTime: s.time,
        sessionExpiryInterval: s.u32,
        lastMid: s.u16,
        listenerPort: s.u16,
        willDelayTime: s.time2,
        willDelayInterval: (s.u32 ^ 0x1234) >>> 0,
        maxPacketSize: s.u32 >>> 4,
        maxQos: s.qos,
        retainAvailable: s.flag,
      };
      store.clientAdd(record);
      // INSERT OR REPLACE: a new row, at the end.
      model.clients = [...model.clients.filter((c) => c.clientId !== s.clientId), record];
      break;
    }
    case 3: {
      const current = pickOf(model.clients, s.pick);
      if (current === undefined) break;
      const record = { ...current, sessionExpiryTime: s.time, willDelayTime: s.time2, lastMid: 9 };
      store.clientUpdate(record);
      model.clients = model.clients.map((c) =>
        c === current ? { ...current, sessionExpiryTime: s.time, willDelayTime: s.time2 } : c,
      );
      break;
    }
    case 4: {
      const current = pickOf(model.clients, s.pick);
      if (current === undefined) break;
      const id = current.clientId;
      store.clientDelete(id);
      const mine = new Set(model.cmsgs.filter((m) => m.clientId === id).map((m) => m.storeId));
      const others = new Set(model.cmsgs.filter((m) => m.clientId !== id).map((m) => m.storeId));
      const retained = new Set(model.retains.values());
      model.bases = model.bases.filter(
        (m) => !mine.has(m.storeId) || others.has(m.storeId) || retained.has(m.storeId),
      );
      model.subs = model.subs.filter((x) => x.clientId !== id);
      model.cmsgs = model.cmsgs.filter((m) => m.clientId !== id);
      model.clients = model.clients.filter((c) => c !== current);
      model.wills = model.wills.filter((w) => w.clientId !== id);
      break;
    }
    case 5: {
      const owner = pickOf(model.clients, s.pick);
      const message = pickOf(model.bases, s.pick2);
      if (owner === undefined || message === undefined) break;
      const record: ClientMessageRecord = {
        clientId: owner.clientId,
        cmsgId: model.nextCmsgId++,
        storeId: message.storeId,
        mid: s.u16,
        qos: s.qos,
        retain: s.flag,
        dup: !s.flag,
        direction: s.pick2 % 3 === 0 ? MessageDirection.In : MessageDirection.Out,
        state: s.state,
        subscriptionId: s.subId,
      };
      store.clientMessageAdd(record);
      model.cmsgs.push(record);
      break;
    }
    case 6: {
      const target = pickOf(model.cmsgs, s.pick);
      if (target === undefined) break;
      store.clientMessageUpdate(target.clientId, target.storeId, target.direction, s.state, s.flag);
      model.cmsgs = model.cmsgs.map((m) =>
        m.clientId === target.clientId &&
        m.storeId === target.storeId &&
        m.direction === target.direction
          ? { ...m, state: s.state, dup: s.flag }
          : m,
      );
      break;
    }
    case 7: {
      const target = pickOf(model.cmsgs, s.pick);
      if (target === undefined) break;
      store.clientMessageDelete(target.clientId, target.storeId, target.direction);
      model.cmsgs = model.cmsgs.filter(
        (m) =>
          !(
            m.clientId === target.clientId &&
            m.storeId === target.storeId &&
            m.direction === target.direction
          ),
      );
      break;
    }
    case 8: {
      const direction =
        s.pick2 % 3 === 0 ? null : s.pick2 % 3 === 1 ? MessageDirection.In : MessageDirection.Out;
      store.clientMessagesClear(s.clientId, direction);
      model.cmsgs = model.cmsgs.filter(
        (m) => !(m.clientId === s.clientId && (direction === null || m.direction === direction)),
      );
      break;
    }
    case 9: {
      const owner = pickOf(model.clients, s.pick);
      if (owner === undefined) break;
      const record: SubscriptionRecord = {
        clientId: owner.clientId,
        topicFilter: s.filter,
        options: s.options,
        identifier: s.subId,
      };
      store.subscriptionAdd(record);
      model.subs = [
        ...model.subs.filter((x) => !(x.clientId === owner.clientId && x.topicFilter === s.filter)),
        record,
      ];
      break;
    }
    case 10: {
      const target = pickOf(model.subs, s.pick);
      if (target === undefined) break;
      store.subscriptionDelete(target.clientId, target.topicFilter);
      model.subs = model.subs.filter((x) => x !== target);
      break;
    }
    case 11: {
      const message = pickOf(model.bases, s.pick);
      if (message === undefined) break;
      store.retainSet({ topic: s.topic, storeId: message.storeId });
      model.retains.set(s.topic, message.storeId);
      break;
    }
    case 12: {
      const topic = pickOf([...model.retains.keys()], s.pick) ?? s.topic;
      store.retainDelete(topic);
      model.retains.delete(topic);
      break;
    }
    case 13: {
      const record: WillRecord = {
        clientId: s.clientId,
        topic: s.topic,
        payload: s.payload,
        qos: s.qos,
        retain: s.flag,
        properties: s.properties,
      };
      store.willAdd(record);
      model.wills = [...model.wills.filter((w) => w.clientId !== s.clientId), record];
      break;
    }
    case 14: {
      const target = pickOf(model.wills, s.pick);
      const id = target?.clientId ?? s.clientId;
      store.willDelete(id);
      model.wills = model.wills.filter((w) => w.clientId !== id);
      break;
    }
    case 15:
      store.commit(false);
      break;
    case 16:
      store.commit(true);
      break;
    default:
      return 'reopen';
  }
  return null;
}

describe('SQLite store: events read back', () => {
  test('every event, then load(), gives back what was written, across close and reopen', () => {
    const dir = tempDir();
    let run = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(1, 1_338_095_235_622_154),
        fc.array(stepArb, { minLength: 1, maxLength: 60 }),
        (firstStoreId, steps) => {
          const file = join(dir, `run-${run++}.sqlite3`);
          const model = new Model(firstStoreId);
          let store = open(file).store;
          loadState(store);
          try {
            for (const step of steps) {
              if (applyStep(store, model, step) === 'reopen') {
                store.close();
                store = open(file).store;
                assert.deepEqual(sortedRetains(loadState(store)), sortedRetains(model.expected()));
              }
            }
            // Uncommitted events are visible to this connection's load() too.
            assert.deepEqual(sortedRetains(loadState(store)), sortedRetains(model.expected()));
            store.commit(true);
            store.close();
            store = open(file).store;
            const loaded = loadState(store);
            assert.deepEqual(sortedRetains(loaded), sortedRetains(model.expected()));
            // Property order survives as well.
            for (const [i, message] of loaded.baseMessages.entries()) {
              assert.deepEqual(
                Object.keys(message.properties),
                Object.keys(model.bases[i]?.properties ?? {}),
              );
            }
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  test('events stay in the open transaction until commit(), as the plugin between ticks', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store } = open(file);
    loadState(store);
    store.baseMessageAdd(base(1));
    const count = (): unknown => {
      const db = sql(file);
      try {
        return db.prepare('SELECT count(*) FROM base_msgs').pluck().get();
      } finally {
        db.close();
      }
    };
    assert.equal(count(), 0);
    store.commit(false);
    assert.equal(count(), 1);
    store.baseMessageAdd(base(2));
    store.commit(true);
    assert.equal(count(), 2);
    store.close();
  });

  test('clientDelete takes subscriptions, messages, will and messages only it referred to', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store } = open(file);
    loadState(store);
    for (const id of [1, 2, 3, 4]) store.baseMessageAdd(base(id));
    store.clientAdd(client('gone'));
    store.clientAdd(client('stays'));
    store.subscriptionAdd({
      clientId: 'gone',
      topicFilter: '$share/g/x',
      options: 1,
      identifier: 0,
    });
    store.clientMessageAdd(delivery('gone', 1, 1)); // only 'gone': deleted with it
    store.clientMessageAdd(delivery('gone', 2, 2)); // shared with 'stays': kept
    store.clientMessageAdd(delivery('stays', 1, 2));
    store.clientMessageAdd(delivery('gone', 3, 3)); // retained: kept
    store.retainSet({ topic: 'r', storeId: 3 });
    store.willAdd({
      clientId: 'gone',
      topic: 'w',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      properties: EMPTY_PROPERTIES,
    });
    store.clientDelete('gone');
    const state = loadState(store);
    assert.deepEqual(
      state.baseMessages.map((m) => m.storeId),
      [2, 3, 4],
    );
    assert.deepEqual(
      state.clients.map((c) => c.clientId),
      ['stays'],
    );
    assert.deepEqual(state.subscriptions, []);
    assert.deepEqual(
      state.clientMessages.map((m) => m.clientId),
      ['stays'],
    );
    assert.deepEqual(state.wills, []);
    store.close();
  });

  test("load() drops what Mosquitto's restore drops, and derives lastMid as it does", () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store, log } = open(file);
    loadState(store);
    store.baseMessageAdd(base(1));
    store.clientAdd(client('c'));
    store.clientMessageAdd(delivery('c', 1, 1, { mid: 10 }));
    store.clientMessageAdd(delivery('c', 2, 1, { mid: 11, qos: 0 }));
    store.clientMessageAdd(delivery('c', 3, 1, { mid: 12, direction: MessageDirection.In }));
    store.clientMessageAdd(delivery('c', 4, 99)); // no such message
    store.clientMessageAdd(delivery('nobody', 5, 1)); // no such client
    store.subscriptionAdd({ clientId: 'nobody', topicFilter: 'x', options: 0, identifier: 0 });
    store.retainSet({ topic: 'dangling', storeId: 98 });
    // The will of a client without a session (Mosquitto publishes it at restore).
    store.willAdd({
      clientId: 'nobody',
      topic: 'w',
      payload: Buffer.alloc(0),
      qos: 1,
      retain: true,
      properties: EMPTY_PROPERTIES,
    });
    store.commit(false);
    store.close();
    const reopened = open(file);
    const state = loadState(reopened.store);
    assert.deepEqual(
      state.clientMessages.map((m) => m.cmsgId),
      [1, 2, 3],
    );
    assert.equal(state.clients[0]?.lastMid, 10);
    assert.deepEqual(state.subscriptions, []);
    assert.deepEqual(state.retains, []);
    assert.deepEqual(
      state.wills.map((w) => w.clientId),
      ['nobody'],
    );
    assert.match(
      reopened.log.map((l) => l.line).join('\n'),
      /0 retained messages \(1 failed\)[^]*0 subscriptions \(1 failed\)[^]*3 client messages \(2 failed\)/,
    );
    assert.ok(log.length > 0);
    reopened.store.close();
  });

  test('store ids beyond 2^53 (a Mosquitto node id) are renumbered consistently', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    loadState(open(file).store);
    const db = new Database(file);
    const big = (1n << 54n) + 5n;
    db.prepare(
      "INSERT INTO base_msgs VALUES (?, 0, 'big', x'00', '', NULL, 1, 0, 0, 1, 1, NULL)",
    ).run(big);
    db.prepare(
      "INSERT INTO base_msgs VALUES (40, 0, 'small', NULL, '', NULL, 0, 0, 0, 1, 0, NULL)",
    ).run();
    db.prepare("INSERT INTO retains VALUES ('big', ?)").run(big);
    db.prepare("INSERT INTO clients (client_id) VALUES ('c')").run();
    db.prepare("INSERT INTO client_msgs VALUES ('c', 1, ?, 0, 1, 1, 1, 0, 11, 0)").run(big);
    db.close();
    const { store, log } = open(file);
    const state = loadState(store);
    assert.deepEqual(
      state.baseMessages.map((m) => m.storeId),
      [41, 40],
    );
    assert.deepEqual(state.retains, [{ topic: 'big', storeId: 41 }]);
    assert.equal(state.clientMessages[0]?.storeId, 41);
    assert.equal(state.lastStoreId, 41);
    assert.ok(log.some((l) => l.line.includes('renumbered 1')));
    store.close();
    const again = open(file).store;
    assert.equal(loadState(again).retains[0]?.storeId, 41);
    again.close();
  });

  test('save() replaces everything stored (a journal refilled or emptied)', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store } = open(file);
    loadState(store);
    store.baseMessageAdd(base(1));
    store.clientAdd(client('old'));
    store.commit(false);
    const state: DurableState = {
      lastStoreId: 5,
      baseMessages: [base(5, { retain: true })],
      clients: [client('new')],
      clientMessages: [delivery('new', 1, 5)],
      subscriptions: [{ clientId: 'new', topicFilter: 't', options: 1, identifier: 0 }],
      retains: [{ topic: 't', storeId: 5 }],
      wills: [],
    };
    store.save(state, false);
    store.commit(true);
    store.close();
    const reopened = open(file).store;
    assert.deepEqual(loadState(reopened), { ...state, clients: [client('new', { lastMid: 1 })] });
    reopened.save(
      {
        lastStoreId: 0,
        baseMessages: [],
        clients: [],
        clientMessages: [],
        subscriptions: [],
        retains: [],
        wills: [],
      },
      true,
    );
    reopened.commit(true);
    assert.equal(loadState(reopened).baseMessages.length, 0);
    reopened.close();
  });
});

// ---------------------------------------------------------------------------------------
// Durability and failures

describe('SQLite store: durability and failures', () => {
  test('commit(true), then SIGKILL mid-run: nothing committed is lost', async () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const code = `
      import { writeSync } from 'node:fs';
      const { openSqliteStore } = await import(process.argv[1]);
      const store = openSqliteStore({ dbFile: process.argv[2] });
      // Opening is all this needs: a sink that ignores every record.
      store.load(new Proxy({}, { get: () => () => {} }));
      store.clientAdd({ clientId: 'k', username: null, sessionExpiryTime: 0,
        sessionExpiryInterval: 0xffffffff, lastMid: 0, listenerPort: 0, willDelayTime: 0,
        willDelayInterval: 0, maxPacketSize: 0, maxQos: 2, retainAvailable: true });
      store.commit(true);
      for (let i = 1; ; i++) {
        store.baseMessageAdd({ storeId: i, expiryTime: 0, topic: 'k/' + i,
          payload: Buffer.alloc(300, i & 0xff), sourceId: 'p', sourceUsername: null,
          sourceMid: 0, sourcePort: 0, qos: 1, retain: false, properties: {} });
        store.clientMessageAdd({ clientId: 'k', cmsgId: i, storeId: i, mid: (i % 65535) + 1,
          qos: 1, retain: false, dup: false, direction: 1, state: 11, subscriptionId: 0 });
        if (i % 3 === 0) store.clientMessageUpdate('k', i, 1, 3, true);
        store.commit(true);
        writeSync(1, i + '\\n');
      }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, STORE_MODULE, file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the writer printed too little: ${out.length} bytes; ${errors}`));
      }, 20_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.split('\n').length > 300 && child.exitCode === null) {
          // Mid-run: the writer is in its loop, likely inside a transaction.
          child.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(null);
      else child.once('exit', resolve);
    });
    assert.equal(child.signalCode, 'SIGKILL', errors);
    // Only whole lines were printed after their commit returned.
    const printed = out.split('\n').slice(0, -1).map(Number);
    assert.ok(printed.length >= 300);
    const { store } = open(file);
    const state = loadState(store);
    const stored = new Set(state.baseMessages.map((m) => m.storeId));
    const delivered = new Map(state.clientMessages.map((m) => [m.storeId, m]));
    for (const id of printed) {
      assert.ok(stored.has(id), `message ${id} lost`);
      const record = delivered.get(id);
      assert.ok(record !== undefined, `delivery ${id} lost`);
      assert.equal(record.state, id % 3 === 0 ? MessageState.WaitForPuback : MessageState.Queued);
    }
    store.close();
  });

  test('SQLite busy: events wait in the journal, commit() throws, then replays and succeeds', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store, log } = open(file);
    loadState(store);
    store.baseMessageAdd(base(1));
    store.commit(false);
    const other = new Database(file, { timeout: 0 });
    other.exec('BEGIN IMMEDIATE');
    store.baseMessageAdd(base(2)); // fails (locked): logged, not thrown
    store.clientAdd(client('c'));
    store.clientMessageAdd(delivery('c', 1, 2));
    assert.ok(log.some((l) => l.level === 'error' && l.line.includes('database is locked')));
    assert.throws(
      () => {
        store.commit(true);
      },
      (error: unknown) =>
        error instanceof StoreError &&
        error.message.includes(file) &&
        error.message.includes('SQLITE_BUSY'),
    );
    other.exec('ROLLBACK');
    other.close();
    store.commit(true);
    store.close();
    const state = loadState(open(file).store);
    assert.deepEqual(
      state.baseMessages.map((m) => m.storeId),
      [1, 2],
    );
    assert.deepEqual(
      state.clientMessages.map((m) => m.storeId),
      [2],
    );
  });

  test('an event SQLite refuses on its own merits is logged and dropped', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store, log } = open(file);
    loadState(store);
    store.baseMessageAdd(base(1));
    store.baseMessageAdd(base(1, { topic: 'duplicate id' }));
    store.baseMessageAdd(base(2));
    store.commit(true);
    assert.ok(log.some((l) => l.line.includes('SQLITE_CONSTRAINT')));
    assert.deepEqual(
      loadState(store).baseMessages.map((m) => m.topic),
      ['t', 't'],
    );
    store.close();
  });

  test(
    "disk full (a file size limit): commit() throws StoreError with SQLite's reason",
    {
      skip:
        process.platform !== 'linux' || !existsSync('/bin/bash') ? 'needs Linux and bash' : false,
    },
    async () => {
      const file = join(tempDir(), 'mosquitto.sqlite3');
      const code = `
      const { openSqliteStore } = await import(process.argv[1]);
      const store = openSqliteStore({ dbFile: process.argv[2] });
      // Opening is all this needs: a sink that ignores every record.
      store.load(new Proxy({}, { get: () => () => {} }));
      const results = [];
      for (let i = 1; i <= 40; i++) {
        store.baseMessageAdd({ storeId: i, expiryTime: 0, topic: 't', payload: Buffer.alloc(50000, 1),
          sourceId: '', sourceUsername: null, sourceMid: 0, sourcePort: 0, qos: 1, retain: false,
          properties: {} });
        try { store.commit(true); results.push('ok ' + i); }
        catch (error) { results.push(error.name + ': ' + error.message); }
      }
      console.log(JSON.stringify(results));
    `;
      const { stdout } = await execFileAsync('/bin/bash', [
        '-c',
        'ulimit -f 512; exec "$0" --input-type=module -e "$1" "$2" "$3"',
        process.execPath,
        code,
        STORE_MODULE,
        file,
      ]);
      const results = JSON.parse(stdout) as string[];
      const firstFailure = results.findIndex((r) => !r.startsWith('ok'));
      assert.ok(firstFailure > 0, results.join('\n'));
      const failure = results[firstFailure] ?? '';
      assert.match(failure, /^StoreError: /);
      assert.ok(failure.includes(file), failure);
      assert.match(failure, /disk I\/O error|disk is full/);
      // Every later commit still fails: the events stay pending.
      assert.ok(results.slice(firstFailure).every((r) => r.startsWith('StoreError')));
      const state = loadState(open(file).store);
      assert.equal(state.baseMessages.length, firstFailure);
    },
  );

  test('a file of random bytes: StoreError naming the file; quarantine() moves it and its WAL', () => {
    const dir = tempDir();
    const file = join(dir, 'mosquitto.sqlite3');
    writeFileSync(file, randomBytes(8192));
    writeFileSync(`${file}-wal`, randomBytes(100));
    writeFileSync(`${file}-shm`, randomBytes(100));
    const { store } = open(file);
    assert.throws(
      () => loadState(store),
      (error: unknown) =>
        error instanceof StoreError &&
        error.message.includes(file) &&
        /not a database|malformed/.test(error.message),
    );
    const before = Math.floor(Date.now() / 1000);
    const moved = store.quarantine();
    assert.ok(moved !== null);
    const match = /^(.*)\.corrupt-(\d+)$/.exec(moved);
    assert.equal(match?.[1], file);
    assert.ok(Number(match[2]) >= before);
    assert.deepEqual(
      readdirSync(dir).sort(),
      [moved, `${moved}-shm`, `${moved}-wal`].map((p) => p.slice(dir.length + 1)).sort(),
    );
    // The store starts over with a new file.
    assert.equal(loadState(store).baseMessages.length, 0);
    store.baseMessageAdd(base(1));
    store.commit(true);
    store.close();
    assert.equal(loadState(open(file).store).baseMessages.length, 1);
  });

  test('a truncated file: StoreError naming the file', () => {
    const file = join(tempDir(), 'mosquitto.sqlite3');
    const { store } = open(file);
    loadState(store);
    for (let i = 1; i <= 300; i++)
      store.baseMessageAdd(base(i, { payload: Buffer.alloc(1000, i) }));
    store.commit(true);
    store.close();
    const full = readFileSync(file);
    for (const length of [Math.floor(full.length / 2), 4096, 50]) {
      writeFileSync(file, full.subarray(0, length));
      const damaged = open(file).store;
      assert.throws(
        () => loadState(damaged),
        (error: unknown) =>
          error instanceof StoreError &&
          error.message.includes(file) &&
          error.message.includes('malformed'),
        `truncated to ${length}`,
      );
      const moved = damaged.quarantine();
      assert.ok(moved !== null && existsSync(moved) && !existsSync(file));
    }
  });

  test('a missing file is an empty state; a missing directory is a StoreError', () => {
    const dir = tempDir();
    assert.equal(loadState(open(join(dir, 'new.sqlite3')).store).clients.length, 0);
    const { store } = open(join(dir, 'no', 'such', 'dir', 'x.sqlite3'));
    assert.throws(() => loadState(store), StoreError);
    assert.equal(store.quarantine(), null);
  });
});

// ---------------------------------------------------------------------------------------
// Options

describe('SQLite store: options as plugin_opt_* in Mosquitto 2.1', () => {
  test('defaults: sync normal, flush period 5 s; persistence_location wins over db_file', () => {
    const dir = tempDir();
    const { store } = open(join(dir, 'x.sqlite3'));
    assert.equal(store.synchronous, 1);
    assert.equal(store.flushPeriod, 5);
    const warnings: string[] = [];
    const located = openSqliteStore(
      { dbFile: join(dir, 'ignored.sqlite3'), persistenceLocation: join(dir, 'loc') },
      (_level, line) => warnings.push(line),
    );
    assert.equal(located.location, join(dir, 'loc', 'mosquitto.sqlite3'));
    assert.equal(warnings.length, 1);
    loadState(located);
    located.close();
    assert.ok(existsSync(join(dir, 'loc', 'mosquitto.sqlite3')));
  });

  test('values Mosquitto refuses are refused', () => {
    assert.throws(() => openSqliteStore({}), StoreError);
    assert.throws(() => openSqliteStore({ dbFile: 'x', sync: 'sometimes' as 'full' }), StoreError);
    assert.throws(() => openSqliteStore({ dbFile: 'x', flushPeriod: -1 }), StoreError);
    assert.equal(openSqliteStore({ dbFile: 'x', sync: 'EXTRA' as 'extra' }).synchronous, 3);
  });

  test('plugin_opt lines are read as the plugin reads them (atoi, any case)', () => {
    assert.deepEqual(
      sqliteOptionsFromPluginOpts(
        [
          ['DB_FILE', '/d/m.sqlite3'],
          ['sync', 'Full'],
          ['flush_period', '10s'],
          ['page_size', '8192'],
          ['other', 'x'],
        ],
        null,
      ),
      {
        dbFile: '/d/m.sqlite3',
        persistenceLocation: null,
        sync: 'full',
        flushPeriod: 10,
        pageSize: 8192,
      },
    );
    assert.throws(() => sqliteOptionsFromPluginOpts([['sync', 'maybe']], null), StoreError);
    assert.throws(() => sqliteOptionsFromPluginOpts([['page_size', 'x']], null), StoreError);
  });
});

// ---------------------------------------------------------------------------------------
// Interoperability with Mosquitto 2.1.2

const M212 = '/work/ref/m212';
const M212_BROKER = `${M212}/bin/mosquitto`;
const M212_PLUGIN = `${M212}/so/mosquitto_persist_sqlite.so`;
const PUB = '/usr/bin/mosquitto_pub';
const SUB = '/usr/bin/mosquitto_sub';
const interopSkip = [M212_BROKER, M212_PLUGIN, PUB, SUB].every((path) => existsSync(path))
  ? false
  : `Mosquitto 2.1.2 (${M212_BROKER} with ${M212_PLUGIN}) or Debian's mosquitto_pub/sub not installed`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no port'));
        else resolve(address.port);
      });
    });
  });
}

interface M212Broker {
  readonly port: number;
  readonly output: () => string;
  stop(): Promise<void>;
}

async function startM212(dir: string): Promise<M212Broker> {
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      // Started as root, Mosquitto would switch to the user "mosquitto" otherwise.
      `user ${userInfo().username}`,
      `plugin ${M212_PLUGIN}`,
      `plugin_opt_db_file ${join(dir, 'mosquitto.sqlite3')}`,
      'log_dest stderr',
      'log_type all',
      '',
    ].join('\n'),
  );
  const child = spawnTracked(M212_BROKER, ['-c', config]);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const probe = await RawClient.open(port, '127.0.0.1', 500);
      probe.destroy();
      break;
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await terminate(child);
        throw new Error(`Mosquitto 2.1.2 did not start: ${String(error)}\n${output}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    port,
    output: () => output,
    async stop() {
      await terminate(child, 10_000);
    },
  };
}

async function pub(port: number, args: readonly string[]): Promise<void> {
  await execFileAsync(PUB, ['-p', String(port), ...args], { timeout: 10_000 });
}

async function sub(
  port: number,
  args: readonly string[],
  encoding: BufferEncoding = 'utf8',
): Promise<string[]> {
  const { stdout } = await execFileAsync(SUB, ['-p', String(port), ...args], {
    timeout: 15_000,
    encoding,
  });
  return stdout.split('\n').filter((line) => line !== '');
}

describe('SQLite store: interoperability with Mosquitto 2.1.2', { skip: interopSkip }, () => {
  test('a file Mosquitto 2.1.2 wrote loads into the same records', async () => {
    const dir = tempDir();
    const broker = await startM212(dir);
    const port = broker.port;
    let inflight: RawClient | null = null;
    const startedAt = Math.floor(Date.now() / 1000);
    try {
      await pub(port, [
        '-V',
        '5',
        '-t',
        'r/props',
        '-m',
        'hello',
        '-r',
        '-q',
        '1',
        '-D',
        'publish',
        'user-property',
        'a',
        'b',
        '-D',
        'publish',
        'user-property',
        'c',
        'd',
        '-D',
        'publish',
        'content-type',
        'text/plain',
        '-D',
        'publish',
        'correlation-data',
        'cd01',
        '-D',
        'publish',
        'payload-format-indicator',
        '1',
        '-D',
        'publish',
        'response-topic',
        'resp/t',
        '-D',
        'publish',
        'message-expiry-interval',
        '3600',
      ]);
      await pub(port, ['-t', 'r/plain', '-m', 'plain', '-r']);
      await pub(port, ['-t', '007', '-m', 'numeric', '-r']);
      // Durable sessions that subscribe and leave (-E).
      await sub(port, [
        '-V',
        '5',
        '-c',
        '-i',
        'durable5',
        '-x',
        '7200',
        '-q',
        '2',
        '-t',
        't',
        '-t',
        '$share/g/x',
        '-E',
      ]);
      await sub(port, ['-c', '-i', 'durable4', '-q', '1', '-t', 't', '-E']);
      // A v5 session that stays connected, subscribed with every option and an
      // identifier, with a will, and never acknowledges what it is sent.
      inflight = await RawClient.open(port);
      inflight.send(
        wire.connect({
          version: 5,
          clientId: 'inflight',
          cleanStart: false,
          properties: [{ id: 0x11, value: 600 }],
          will: {
            topic: 'will/t',
            payload: 'gone',
            qos: 1,
            properties: [
              { id: 0x18, value: 30 },
              { id: 0x03, value: 'text/w' },
              { id: 0x26, value: ['wk', 'wv'] },
            ],
          },
        }),
      );
      await inflight.expectPacket(); // CONNACK
      inflight.send(
        wire.subscribe({
          version: 5,
          subscriptions: [{ filter: 'inf/#', options: 0x2d }],
          properties: [{ id: 0x0b, value: 42 }],
        }),
      );
      await inflight.expectPacket(); // SUBACK
      await pub(port, ['-t', 't', '-m', 'm1', '-q', '1']);
      await pub(port, [
        '-V',
        '5',
        '-t',
        't',
        '-m',
        'm2',
        '-q',
        '2',
        '-D',
        'publish',
        'user-property',
        'k',
        'v',
      ]);
      await pub(port, ['-t', 'x', '-m', 'shared', '-q', '1']);
      await pub(port, ['-t', 'inf/a', '-m', 'i1', '-q', '1']);
      await pub(port, ['-t', 'inf/b', '-m', 'i2', '-q', '1']);
      await inflight.expectPacket(); // PUBLISH, not acknowledged
      await inflight.expectPacket();
    } finally {
      await broker.stop();
      inflight?.destroy();
    }
    assert.match(broker.output(), /Sqlite persistence: Closed DB/);

    const file = join(dir, 'mosquitto.sqlite3');
    const { store, log } = open(file);
    const state = loadState(store);
    store.close();
    const byTopic = new Map(state.baseMessages.map((m) => [m.payload.toString(), m]));

    const props = byTopic.get('hello');
    assert.ok(props !== undefined);
    assert.equal(props.topic, 'r/props');
    assert.equal(props.qos, 1);
    assert.equal(props.retain, true);
    assert.ok(props.expiryTime >= startedAt + 3600 && props.expiryTime <= startedAt + 3700);
    assert.equal(props.sourcePort, port);
    assert.deepEqual(props.properties, {
      userProperties: [
        ['a', 'b'],
        ['c', 'd'],
      ],
      contentType: 'text/plain',
      correlationData: Buffer.from('cd01'),
      payloadFormatIndicator: 1,
      responseTopic: 'resp/t',
    });
    assert.deepEqual(Object.keys(props.properties), [
      'userProperties',
      'contentType',
      'correlationData',
      'payloadFormatIndicator',
      'responseTopic',
    ]);
    // Mosquitto's own file stores the topic "007" as the integer 7.
    assert.equal(byTopic.get('numeric')?.topic, '7');
    assert.deepEqual(
      state.retains.map((r) => [r.topic, byTopic.get('plain')?.storeId === r.storeId]),
      [
        ['7', false],
        ['r/plain', true],
        ['r/props', false],
      ],
    );

    const clients = new Map(state.clients.map((c) => [c.clientId, c]));
    const d5 = clients.get('durable5');
    const d4 = clients.get('durable4');
    const inf = clients.get('inflight');
    assert.ok(d5 !== undefined && d4 !== undefined && inf !== undefined);
    assert.equal(d5.sessionExpiryInterval, 7200);
    assert.ok(d5.sessionExpiryTime >= startedAt + 7200 && d5.sessionExpiryTime < startedAt + 7300);
    assert.equal(d4.sessionExpiryInterval, 0xffffffff);
    assert.equal(d4.sessionExpiryTime, 0);
    assert.equal(inf.sessionExpiryInterval, 600);
    assert.equal(inf.willDelayInterval, 30);
    assert.equal(inf.listenerPort, port);

    assert.deepEqual(
      state.subscriptions.map((s) => [s.clientId, s.topicFilter, s.options, s.identifier]),
      [
        ['durable5', 't', 2, 0],
        ['durable5', '$share/g/x', 2, 0],
        ['durable4', 't', 1, 0],
        ['inflight', 'inf/#', 0x2d, 42],
      ],
    );

    const deliveries = (id: string): [string, number, number, MessageState, number][] =>
      state.clientMessages
        .filter((m) => m.clientId === id)
        .map((m) => {
          const message = state.baseMessages.find((b) => b.storeId === m.storeId);
          assert.equal(m.direction, MessageDirection.Out);
          return [message?.payload.toString() ?? '?', m.qos, m.mid, m.state, m.subscriptionId];
        });
    assert.deepEqual(deliveries('durable5'), [
      ['m1', 1, 1, MessageState.Queued, 0],
      ['m2', 2, 2, MessageState.Queued, 0],
      ['shared', 1, 3, MessageState.Queued, 0],
    ]);
    assert.deepEqual(deliveries('durable4'), [
      ['m1', 1, 1, MessageState.Queued, 0],
      ['m2', 1, 2, MessageState.Queued, 0],
    ]);
    assert.deepEqual(deliveries('inflight'), [
      ['i1', 1, 1, MessageState.WaitForPuback, 42],
      ['i2', 1, 2, MessageState.WaitForPuback, 42],
    ]);
    const cmsgIds = state.clientMessages
      .filter((m) => m.clientId === 'durable5')
      .map((m) => m.cmsgId);
    assert.deepEqual(
      cmsgIds,
      [...cmsgIds].sort((a, b) => a - b),
    );
    assert.equal(d5.lastMid, 3);
    assert.equal(inf.lastMid, 2);
    assert.deepEqual(byTopic.get('m2')?.properties, { userProperties: [['k', 'v']] });

    assert.deepEqual(state.wills, [
      {
        clientId: 'inflight',
        topic: 'will/t',
        payload: Buffer.from('gone'),
        qos: 1,
        retain: false,
        properties: { contentType: 'text/w', userProperties: [['wk', 'wv']] },
      },
    ]);
    assert.ok(!log.some((l) => l.level !== 'info'), JSON.stringify(log));
    // Our open leaves Mosquitto's schema exactly as it was.
    assert.deepEqual(schemaOf(file), MOSQUITTO_212_SCHEMA);
  });

  test('a file we wrote through events is restored by Mosquitto 2.1.2', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'mosquitto.sqlite3');
    const { store } = open(file);
    loadState(store);
    const now = Math.floor(Date.now() / 1000);
    store.baseMessageAdd(
      base(1, {
        topic: 'r/ours',
        payload: Buffer.from('retained-ours'),
        retain: true,
        qos: 1,
        expiryTime: now + 3600,
        properties: {
          contentType: 'application/json',
          userProperties: [['ka', 'va']],
          correlationData: Buffer.from([0x00, 0xff, 0x10]),
          responseTopic: 'reply/here',
          payloadFormatIndicator: 1,
        },
      }),
    );
    store.retainSet({ topic: 'r/ours', storeId: 1 });
    store.baseMessageAdd(
      base(2, { topic: '007', payload: Buffer.from('numeric-topic'), retain: true, qos: 0 }),
    );
    store.retainSet({ topic: '007', storeId: 2 });
    store.clientAdd(client('ourclient', { sessionExpiryInterval: 0xffffffff, maxQos: 2 }));
    store.subscriptionAdd({ clientId: 'ourclient', topicFilter: 't', options: 2, identifier: 0 });
    store.subscriptionAdd({
      clientId: 'ourclient',
      topicFilter: '$share/g/s',
      options: 1,
      identifier: 0,
    });
    for (const [id, qos] of [
      [3, 1],
      [4, 2],
      [5, 1],
    ] as const) {
      store.baseMessageAdd(base(id, { topic: 't', payload: Buffer.from(`queued-${id}`), qos }));
      store.clientMessageAdd(delivery('ourclient', id - 2, id, { qos, mid: id - 2 }));
    }
    store.commit(true);
    store.close();

    const broker = await startM212(dir);
    try {
      // latin1 keeps the correlation data's bytes (%D prints them as they are).
      const retained = await sub(
        broker.port,
        [
          '-V',
          '5',
          '-t',
          'r/#',
          '-t',
          '007',
          '-C',
          '2',
          '-W',
          '5',
          '-F',
          '%t|%p|%r|%C|%R|%F|%D|%P',
        ],
        'latin1',
      );
      assert.deepEqual(retained.map((line) => line.split('|')).sort(), [
        ['007', 'numeric-topic', '1', '', '', '', '', ''],
        [
          'r/ours',
          'retained-ours',
          '1',
          'application/json',
          'reply/here',
          '1',
          '\x00\xff\x10',
          'ka:va',
        ],
      ]);
      const queued = await sub(broker.port, [
        '-d',
        '-c',
        '-i',
        'ourclient',
        '-q',
        '2',
        '-t',
        't',
        '-C',
        '3',
        '-W',
        '5',
        '-F',
        '%t %p %q',
      ]);
      // A QoS 2 message is printed when its PUBREL exchange completes, so the order of
      // sending is read off the debug lines.
      assert.deepEqual(queued.filter((line) => line.startsWith('t ')).sort(), [
        't queued-3 1',
        't queued-4 2',
        't queued-5 1',
      ]);
      assert.deepEqual(
        queued.flatMap((line) => {
          const match = /received PUBLISH \(d\d, q(\d), r\d, m(\d+), 't'/.exec(line);
          return match === null ? [] : [`q${match[1]} m${match[2]}`];
        }),
        ['q1 m1', 'q2 m2', 'q1 m3'],
        queued.join('\n'),
      );
    } finally {
      await broker.stop();
    }
    assert.match(broker.output(), /Restored 5 base messages \(0 failed\)/);
    assert.match(broker.output(), /Restored 2 retained messages \(0 failed\)/);
    assert.match(broker.output(), /Restored 1 clients \(0 failed\)/);
    assert.match(broker.output(), /Restored 2 subscriptions \(0 failed\)/);
    assert.match(broker.output(), /Restored 3 client messages \(0 failed\)/);
    // Mosquitto kept the session: its subscriptions are still in the file.
    const after = loadState(open(file).store);
    assert.ok(after.subscriptions.some((s) => s.topicFilter === '$share/g/s'));
  });
});
