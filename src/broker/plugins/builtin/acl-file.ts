/**
 * Mosquitto 2.1's acl-file plugin (`plugin .../mosquitto_acl_file.so` with
 * `plugin_opt_acl_file <path>`), built on the plugin API: the same file and rules as the
 * `acl_file` option. Reads and writes are decided; subscribe and unsubscribe are allowed
 * (the read check happens on delivery, as Mosquitto's file check does).
 */
import type { AclRules, ClientAcl } from '../../security/acl-file.ts';
import { AclAccess, loadAclFile } from '../../security/acl-file.ts';
import type { PluginDefinition, PluginLog } from '../api.ts';
import { definePlugin } from '../api.ts';
import { asBrokerLog } from './password-file.ts';

const CACHE_LIMIT = 4096;

function load(path: string, log: PluginLog): AclRules {
  const rules = loadAclFile(path, asBrokerLog(log));
  if (typeof rules === 'string') throw new Error(`Unable to open acl file "${path}".`);
  return rules;
}

export const aclFilePlugin: PluginDefinition = definePlugin({
  name: 'acl-file',
  init(context) {
    const path = context.options.get('acl_file');
    if (path === undefined) throw new Error('plugin_opt_acl_file is missing.');
    const brokerLog = asBrokerLog(context.log);
    let rules = load(path, context.log);
    /** Resolved rules per identity (client id and username), dropped on reload. */
    let cache = new Map<string, ClientAcl>();
    const aclFor = (clientId: string, username: string | null): ClientAcl => {
      const key = `${clientId}\u0000${username ?? '\u0000'}`;
      let acl = cache.get(key);
      if (acl === undefined) {
        if (cache.size >= CACHE_LIMIT) cache = new Map();
        acl = rules.forClient(clientId, username);
        cache.set(key, acl);
      }
      return acl;
    };
    return {
      aclCheck({ client, access, topic }) {
        if (access === 'subscribe' || access === 'unsubscribe') return 'allow';
        const wanted = access === 'publish-client-send' ? AclAccess.Write : AclAccess.Read;
        return aclFor(client.clientId, client.username).allows(topic, wanted, brokerLog)
          ? 'allow'
          : 'deny';
      },
      reload(options) {
        try {
          rules = load(options.get('acl_file') ?? path, context.log);
          cache = new Map();
        } catch (error) {
          context.log.error(`${(error as Error).message} Keeping the previous one.`);
        }
      },
    };
  },
});
