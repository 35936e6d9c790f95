/**
 * Mosquitto's dynamic security plugin (`plugin .../mosquitto_dynamic_security.so` with
 * `plugin_opt_config_file <json>`, and 2.1's `plugin_opt_password_init_file`), on the
 * plugin API: users, groups and roles from its JSON file decide authentication and every
 * ACL check, and `$CONTROL/dynamic-security/v1` manages them at run time (what
 * mosquitto_ctrl sends). The logic is in ../dynamic-security/.
 */
import type { PluginDefinition } from '../api.ts';
import { definePlugin } from '../api.ts';
import { DynamicSecurity } from '../dynamic-security/index.ts';

export const dynamicSecurityPlugin: PluginDefinition = definePlugin({
  name: 'dynamic-security',
  init(context) {
    const configFile = context.options.get('config_file');
    if (configFile === undefined) {
      throw new Error('Dynamic security plugin has no plugin_opt_config_file defined.');
    }
    const dynsec = DynamicSecurity.open(
      { configFile, passwordInitFile: context.options.get('password_init_file') ?? null },
      context.log,
    );
    return {
      basicAuth: ({ client, username, password }) =>
        dynsec.authenticate(client.clientId, username, password),
      aclCheck: ({ client, access, topic }) =>
        dynsec.aclCheck(client.clientId, client.username, access, topic),
      control: {
        'dynamic-security/v1': (event) => {
          const { response, kick } = dynsec.handleControl(
            event.client.clientId,
            event.client.username,
            event.payload,
          );
          event.respond(response);
          // A command may have changed who may do what: cached ACL answers go.
          context.aclChanged();
          for (const who of kick) {
            // `{}` names every client without a username (the anonymous group changed).
            context.kick(
              who.username === undefined && who.clientId === undefined ? { anonymous: true } : who,
            );
          }
        },
      },
      reload: () => {
        dynsec.reload();
      },
    };
  },
});
