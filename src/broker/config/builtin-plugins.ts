/**
 * Mosquitto's bundled plugins that are built in here, selected by the file name of a
 * `plugin` / `global_plugin` line in any directory (the file need not exist).
 */

/** Mosquitto 2.1's SQLite persistence plugin. */
const PERSIST_SQLITE = /(^|\/)mosquitto_persist_sqlite\.so$/;

export function isPersistSqlitePlugin(path: string | null): boolean {
  return path !== null && PERSIST_SQLITE.test(path);
}

/** Whether a plugin line selects something built in (else it is not loaded yet). */
export function isBuiltInPlugin(path: string | null): boolean {
  return isPersistSqlitePlugin(path);
}
