/**
 * Mosquitto 2.1's password-file plugin (`plugin .../mosquitto_password_file.so` with
 * `plugin_opt_password_file <path>`), built on the plugin API: the same file format and
 * checks as the `password_file` option. A username it does not know, or a client without
 * one, is left to the next plugin (defer), as 2.1's plugin does.
 */
import { decoyHashFor, verifyPassword } from '../../../common/password.ts';
import type { PasswordTable } from '../../security/password-file.ts';
import { firstPasswordHash, loadPasswordFile } from '../../security/password-file.ts';
import type { BrokerLog } from '../../broker-log.ts';
import type { PluginDefinition, PluginLog, PluginResult } from '../api.ts';
import { definePlugin } from '../api.ts';

function load(path: string, log: PluginLog): PasswordTable {
  const table = loadPasswordFile(path, asBrokerLog(log));
  if (table === null) throw new Error(`Unable to open password file "${path}".`);
  return table;
}

export function asBrokerLog(log: PluginLog): BrokerLog {
  return {
    error: (text) => {
      log.error(text);
    },
    warning: (text) => {
      log.warning(text);
    },
    notice: (text) => {
      log.notice(text);
    },
    info: (text) => {
      log.info(text);
    },
    debug: () => undefined,
    subscribe: () => undefined,
    unsubscribe: () => undefined,
    enabled: () => true,
  };
}

export const passwordFilePlugin: PluginDefinition = definePlugin({
  name: 'password-file',
  init(context) {
    const path = context.options.get('password_file');
    if (path === undefined) throw new Error('plugin_opt_password_file is missing.');
    let table = load(path, context.log);
    return {
      basicAuth({ username, password }) {
        if (username === null) return 'defer';
        const stored = table.get(username);
        if (stored === undefined) {
          // As long as a wrong password takes: timing must not tell which users exist.
          if (password === null) return 'defer';
          const current = table;
          const decoy = verifyPassword(
            password,
            decoyHashFor(current, () => firstPasswordHash(current)),
          );
          return typeof decoy === 'boolean' ? 'defer' : decoy.then(() => 'defer' as const);
        }
        if (password === null) return 'deny';
        const verdict = verifyPassword(password, stored);
        const decide = (ok: boolean): PluginResult => (ok ? 'allow' : 'deny');
        return typeof verdict === 'boolean' ? decide(verdict) : verdict.then(decide);
      },
      reload(options) {
        const next = options.get('password_file') ?? path;
        try {
          table = load(next, context.log);
        } catch (error) {
          context.log.error(`${(error as Error).message} Keeping the previous one.`);
        }
      },
    };
  },
});
