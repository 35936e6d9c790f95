/**
 * What a `plugin` / `global_plugin` line names: one of Mosquitto's bundled plugins, built in
 * here and selected by its file name in any directory (the file need not exist), a
 * JavaScript plugin (`.js`, `.mjs`, `.cjs`), or a C plugin, which Node cannot load.
 */

/** Mosquitto's bundled plugins we implement, by file name. */
export const BUILTIN_PLUGIN_FILES = [
  'mosquitto_dynamic_security.so',
  'mosquitto_password_file.so',
  'mosquitto_acl_file.so',
  'mosquitto_persist_sqlite.so',
  'mosquitto_sparkplug_aware.so',
] as const;
export type BuiltinPluginFile = (typeof BUILTIN_PLUGIN_FILES)[number];

function fileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The bundled plugin a path names, or null. */
export function builtinPluginOf(path: string | null): BuiltinPluginFile | null {
  if (path === null) return null;
  const name = fileName(path);
  return (BUILTIN_PLUGIN_FILES as readonly string[]).includes(name)
    ? (name as BuiltinPluginFile)
    : null;
}

/** Mosquitto 2.1's SQLite persistence plugin. */
export function isPersistSqlitePlugin(path: string | null): boolean {
  return builtinPluginOf(path) === 'mosquitto_persist_sqlite.so';
}

/** A plugin written in JavaScript, loaded with import(). */
export function isJavaScriptPlugin(path: string | null): boolean {
  return path !== null && /\.(?:mjs|cjs|js)$/.test(path);
}

/**
 * Why a plugin line cannot be used, or null: anything that is neither built in nor
 * JavaScript is a C plugin (Mosquitto's `.so`), which Node cannot load.
 */
export function pluginLineProblem(path: string | null): string | null {
  if (path === null || builtinPluginOf(path) !== null || isJavaScriptPlugin(path)) return null;
  return (
    `Error: Unable to load plugin "${path}": mosquitto-ts cannot load C plugins. ` +
    'Write it in JavaScript instead (plugin /path/to/plugin.mjs exporting definePlugin(), see the README), ' +
    `or use one of the built-in plugins: ${BUILTIN_PLUGIN_FILES.join(', ')}.`
  );
}
