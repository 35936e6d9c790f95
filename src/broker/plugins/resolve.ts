/**
 * What a `plugin` line loads: one of Mosquitto's bundled plugins (built in, by file name),
 * or a JavaScript module whose default export (or `plugin` export) is a definePlugin()
 * definition. The configuration parser has already refused C plugins. Each built-in
 * plugin's code is imported only when a `plugin` line names it (dynamic security alone is
 * ~10 modules and node:crypto).
 */
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtinPluginOf, isJavaScriptPlugin } from '../config/builtin-plugins.ts';
import type { PluginConfig } from '../config/types.ts';
import type { PluginDefinition } from './api.ts';
import { PluginError } from './host.ts';

export async function resolvePlugin(config: PluginConfig): Promise<PluginDefinition | null> {
  switch (builtinPluginOf(config.path)) {
    case 'mosquitto_persist_sqlite.so':
      // The persistence layer's store, not an event plugin.
      return null;
    case 'mosquitto_password_file.so':
      return (await import('./builtin/password-file.ts')).passwordFilePlugin;
    case 'mosquitto_acl_file.so':
      return (await import('./builtin/acl-file.ts')).aclFilePlugin;
    case 'mosquitto_sparkplug_aware.so':
      return (await import('./builtin/sparkplug-aware.ts')).sparkplugAwarePlugin;
    case 'mosquitto_dynamic_security.so':
      return (await import('./builtin/dynamic-security.ts')).dynamicSecurityPlugin;
    case null:
      break;
  }
  if (!isJavaScriptPlugin(config.path)) {
    throw new PluginError(`Error: Unable to load plugin "${config.path}".`);
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolvePath(config.path)).href)) as Record<
      string,
      unknown
    >;
  } catch (error) {
    throw new PluginError(
      `Error: Unable to load plugin "${config.path}": ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const definition = module.default ?? module.plugin;
  if (!isDefinition(definition)) {
    throw new PluginError(
      `Error: Plugin "${config.path}" exports no plugin: export default definePlugin({ name, init }).`,
    );
  }
  return definition;
}

function isDefinition(value: unknown): value is PluginDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { name?: unknown }).name === 'string' &&
    typeof (value as { init?: unknown }).init === 'function'
  );
}
