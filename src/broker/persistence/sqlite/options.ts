/**
 * The options of the SQLite store, named after Mosquitto 2.1's `plugin_opt_*` lines for
 * mosquitto_persist_sqlite, with the same defaults and the same choice of file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../store.ts';

export type SqliteSync = 'extra' | 'full' | 'normal' | 'off';

export interface SqliteStoreOptions {
  /**
   * plugin_opt_db_file. Mosquitto 2.1 uses it only when no persistence_location is set;
   * with one, the file is always `<persistence_location>/mosquitto.sqlite3`.
   */
  readonly dbFile?: string | null | undefined;
  /** persistence_location (or MOSQUITTO_PERSISTENCE_LOCATION), when configured. */
  readonly persistenceLocation?: string | null | undefined;
  /** plugin_opt_sync: PRAGMA synchronous for every commit; default normal. */
  readonly sync?: SqliteSync | undefined;
  /** plugin_opt_flush_period: seconds between commits (the broker's timer); default 5. */
  readonly flushPeriod?: number | undefined;
  /**
   * plugin_opt_page_size: PRAGMA page_size for a new file; default 4096. 0 leaves SQLite's
   * own default (also 4096).
   */
  readonly pageSize?: number | undefined;
}

/** The SQLite `PRAGMA synchronous` levels, by plugin_opt_sync name. */
export const SYNC_LEVELS: Readonly<Record<SqliteSync, number>> = {
  off: 0,
  normal: 1,
  full: 2,
  extra: 3,
};

export const DEFAULT_FLUSH_PERIOD = 5;
export const DEFAULT_PAGE_SIZE = 4096;
export const DB_FILE_NAME = 'mosquitto.sqlite3';

export interface ResolvedSqliteOptions {
  readonly file: string;
  readonly synchronous: number;
  readonly flushPeriod: number;
  readonly pageSize: number;
}

/**
 * Applies Mosquitto 2.1's rules and defaults; throws StoreError for a value it would refuse.
 * `warn` hears about a db_file that the persistence_location overrides.
 */
export function resolveSqliteOptions(
  options: SqliteStoreOptions,
  warn: (line: string) => void,
): ResolvedSqliteOptions {
  let file: string;
  const location = options.persistenceLocation ?? null;
  const dbFile = options.dbFile ?? null;
  if (location !== null && location !== '') {
    // As the plugin: the location is created (one level, mode 0770) and wins over db_file.
    try {
      mkdirSync(location, { mode: 0o770 });
    } catch {
      // Already there, or the open below reports the problem.
    }
    file = join(location, DB_FILE_NAME);
    if (dbFile !== null && dbFile !== file) {
      warn(
        `Warning: Sqlite persistence: plugin_opt_db_file ${dbFile} is ignored because persistence_location is set; using ${file}.`,
      );
    }
  } else if (dbFile !== null && dbFile !== '') {
    file = dbFile;
  } else {
    throw new StoreError(
      'Sqlite persistence: no plugin_opt_db_file and no persistence_location: nowhere to store the database.',
    );
  }

  const syncName = options.sync ?? 'normal';
  const synchronous = SYNC_LEVELS[syncName.toLowerCase() as SqliteSync] as number | undefined;
  if (synchronous === undefined) {
    throw new StoreError(`Sqlite persistence: Invalid plugin_opt_sync value '${syncName}'.`);
  }
  const flushPeriod = options.flushPeriod ?? DEFAULT_FLUSH_PERIOD;
  if (!Number.isInteger(flushPeriod) || flushPeriod < 0) {
    throw new StoreError(`Error: Invalid 'flush_period' value ${flushPeriod} in configuration.`);
  }
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 0) {
    throw new StoreError(`Error: Invalid 'page_size' value ${pageSize} in configuration.`);
  }
  return { file, synchronous, flushPeriod, pageSize };
}

/**
 * SqliteStoreOptions from the plugin's option lines (`plugin_opt_<key> <value>`, keys
 * without the prefix, compared without regard to case) as Mosquitto 2.1 reads them:
 * numbers with atoi() semantics ("5s" is 5, "x" is 0).
 */
export function sqliteOptionsFromPluginOpts(
  pluginOpts: Iterable<readonly [string, string]>,
  persistenceLocation: string | null,
): SqliteStoreOptions {
  let dbFile: string | null = null;
  let sync: SqliteSync | undefined;
  let flushPeriod: number | undefined;
  let pageSize: number | undefined;
  for (const [rawKey, value] of pluginOpts) {
    const key = rawKey.toLowerCase();
    if (key === 'db_file') dbFile = value;
    else if (key === 'sync') {
      const name = value.toLowerCase();
      if (!(name in SYNC_LEVELS)) {
        throw new StoreError(`Sqlite persistence: Invalid plugin_opt_sync value '${value}'.`);
      }
      sync = name as SqliteSync;
    } else if (key === 'flush_period') {
      flushPeriod = atoi(value);
      if (flushPeriod < 0) {
        throw new StoreError(
          `Error: Invalid 'flush_period' value ${flushPeriod} in configuration.`,
        );
      }
    } else if (key === 'page_size') {
      pageSize = atoi(value);
      if (pageSize < 1) {
        throw new StoreError(`Error: Invalid 'page_size' value ${pageSize} in configuration.`);
      }
    }
  }
  return { dbFile, persistenceLocation, sync, flushPeriod, pageSize };
}

function atoi(text: string): number {
  const match = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  return match?.[1] === undefined ? 0 : Number.parseInt(match[1], 10);
}
