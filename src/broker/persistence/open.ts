/**
 * Which stores a configuration asks for:
 * - `persistence true`: mosquitto.db at `<persistence_location>/<persistence_file>`, as
 *   Mosquitto 2.0; with `persistence_durable_ack true` also a SQLite journal beside it
 *   (`<file>.journal`) that holds every acknowledged change until the next clean save;
 * - a `plugin`/`global_plugin` line naming mosquitto_persist_sqlite.so: the SQLite store
 *   with Mosquitto 2.1's schema.
 * SQLite (better-sqlite3, a native module) is loaded only when one of them needs it.
 */
import type { Clock } from '../../common/clock.ts';
import type { BrokerConfig } from '../config/types.ts';
import { MosquittoDbStore } from './mosquitto-db-store.ts';
import type { PersistenceLog } from './persistence.ts';
import { Persistence } from './persistence.ts';
import type { PersistenceStore } from './store.ts';

/** Mosquitto joins persistence_location and persistence_file with a '/'. */
export function mosquittoDbPath(config: BrokerConfig): string {
  const location = config.persistenceLocation;
  return location === null || location === ''
    ? config.persistenceFile
    : `${location}/${config.persistenceFile}`;
}

export async function openPersistence(
  config: BrokerConfig,
  clock: Clock,
  log: PersistenceLog,
): Promise<Persistence | null> {
  const sqlite = config.sqlitePersistence ?? null;
  const durableAck = config.persistenceDurableAck ?? false;
  if (!config.persistence && sqlite === null) return null;
  let snapshotStore: PersistenceStore | null = null;
  let eventStore: PersistenceStore | null = null;
  const logLine = (level: 'error' | 'warning' | 'info', line: string): void => {
    log[level](line);
  };
  if (sqlite !== null) {
    const { openSqliteStore } = await import('./sqlite/index.ts');
    eventStore = openSqliteStore(
      {
        dbFile: sqlite.dbFile,
        persistenceLocation: config.persistenceLocation,
        sync:
          durableAck && (sqlite.sync === 'off' || sqlite.sync === 'normal') ? 'full' : sqlite.sync,
        flushPeriod: sqlite.flushPeriod,
        pageSize: sqlite.pageSize,
      },
      logLine,
    );
  } else {
    const path = mosquittoDbPath(config);
    snapshotStore = new MosquittoDbStore(path);
    if (durableAck) {
      const { openSqliteStore } = await import('./sqlite/index.ts');
      eventStore = openSqliteStore(
        { dbFile: `${path}.journal`, sync: 'full', flushPeriod: 0, pageSize: 0 },
        logLine,
      );
    }
  }
  return new Persistence(
    snapshotStore,
    eventStore,
    {
      durableAck,
      autosaveInterval: config.autosaveInterval,
      autosaveOnChanges: config.autosaveOnChanges ?? false,
      flushPeriodMs: Math.max(sqlite?.flushPeriod ?? 5, 0) * 1000 || 1,
    },
    clock,
    log,
  );
}
