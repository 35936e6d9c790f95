/**
 * The database layout of Mosquitto 2.1's persist-sqlite plugin (database_schema 1.1.0), and
 * the upgrades its start-up applies to older files. The DDL is written so that
 * `sqlite_master` ends up holding the same text as in a file made by Mosquitto 2.1.2.
 *
 * Beware of the declared type STRING (base_msgs.topic/source_id/source_username/properties,
 * retains.topic, wills.topic/properties): it is not a SQLite type name, so those columns get
 * NUMERIC affinity and SQLite turns text that looks like a number into one ("007" is stored
 * as the integer 7). See `stringValue` in store.ts for how we keep such text intact.
 */
import type { Database } from 'better-sqlite3';
import { StoreError } from '../store.ts';

/** The schema version this module writes and reads. */
export const SCHEMA_VERSION = [1, 1, 0] as const;

const CREATE_BASE_MSGS =
  'CREATE TABLE IF NOT EXISTS base_msgs (' +
  'store_id INT64 PRIMARY KEY,' +
  'expiry_time INT64,' +
  'topic STRING NOT NULL,' +
  'payload BLOB,' +
  'source_id STRING,' +
  'source_username STRING,' +
  'payloadlen INTEGER,' +
  'source_mid INTEGER,' +
  'source_port INTEGER,' +
  'qos INTEGER,' +
  'retain INTEGER,' +
  'properties STRING' +
  ');';

const CREATE_RETAINS =
  'CREATE TABLE IF NOT EXISTS retains (' + 'topic STRING PRIMARY KEY,' + 'store_id INT64' + ');';

const CREATE_CLIENTS =
  'CREATE TABLE IF NOT EXISTS clients (' +
  'client_id TEXT PRIMARY KEY,' +
  'username TEXT,' +
  'connection_time INT64,' +
  'will_delay_time INT64,' +
  'session_expiry_time INT64,' +
  'listener_port INT,' +
  'max_packet_size INT,' +
  'max_qos INT,' +
  'retain_available INT,' +
  'session_expiry_interval INT,' +
  'will_delay_interval INT' +
  ');';

const CREATE_SUBSCRIPTIONS =
  'CREATE TABLE IF NOT EXISTS subscriptions (' +
  'client_id TEXT NOT NULL,' +
  'topic TEXT NOT NULL,' +
  'subscription_options INTEGER,' +
  'subscription_identifier INTEGER,' +
  'PRIMARY KEY (client_id, topic) ' +
  ');';

const CREATE_CLIENT_MSGS =
  'CREATE TABLE IF NOT EXISTS client_msgs (' +
  'client_id TEXT NOT NULL,' +
  'cmsg_id INT64,' +
  'store_id INT64,' +
  'dup INTEGER,' +
  'direction INTEGER,' +
  'mid INTEGER,' +
  'qos INTEGER,' +
  'retain INTEGER,' +
  'state INTEGER,' +
  'subscription_identifier INTEGER' +
  ');';

const CREATE_VERSION_INFO =
  'CREATE TABLE IF NOT EXISTS version_info (' +
  'component TEXT NOT NULL,' +
  'major INTEGER NOT NULL,' +
  'minor INTEGER NOT NULL,' +
  'patch INTEGER NOT NULL' +
  ');';

/** Added by schema 1.1.0. */
const CREATE_WILLS =
  'CREATE TABLE IF NOT EXISTS wills (' +
  'client_id TEXT PRIMARY KEY,' +
  'payload BLOB,' +
  'topic STRING NOT NULL,' +
  'payloadlen INTEGER,' +
  'qos INTEGER,' +
  'retain INTEGER,' +
  'properties STRING' +
  ');';

function columnsOf(db: Database, table: string): string[] {
  return (db.pragma(`table_info(${table})`) as { name: string }[]).map((row) => row.name);
}

function indexColumns(db: Database, index: string): string[] {
  return (db.pragma(`index_info(${index})`) as { name: string }[]).map((row) => row.name);
}

/**
 * Creates the tables (or brings an older file up to 1.1.0), as the plugin does when it
 * starts. Throws StoreError for a schema version it does not know (newer than 1.1).
 */
export function createTables(db: Database, file: string): void {
  db.exec(CREATE_BASE_MSGS);
  db.exec(CREATE_RETAINS);
  db.exec(CREATE_CLIENTS);
  db.exec(CREATE_SUBSCRIPTIONS);
  db.exec(CREATE_CLIENT_MSGS);
  db.exec('CREATE INDEX IF NOT EXISTS client_msgs_client_id ON client_msgs(client_id);');
  // Older files indexed client_msgs on store_id alone; Mosquitto drops and recreates the
  // index at every start, we only when it is not the (store_id, client_id) one yet.
  const storeIndex = indexColumns(db, 'client_msgs_store_id');
  if (storeIndex.length > 0 && storeIndex.join(',') !== 'store_id,client_id') {
    db.exec('DROP INDEX IF EXISTS client_msgs_store_id;');
  }
  db.exec('CREATE INDEX IF NOT EXISTS client_msgs_store_id ON client_msgs(store_id,client_id);');
  db.exec('CREATE INDEX IF NOT EXISTS retains_storeid ON retains(store_id);');
  // Columns added during 2.1's development; Mosquitto tries the ALTERs every time and
  // ignores the "duplicate column" errors.
  const clientMsgColumns = columnsOf(db, 'client_msgs');
  if (!clientMsgColumns.includes('cmsg_id')) {
    db.exec('ALTER TABLE client_msgs ADD COLUMN cmsg_id INT64');
  }
  if (!clientMsgColumns.includes('subscription_identifier')) {
    db.exec('ALTER TABLE client_msgs ADD COLUMN subscription_identifier INT');
  }
  db.exec(CREATE_VERSION_INFO);

  const rows = db
    .prepare("SELECT major,minor,patch FROM version_info WHERE component = 'database_schema';")
    .all() as { major: unknown; minor: unknown; patch: unknown }[];
  // Mosquitto reads the last row (atoi of the text of each column).
  const last = rows.at(-1);
  const version = [versionPart(last?.major), versionPart(last?.minor), versionPart(last?.patch)];
  if (version[0] === 0) {
    db.exec(
      "INSERT INTO version_info(component,major,minor,patch) VALUES ('database_schema','1','0','0');",
    );
    version[0] = 1;
    version[1] = 0;
    version[2] = 0;
  }
  if (version[0] === 1) {
    if (version[1] === 0) {
      db.exec(CREATE_WILLS);
      db.exec(
        "UPDATE version_info SET major = 1, minor = 1, patch = 0 WHERE component = 'database_schema';",
      );
      return;
    }
    if (version[1] === 1) return;
  }
  throw new StoreError(
    `${file}: unknown database_schema version ${version.join('.')} (this broker knows 1.1)`,
  );
}

function versionPart(value: unknown): number {
  if (typeof value === 'number') return Math.trunc(value);
  if (typeof value === 'string') return Number.parseInt(value, 10) || 0;
  return 0;
}
