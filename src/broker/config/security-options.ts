/**
 * The security rows of the option table (§1.5): per listener with
 * `per_listener_settings true`, else global; plugins and their options.
 */
import { OptionError } from './errors.ts';
import type { PluginDraft } from './draft.ts';
import type { OptionSpec } from './option-spec.ts';
import { bool, custom, readString, str } from './option-spec.ts';
import { pluginLineProblem } from './builtin-plugins.ts';
import { decodeBytes } from './values.ts';

export const SECURITY_OPTIONS: readonly OptionSpec[] = [
  bool({
    name: 'per_listener_settings',
    scope: 'global',
    summary: 'Make the security options per listener.',
    set: (draft, value) => {
      draft.perListenerSettings = value;
      if (draft.securityTouched && value) {
        throw new OptionError(
          'Error: per_listener_settings must be set before any other security settings.',
        );
      }
    },
  }),
  bool({
    name: 'allow_anonymous',
    scope: 'security',
    summary: 'Allow clients without a username (default: false, true in local-only mode).',
    set: (s, v) => {
      s.allowAnonymous = v;
    },
  }),
  bool({
    name: 'allow_zero_length_clientid',
    scope: 'security',
    summary: 'Accept an empty client id and assign one.',
    set: (s, v) => {
      s.allowZeroLengthClientid = v;
    },
  }),
  str({
    name: 'auto_id_prefix',
    scope: 'security',
    summary: 'Prefix of generated client ids (default auto-).',
    get: (s) => s.autoIdPrefix,
    set: (s, v) => {
      s.autoIdPrefix = v;
    },
  }),
  str({
    name: 'password_file',
    scope: 'security',
    summary: 'Username/password file (mosquitto_passwd format).',
    get: (s) => s.passwordFile,
    set: (s, v) => {
      s.passwordFile = v;
    },
  }),
  str({
    name: 'acl_file',
    scope: 'security',
    summary: 'Topic access control file.',
    get: (s) => s.aclFile,
    set: (s, v) => {
      s.aclFile = v;
    },
  }),
  str({
    name: 'psk_file',
    scope: 'security',
    summary: 'TLS-PSK identities and keys.',
    get: (s) => s.pskFile,
    set: (s, v) => {
      s.pskFile = v;
    },
  }),
  bool({
    name: 'check_retain_source',
    // A global value, but Mosquitto counts it as a security option for the
    // per_listener_settings placement rule.
    scope: 'security',
    summary: 'Re-check the publisher of a retained message before delivering it.',
    set: (_s, v, ctx) => {
      ctx.draft.checkRetainSource = v;
    },
  }),
  custom({
    name: 'plugin',
    aliases: ['auth_plugin'],
    scope: 'security',
    reloadable: false,
    summary: 'Load a plugin (its plugin_opt_* lines follow).',
    run: (s, ctx) => {
      const plugin: PluginDraft = { path: null, options: [], denySpecialChars: true };
      s.plugins.push(plugin);
      ctx.file.plugin = plugin;
      plugin.path = readString(ctx, 'auth_plugin', null);
      const problem = pluginLineProblem(plugin.path);
      if (problem !== null) throw new OptionError(problem);
    },
  }),
  custom(
    {
      name: 'plugin_opt_',
      aliases: ['auth_opt_'],
      prefix: true,
      scope: 'plugin',
      summary: 'plugin_opt_<key> <value>: an option for the most recent plugin.',
      run: (plugin, ctx) => {
        const prefixLength = ctx.token.startsWith('auth_opt_') ? 9 : 11;
        // Mosquitto's length check counts as if the value were part of the token, so
        // keys shorter than three characters are refused.
        if (ctx.token.length < prefixLength + 3) {
          throw new OptionError('Error: Invalid auth_opt_ config option.');
        }
        const key = decodeBytes(ctx.token.slice(prefixLength));
        const value = ctx.cursor.restAfterBlanks();
        if (value === '') throw new OptionError(`Error: Empty ${key} value in configuration.`);
        plugin.options.push([key, decodeBytes(value)]);
      },
    },
    {
      missingPlugin: 'Error: An auth_opt_ option exists in the config file without an auth_plugin.',
    },
  ),
  bool(
    {
      name: 'auth_plugin_deny_special_chars',
      scope: 'plugin',
      implemented: false,
      summary: 'Legacy plugins: deny ACL checks for ids containing + or #.',
      set: (plugin, v) => {
        plugin.denySpecialChars = v;
      },
    },
    {
      missingPlugin:
        'Error: An auth_plugin_deny_special_chars option exists in the config file without an auth_plugin.',
    },
  ),
];
