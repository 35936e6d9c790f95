/**
 * The SQLite persistence store: Mosquitto 2.1's persist-sqlite plugin (database_schema
 * 1.1.0) rebuilt as a PersistenceStore. A `mosquitto.sqlite3` written by Mosquitto 2.1.2
 * loads here, and one written here loads in Mosquitto 2.1.2.
 */
import type { SqliteStoreOptions } from './options.ts';
import { resolveSqliteOptions } from './options.ts';
import type { SqliteLog } from './store.ts';
import { SqliteStore } from './store.ts';

export type { SqliteStoreOptions, SqliteSync } from './options.ts';
export { sqliteOptionsFromPluginOpts } from './options.ts';
export type { SqliteLog } from './store.ts';
export { SqliteStore } from './store.ts';

/**
 * A store on the file the options name (created when missing, at the first load() or
 * commit()). Throws StoreError for options Mosquitto 2.1 would refuse; an unreadable file
 * is reported by load(), after which quarantine() moves it aside.
 */
export function openSqliteStore(options: SqliteStoreOptions, log?: SqliteLog): SqliteStore {
  const sink: SqliteLog = log ?? (() => undefined);
  const warn = (line: string): void => {
    sink('warning', line);
  };
  return new SqliteStore(resolveSqliteOptions(options, warn), sink);
}
