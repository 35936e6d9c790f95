/**
 * Every mosquitto.conf option of Mosquitto 2.0.22 (plus 2.1's bridge options and
 * `global_plugin`), one row each: name and aliases, scope,
 * value type, validator with Mosquitto's exact error text, and where the value goes. The
 * table is OPTION_SPECS below: the general, persistence, logging and limit rows live
 * here, the listener/TLS, security and bridge rows in their own files. The parser
 * (parse.ts) only tokenises lines and looks rows up here; nothing else knows an option's
 * name. Rows marked `implemented: false` are parsed, validated and stored, and the parser
 * warns at start-up that mosquitto-ts does not act on them yet.
 */
import { OptionError } from './errors.ts';
import type { LogType } from './types.ts';
import { ALL_LOG_TYPES } from './types.ts';
import type { OptionSpec } from './option-spec.ts';
import { bool, custom, int, readString, str, strictInt } from './option-spec.ts';
import { BRIDGE_21_OPTIONS, BRIDGE_OPTIONS } from './bridge-options.ts';
import { pluginLineProblem } from './builtin-plugins.ts';
import { LISTENER_OPTIONS, TLS_OPTIONS } from './listener-options.ts';
import { SECURITY_OPTIONS } from './security-options.ts';
import { atoi, atol, decodeBytes } from './values.ts';

const uint16 = 65535;
/** MQTT_MAX_PAYLOAD */
const MAX_PAYLOAD = 268435455;

/** Units of persistent_client_expiration (m is 30 days, y 365). */
const EXPIRATION_UNITS: ReadonlyMap<string, number> = new Map([
  ['h', 3600],
  ['d', 86400],
  ['w', 86400 * 7],
  ['m', 86400 * 30],
  ['y', 86400 * 365],
]);

/** The words of `log_type`; `all` and `none` are handled apart. */
const LOG_TYPE_WORDS: ReadonlyMap<string, LogType> = new Map<string, LogType>([
  ['information', 'information'],
  ['notice', 'notice'],
  ['warning', 'warning'],
  ['error', 'error'],
  ['debug', 'debug'],
  ['subscribe', 'subscribe'],
  ['unsubscribe', 'unsubscribe'],
  ['internal', 'internal'],
  ['websockets', 'websockets'],
]);

const LOG_DEST_FLAGS = ['stdout', 'stderr', 'syslog', 'topic', 'dlt'] as const;

const LOG_OPTIONS: readonly OptionSpec[] = [
  custom({
    name: 'log_dest',
    scope: 'global',
    kind: 'token',
    summary: 'stdout, stderr, syslog, topic, file <path>, dlt or none; cumulative.',
    run: (draft, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) throw new OptionError('Error: Empty log_dest value in configuration.');
      const dest = (draft.logDest ??= {
        stdout: false,
        stderr: false,
        file: false,
        syslog: false,
        topic: false,
        dlt: false,
      });
      if (token === 'none') {
        for (const key of Object.keys(dest) as (keyof typeof dest)[]) dest[key] = false;
      } else if (token === 'file') {
        if (draft.logFile !== null) {
          throw new OptionError('Error: Duplicate "log_dest file" value.');
        }
        const path = ctx.cursor.restAfterBlanks();
        if (path === '') {
          throw new OptionError('Error: Empty "log_dest file" value in configuration.');
        }
        draft.logFile = decodeBytes(path);
        dest.file = true;
      } else {
        const flag = LOG_DEST_FLAGS.find((name) => name === token);
        if (flag === undefined) {
          throw new OptionError(`Error: Invalid log_dest value (${decodeBytes(token)}).`);
        }
        dest[flag] = true;
        if (flag === 'dlt') ctx.noteUnimplemented('log_dest dlt');
      }
    },
  }),
  custom({
    name: 'log_dest_json',
    scope: 'global',
    kind: 'token',
    summary: 'Ours: also log JSON lines to stdout, stderr or file <path>; cumulative; none clears.',
    run: (draft, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) {
        throw new OptionError('Error: Empty log_dest_json value in configuration.');
      }
      if (token === 'none') {
        draft.logDestJson = [];
      } else if (token === 'stdout' || token === 'stderr') {
        draft.logDestJson.push({ kind: token });
      } else if (token === 'file') {
        const path = ctx.cursor.restAfterBlanks();
        if (path === '') {
          throw new OptionError('Error: Empty "log_dest_json file" value in configuration.');
        }
        draft.logDestJson.push({ kind: 'file', path: decodeBytes(path) });
      } else {
        throw new OptionError(`Error: Invalid log_dest_json value (${decodeBytes(token)}).`);
      }
    },
  }),
  custom({
    name: 'dashboard_users',
    scope: 'global',
    kind: 'token',
    summary: 'Ours: users who may log in to the web dashboard of http_api listeners; cumulative.',
    run: (draft, ctx) => {
      const users: string[] = [];
      for (let token = ctx.cursor.nextToken(); token !== null; token = ctx.cursor.nextToken()) {
        users.push(decodeBytes(token));
      }
      if (users.length === 0) {
        throw new OptionError('Error: Empty dashboard_users value in configuration.');
      }
      draft.dashboardUsers = [...(draft.dashboardUsers ?? []), ...users];
    },
  }),
  custom({
    name: 'log_type',
    scope: 'global',
    kind: 'token',
    summary: 'Message types to log; cumulative; all and none reset.',
    run: (draft, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) {
        ctx.log('error', 'Error: Empty log_type value in configuration.');
        return;
      }
      const types = (draft.logTypes ??= new Set());
      if (token === 'none') {
        types.clear();
      } else if (token === 'all') {
        for (const type of ALL_LOG_TYPES) types.add(type);
      } else {
        const type = LOG_TYPE_WORDS.get(token);
        if (type === undefined) {
          throw new OptionError(`Error: Invalid log_type value (${decodeBytes(token)}).`);
        }
        types.add(type);
      }
    },
  }),
  int({
    name: 'log_facility',
    scope: 'global',
    implemented: false,
    summary: 'Syslog facility LOCAL0-7.',
    check: (v) => (v < 0 || v > 7 ? `Error: Invalid log_facility value (${v}).` : undefined),
    set: (d, v) => {
      d.logFacility = v;
    },
  }),
  bool({
    name: 'log_timestamp',
    scope: 'global',
    summary: 'Prefix log lines with a timestamp.',
    set: (d, v) => {
      d.logTimestamp = v;
    },
  }),
  str({
    name: 'log_timestamp_format',
    scope: 'global',
    summary: 'strftime() format of the timestamp (default: Unix seconds).',
    get: (d) => d.logTimestampFormat,
    set: (d, v) => {
      d.logTimestampFormat = v;
    },
  }),
  bool({
    name: 'connection_messages',
    scope: 'global',
    summary: 'Log client connections and disconnections.',
    set: (d, v) => {
      d.connectionMessages = v;
    },
  }),
];

const PERSISTENCE_OPTIONS: readonly OptionSpec[] = [
  bool({
    name: 'persistence',
    aliases: ['retained_persistence'],
    scope: 'global',
    summary: 'Save sessions and retained messages to disk.',
    set: (d, v) => {
      d.persistence = v;
    },
  }),
  str({
    name: 'persistence_file',
    scope: 'global',
    summary: 'File name of the database (default mosquitto.db).',
    get: (d) => d.persistenceFile,
    set: (d, v) => {
      d.persistenceFile = v;
    },
  }),
  str({
    name: 'persistence_location',
    scope: 'global',
    summary: 'Directory of the database.',
    get: (d) => d.persistenceLocation,
    set: (d, v) => {
      d.persistenceLocation = v;
    },
  }),
  int({
    name: 'autosave_interval',
    scope: 'global',
    summary: 'Seconds between saves (0: only at exit).',
    set: (d, v) => {
      d.autosaveInterval = Math.max(v, 0);
    },
  }),
  bool({
    name: 'persistence_durable_ack',
    scope: 'global',
    summary: 'Ours: acknowledge QoS 1/2 messages only once they are on disk.',
    set: (d, v) => {
      d.persistenceDurableAck = v;
    },
  }),
  custom({
    name: 'global_plugin',
    scope: 'global',
    reloadable: false,
    summary: 'Load a plugin for every listener (Mosquitto 2.1; plugin_opt_* lines follow).',
    run: (d, ctx) => {
      const plugin = {
        path: readString(ctx, 'global_plugin', null),
        options: [],
        denySpecialChars: true,
      };
      const problem = pluginLineProblem(plugin.path);
      if (problem !== null) throw new OptionError(problem);
      d.globalPlugins.push(plugin);
      ctx.file.plugin = plugin;
    },
  }),
  bool({
    name: 'autosave_on_changes',
    scope: 'global',
    summary: 'Count autosave_interval in changes instead of seconds.',
    set: (d, v) => {
      d.autosaveOnChanges = v;
    },
  }),
  custom({
    name: 'persistent_client_expiration',
    scope: 'global',
    kind: 'token',
    summary: '<n><h|d|w|m|y>: expire disconnected durable sessions.',
    run: (d, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) {
        ctx.log('error', 'Error: Empty persistent_client_expiration value in configuration.');
        return;
      }
      const invalid = 'Error: Invalid persistent_client_expiration duration in configuration.';
      const unit = EXPIRATION_UNITS.get(token.slice(-1));
      if (unit === undefined) throw new OptionError(invalid);
      const seconds = atoi(token.slice(0, -1)) * unit;
      if (seconds <= 0) throw new OptionError(invalid);
      d.persistentClientExpiration = seconds;
    },
  }),
  bool({
    name: 'queue_qos0_messages',
    scope: 'global',
    summary: 'Queue QoS 0 messages for offline durable clients.',
    set: (d, v) => {
      d.queueQos0Messages = v;
    },
  }),
];

const LIMIT_OPTIONS: readonly OptionSpec[] = [
  int({
    name: 'max_inflight_messages',
    scope: 'global',
    summary: 'Outgoing QoS 1/2 messages in flight per client (0: unlimited).',
    check: (v) => (v > uint16 ? 'Error: max_inflight_messages must be <= 65535.' : undefined),
    set: (d, v) => {
      d.maxInflightMessages = v < 0 || v === uint16 ? 0 : v;
    },
  }),
  int({
    name: 'max_inflight_bytes',
    scope: 'global',
    summary: 'Bytes of QoS 1/2 messages in flight per client (0: unlimited).',
    set: (d, v) => {
      d.maxInflightBytes = Math.max(v, 0);
    },
  }),
  int({
    name: 'max_queued_messages',
    scope: 'global',
    summary: 'Queued messages per client (0: unlimited).',
    set: (d, v) => {
      d.maxQueuedMessages = Math.max(v, 0);
    },
  }),
  int({
    name: 'max_queued_bytes',
    scope: 'global',
    summary: 'Bytes of queued messages per client (0: unlimited).',
    set: (d, v) => {
      d.maxQueuedBytes = Math.max(v, 0);
    },
  }),
  int({
    name: 'message_size_limit',
    scope: 'global',
    summary: 'Largest PUBLISH payload accepted (0: no limit).',
    before: (_d, ctx) => {
      ctx.log(
        'notice',
        'Note: It is recommended to replace `message_size_limit` with `max_packet_size`.',
      );
    },
    // Read into an unsigned int: -1 becomes 4294967295.
    check: (v) =>
      v >>> 0 > MAX_PAYLOAD ? `Error: Invalid message_size_limit value (${v >>> 0}).` : undefined,
    set: (d, v) => {
      d.messageSizeLimit = v >>> 0;
    },
  }),
  int({
    name: 'max_packet_size',
    scope: 'global',
    summary: 'Largest incoming packet (at least 20).',
    check: (v) => (v < 20 ? `Error: Invalid max_packet_size value (${v}).` : undefined),
    set: (d, v) => {
      d.maxPacketSize = v;
    },
  }),
  int({
    name: 'max_keepalive',
    scope: 'global',
    summary: 'Highest keepalive a client may ask for (0: not enforced).',
    check: (v) => (v < 0 || v > uint16 ? `Error: Invalid max_keepalive value (${v}).` : undefined),
    set: (d, v) => {
      d.maxKeepalive = v;
    },
  }),
  custom({
    name: 'memory_limit',
    scope: 'global',
    kind: 'token',
    implemented: false,
    summary: 'Heap limit in bytes (0: none).',
    run: (d, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) {
        throw new OptionError('Error: Empty memory_limit value in configuration.');
      }
      const value = atol(token);
      if (value < 0) throw new OptionError(`Error: Invalid memory_limit value (${value}).`);
      d.memoryLimit = value;
    },
  }),
];

/**
 * Ours: the failed-login limiter (security/auth-failure-limiter.ts). Read strictly (a
 * value that is not a number is an error, not 0), as these are new options.
 */
const AUTH_FAILURE_OPTIONS: readonly OptionSpec[] = [
  strictInt({
    name: 'max_auth_failures',
    scope: 'global',
    summary: 'Ours: refused logins from one address that block it (0: no limit).',
    check: (v) => (v < 0 ? `Error: Invalid max_auth_failures value (${v}).` : undefined),
    set: (d, v) => {
      d.maxAuthFailures = v;
    },
  }),
  strictInt({
    name: 'auth_failure_window',
    scope: 'global',
    summary: 'Ours: seconds over which max_auth_failures counts (default 60).',
    check: (v) =>
      v < 1 || v > MAX_LIMITER_SECONDS
        ? `Error: Invalid auth_failure_window value (${v}).`
        : undefined,
    set: (d, v) => {
      d.authFailureWindow = v;
    },
  }),
  strictInt({
    name: 'auth_block_period',
    scope: 'global',
    summary: 'Ours: seconds an address is refused after max_auth_failures (default 60).',
    check: (v) =>
      v < 1 || v > MAX_LIMITER_SECONDS
        ? `Error: Invalid auth_block_period value (${v}).`
        : undefined,
    set: (d, v) => {
      d.authBlockPeriod = v;
    },
  }),
];

/** One week: the longest auth_failure_window and auth_block_period. */
const MAX_LIMITER_SECONDS = 7 * 86400;

const GENERAL_OPTIONS: readonly OptionSpec[] = [
  custom({
    name: 'include_dir',
    scope: 'global',
    summary: 'Also read every *.conf file of this directory (main file only).',
    run: (_d, ctx) => {
      if (ctx.level !== 0) return;
      const dir = ctx.cursor.rest();
      if (dir === null) throw new OptionError('Error: Empty include_dir value in configuration.');
      ctx.includeDir(dir);
    },
  }),
  int({
    name: 'sys_interval',
    scope: 'global',
    summary: 'Seconds between $SYS updates (0: no $SYS).',
    check: (v) => (v < 0 || v > uint16 ? `Error: Invalid sys_interval value (${v}).` : undefined),
    set: (d, v) => {
      d.sysInterval = v;
    },
  }),
  bool({
    name: 'set_tcp_nodelay',
    scope: 'global',
    summary: 'Disable Nagle on client sockets.',
    set: (d, v) => {
      d.setTcpNodelay = v;
    },
  }),
  bool({
    name: 'upgrade_outgoing_qos',
    scope: 'global',
    summary: 'Deliver at the subscription QoS (non-standard).',
    set: (d, v) => {
      d.upgradeOutgoingQos = v;
    },
  }),
  bool({
    name: 'retain_available',
    scope: 'global',
    summary: 'Accept retained messages.',
    set: (d, v) => {
      d.retainAvailable = v;
    },
  }),
  int({
    name: 'retain_expiry_interval',
    scope: 'global',
    implemented: false,
    summary: 'Minutes between sweeps of expired retained messages.',
    set: (d, v) => {
      d.retainExpiryInterval = v * 60;
    },
  }),
  custom({
    name: 'retry_interval',
    scope: 'global',
    summary: 'Removed in 2.0: accepted with a warning.',
    run: (_d, ctx) => {
      ctx.log('warning', 'Warning: The retry_interval option is no longer available.');
    },
  }),
  bool({
    name: 'allow_duplicate_messages',
    scope: 'global',
    implemented: false,
    summary: 'Deprecated: one copy per matching subscription for v3 clients.',
    before: (_d, ctx) => {
      ctx.log(
        'notice',
        "The 'allow_duplicate_messages' option is now deprecated and will be removed in a future version. The behaviour will default to true.",
      );
    },
    set: (d, v) => {
      d.allowDuplicateMessages = v;
    },
  }),
  str({
    name: 'clientid_prefixes',
    scope: 'global',
    implemented: false,
    summary: 'Deprecated: only allow client ids with this prefix.',
    before: (_d, ctx) => {
      ctx.log(
        'notice',
        "The 'clientid_prefixes' option is now deprecated and will be removed in a future version.",
      );
    },
    get: (d) => d.clientidPrefixes,
    set: (d, v) => {
      d.clientidPrefixes = v;
    },
  }),
  str({
    name: 'user',
    scope: 'global',
    reloadable: false,
    implemented: false,
    summary: 'User to switch to when started as root (default mosquitto).',
    set: (d, v) => {
      d.user = v;
    },
  }),
  str({
    name: 'pid_file',
    scope: 'global',
    reloadable: false,
    implemented: false,
    summary: 'Write the process id to this file.',
    get: (d) => d.pidFile,
    set: (d, v) => {
      d.pidFile = v;
    },
  }),
  int({
    name: 'websockets_log_level',
    scope: 'global',
    implemented: false,
    summary: 'libwebsockets log level bitmask.',
    set: (d, v) => {
      d.websocketsLogLevel = v;
    },
  }),
  int({
    name: 'websockets_headers_size',
    scope: 'global',
    summary: 'Websockets HTTP header buffer size.',
    check: (v) =>
      v < 0 || v > uint16
        ? 'Error: Websockets headers size must be between 0 and 65535 inclusive.'
        : undefined,
    set: (d, v) => {
      d.websocketsHeadersSize = v;
    },
  }),
];

/** The whole table, in the order of the mosquitto.conf man page's sections. */
export const OPTION_SPECS: readonly OptionSpec[] = [
  ...GENERAL_OPTIONS,
  ...LISTENER_OPTIONS,
  ...TLS_OPTIONS,
  ...SECURITY_OPTIONS,
  ...PERSISTENCE_OPTIONS,
  ...LOG_OPTIONS,
  ...LIMIT_OPTIONS,
  ...AUTH_FAILURE_OPTIONS,
  ...BRIDGE_OPTIONS,
  ...BRIDGE_21_OPTIONS,
];

const byName = new Map<string, OptionSpec>();
const byPrefix: OptionSpec[] = [];
for (const row of OPTION_SPECS) {
  for (const name of [row.name, ...row.aliases]) {
    if (byName.has(name)) throw new Error(`option table: ${name} appears twice`);
    byName.set(name, row);
  }
  if (row.prefix) byPrefix.push(row);
}

/** The row for an option name as written in a file (exact names first, then prefixes). */
export function findOption(name: string): OptionSpec | undefined {
  const exact = byName.get(name);
  if (exact !== undefined) return exact;
  return byPrefix.find((row) => [row.name, ...row.aliases].some((p) => name.startsWith(p)));
}

/** Options mosquitto-ts accepts but does not act on yet (for the README). */
export function unimplementedOptionNames(): string[] {
  return OPTION_SPECS.filter((row) => !row.implemented).map((row) =>
    row.prefix ? `${row.name}*` : row.name,
  );
}
