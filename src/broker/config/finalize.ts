/**
 * The rules Mosquitto applies once the whole configuration has been read (end of
 * `config__read`, `config__parse_args`, `config__check`, `listeners__start`): anonymous
 * access defaults, the legacy default listener, bridge checks, log settings, local-only
 * mode with the `-p` ports. Produces the immutable BrokerConfig.
 */
import { hostname as osHostname } from 'node:os';
import type { ConfigError } from './errors.ts';
import type {
  BridgeDraft,
  ConfigDraft,
  ListenerDraft,
  PluginDraft,
  SecurityDraft,
} from './draft.ts';
import { newListenerDraft } from './draft.ts';
import { isPersistSqlitePlugin } from './builtin-plugins.ts';
import type {
  BridgeConfig,
  BrokerConfig,
  ListenerConfig,
  ListenerTlsConfig,
  LogConfig,
  LogDestination,
  SecurityConfig,
  SqlitePersistenceConfig,
  PluginConfig,
} from './types.ts';
import { ALL_LOG_TYPES, DEFAULT_LOG_TYPES } from './types.ts';

export interface FinalizeOptions {
  readonly cliPorts: readonly number[];
  readonly verbose: boolean;
  readonly hostname: string | undefined;
  readonly unimplemented: readonly string[];
  /** Makes the ConfigError for a check that fails after reading (no "Error found at"). */
  readonly fail: (text: string) => ConfigError;
}

export function finalizeConfig(draft: ConfigDraft, options: FinalizeOptions): BrokerConfig {
  checkBridges(draft, options);
  const defaultListener = needsDefaultListener(draft) ? draft.defaultListener : null;
  const drafts = defaultListener === null ? draft.listeners : [...draft.listeners, defaultListener];
  const bridges = draft.bridges.map((b) => finishBridge(b, options.hostname ?? osHostname()));
  checkUniqueLocalClientids(bridges, options);
  checkTls(drafts, options);

  // Unset allow_anonymous: false once a listener is configured, true in local-only mode.
  const anonymousDefault = draft.localOnly;
  const globalSecurity = finishSecurity(draft.security, anonymousDefault, null);
  const securityOf = (listener: ListenerDraft, isDefault: boolean): SecurityConfig =>
    draft.perListenerSettings
      ? // Mosquitto does not copy auto_id_prefix to the default listener, which then gets
        // "auto-". (It also leaves that listener's unset allow_anonymous as -1, which lets
        // anonymous clients in; we do not copy that: see DEVIATIONS.md.)
        finishSecurity(listener.security, anonymousDefault, isDefault ? 'auto-' : null)
      : globalSecurity;

  const listeners = draft.localOnly
    ? localOnlyListeners(draft, options.cliPorts, globalSecurity)
    : drafts.map((l) => finishListener(l, securityOf(l, l === defaultListener)));

  return {
    listeners,
    localOnly: draft.localOnly,
    perListenerSettings: draft.perListenerSettings,
    security: globalSecurity,
    maxInflightMessages: draft.maxInflightMessages,
    maxInflightBytes: draft.maxInflightBytes,
    maxQueuedMessages: draft.maxQueuedMessages,
    maxQueuedBytes: draft.maxQueuedBytes,
    queueQos0Messages: draft.queueQos0Messages,
    messageSizeLimit: draft.messageSizeLimit,
    maxPacketSize: draft.maxPacketSize,
    maxKeepalive: draft.maxKeepalive,
    upgradeOutgoingQos: draft.upgradeOutgoingQos,
    retainAvailable: draft.retainAvailable,
    checkRetainSource: draft.checkRetainSource,
    persistentClientExpiration: draft.persistentClientExpiration,
    sysInterval: draft.sysInterval,
    setTcpNodelay: draft.setTcpNodelay,
    persistence: draft.persistence,
    persistenceLocation: draft.persistenceLocation,
    persistenceFile: draft.persistenceFile ?? 'mosquitto.db',
    autosaveInterval: draft.autosaveInterval,
    persistenceDurableAck: draft.persistenceDurableAck,
    authFailureLimit: {
      maxFailures: draft.maxAuthFailures,
      windowSeconds: draft.authFailureWindow,
      blockSeconds: draft.authBlockPeriod,
    },
    sqlitePersistence: sqlitePersistence(draft, options),
    globalPlugins: draft.globalPlugins.map(finishPlugin),
    log: finishLog(draft, options.verbose),
    dashboardUsers: draft.dashboardUsers,
    user: draft.user ?? 'mosquitto',
    pidFile: draft.pidFile,
    allowDuplicateMessages: draft.allowDuplicateMessages,
    autosaveOnChanges: draft.autosaveOnChanges,
    clientidPrefixes: draft.clientidPrefixes,
    memoryLimit: draft.memoryLimit,
    retainExpiryInterval: draft.retainExpiryInterval,
    websocketsLogLevel: draft.websocketsLogLevel,
    websocketsHeadersSize: draft.websocketsHeadersSize,
    bridges,
    unimplementedOptions: options.unimplemented,
  };
}

/**
 * A `plugin` or `global_plugin` line naming Mosquitto 2.1's persist-sqlite plugin selects
 * our SQLite store with its options; as in 2.1.2, not together with `persistence true`.
 */
function sqlitePersistence(
  draft: ConfigDraft,
  options: FinalizeOptions,
): SqlitePersistenceConfig | null {
  const plugins = [
    ...draft.globalPlugins,
    ...draft.security.plugins,
    ...draft.listeners.flatMap((l) => l.security.plugins),
    ...draft.defaultListener.security.plugins,
  ];
  const plugin = plugins.find((p) => isPersistSqlitePlugin(p.path));
  if (plugin === undefined) return null;
  if (draft.persistence) {
    throw options.fail('Error: `persistence true` cannot be used with a persistence plugin.');
  }
  let dbFile: string | null = null;
  let sync: SqlitePersistenceConfig['sync'] = 'normal';
  let flushPeriod = 5;
  let pageSize = 0;
  for (const [key, value] of plugin.options) {
    switch (key.toLowerCase()) {
      case 'db_file':
        dbFile = value;
        break;
      case 'sync': {
        const v = value.toLowerCase();
        if (v !== 'extra' && v !== 'full' && v !== 'normal' && v !== 'off') {
          throw options.fail(`Sqlite persistence: Invalid plugin_opt_sync value '${value}'.`);
        }
        sync = v;
        break;
      }
      case 'flush_period':
      case 'page_size': {
        const n = Number(value);
        if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
          throw options.fail(`Error: Invalid ${key} value (${value}).`);
        }
        if (key.toLowerCase() === 'flush_period') flushPeriod = n;
        else pageSize = n;
        break;
      }
      default:
        break;
    }
  }
  return { dbFile, sync, flushPeriod, pageSize };
}

/**
 * The legacy default listener exists when `port`/`bind_address` or a listener option was
 * used before the first `listener` line (Mosquitto's list in `config__parse_args`; e.g.
 * max_topic_alias and auto_id_prefix are not on it).
 */
function needsDefaultListener(draft: ConfigDraft): boolean {
  const l = draft.defaultListener;
  const tls = l.tls;
  return (
    l.bindInterface !== null ||
    tls.cafile !== null ||
    tls.capath !== null ||
    tls.certfile !== null ||
    tls.keyfile !== null ||
    tls.tlsEngine !== null ||
    tls.tlsKeyform !== 'pem' ||
    tls.tlsEngineKpassSha1 !== null ||
    tls.ciphers !== null ||
    tls.ciphersTls13 !== null ||
    tls.dhparamfile !== null ||
    tls.pskHint !== null ||
    tls.requireCertificate ||
    tls.crlfile !== null ||
    tls.useIdentityAsUsername ||
    tls.useSubjectAsUsername ||
    l.useUsernameAsClientid ||
    l.host !== null ||
    l.port !== 0 ||
    l.maxConnections !== -1 ||
    l.maxQos !== 2 ||
    l.mountPoint !== null ||
    l.protocol !== 'mqtt' ||
    l.socketDomain !== null ||
    l.security.passwordFile !== null ||
    l.security.pskFile !== null ||
    l.security.plugins.length > 0 ||
    !l.security.allowZeroLengthClientid
  );
}

function finishSecurity(
  draft: SecurityDraft,
  anonymousDefault: boolean,
  forcedAutoIdPrefix: string | null,
): SecurityConfig {
  return {
    allowAnonymous: draft.allowAnonymous ?? anonymousDefault,
    allowZeroLengthClientid: draft.allowZeroLengthClientid,
    autoIdPrefix: forcedAutoIdPrefix ?? draft.autoIdPrefix ?? 'auto-',
    passwordFile: draft.passwordFile,
    aclFile: draft.aclFile,
    pskFile: draft.pskFile,
    plugins: draft.plugins.map(finishPlugin),
  };
}

function finishListener(l: ListenerDraft, security: SecurityConfig): ListenerConfig {
  const tls: ListenerTlsConfig = { ...l.tls };
  return {
    port: l.port === 0 && l.unixSocketPath === null ? 1883 : l.port,
    bindAddress: l.host,
    unixSocketPath: l.unixSocketPath,
    protocol: l.protocol,
    socketDomain: l.socketDomain,
    maxConnections: l.maxConnections,
    mountPoint: l.mountPoint,
    maxQos: l.maxQos,
    maxTopicAlias: l.maxTopicAlias,
    useUsernameAsClientid: l.useUsernameAsClientid,
    security,
    bindInterface: l.bindInterface,
    httpDir: l.httpDir,
    tls: hasTls(tls) ? tls : null,
  };
}

function hasTls(tls: ListenerTlsConfig): boolean {
  return Object.values(tls).some((value) => value !== null && value !== false && value !== 'pem');
}

/**
 * Local-only mode: 127.0.0.1 and ::1 on each `-p` port (1883 without). Mosquitto builds
 * these listeners from scratch, dropping any default-listener settings; with
 * per_listener_settings we keep the default listener's security options rather than
 * silently ignoring a password_file or allow_anonymous false (see DEVIATIONS.md).
 */
function localOnlyListeners(
  draft: ConfigDraft,
  cliPorts: readonly number[],
  globalSecurity: SecurityConfig,
): ListenerConfig[] {
  const security = draft.perListenerSettings
    ? finishSecurity(draft.defaultListener.security, true, null)
    : globalSecurity;
  const listeners: ListenerConfig[] = [];
  for (const port of cliPorts.length > 0 ? cliPorts : [1883]) {
    for (const host of ['127.0.0.1', '::1']) {
      const listener = newListenerDraft(port);
      listener.host = host;
      listeners.push(finishListener(listener, security));
    }
  }
  return listeners;
}

function finishLog(draft: ConfigDraft, verbose: boolean): LogConfig {
  let destinations: LogDestination[] = [{ kind: 'stderr' }];
  const dest = draft.logDest;
  if (dest !== null) {
    destinations = [];
    if (dest.stdout) destinations.push({ kind: 'stdout' });
    if (dest.stderr) destinations.push({ kind: 'stderr' });
    if (dest.file && draft.logFile !== null)
      destinations.push({ kind: 'file', path: draft.logFile });
    if (dest.syslog) destinations.push({ kind: 'syslog' });
    if (dest.topic) destinations.push({ kind: 'topic' });
  }
  return {
    destinations,
    jsonDestinations: draft.logDestJson,
    types: verbose ? ALL_LOG_TYPES : (draft.logTypes ?? DEFAULT_LOG_TYPES),
    connectionMessages: draft.connectionMessages,
    timestamp: draft.logTimestamp,
    timestampFormat: draft.logTimestampFormat,
    facility: draft.logFacility,
  };
}

function checkBridges(draft: ConfigDraft, options: FinalizeOptions): void {
  for (const bridge of draft.bridges) {
    const problem =
      bridge.addresses === null
        ? 'no remote addresses defined'
        : bridge.topics.length === 0
          ? 'no topics defined'
          : bridge.psk !== null && bridge.identity === null
            ? 'missing bridge_identity'
            : bridge.identity !== null && bridge.psk === null
              ? 'missing bridge_psk'
              : null;
    if (problem !== null) throw options.fail(`Error: Invalid bridge configuration: ${problem}.`);
  }
}

function finishBridge(b: BridgeDraft, host: string): BridgeConfig {
  const remoteClientid = b.remoteClientid ?? `${host}.${b.name}`;
  return {
    ...b,
    addresses: b.addresses ?? [],
    remoteClientid,
    localClientid: b.localClientid ?? `local.${remoteClientid}`,
  };
}

function checkUniqueLocalClientids(
  bridges: readonly BridgeConfig[],
  options: FinalizeOptions,
): void {
  const seen = new Set<string>();
  for (const bridge of bridges) {
    if (seen.has(bridge.localClientid)) {
      throw options.fail(
        `Error: Bridge local_clientid '${bridge.localClientid}' is not unique. Try changing or setting the local_clientid value for one of the bridges.`,
      );
    }
    seen.add(bridge.localClientid);
  }
}

/** 2.0.21+ checks of certfile/keyfile/cafile/capath on every listener. */
function checkTls(listeners: readonly ListenerDraft[], options: FinalizeOptions): void {
  for (const { tls } of listeners) {
    const cert = tls.certfile !== null;
    if (cert !== (tls.keyfile !== null)) {
      throw options.fail(
        'Error: Both certfile and keyfile must be provided to enable a TLS listener.',
      );
    }
    if (tls.cafile !== null && !cert) {
      throw options.fail('Error: cafile specified without certfile and keyfile.');
    }
    if (tls.capath !== null && !cert) {
      throw options.fail('Error: capath specified without certfile and keyfile.');
    }
  }
}

function finishPlugin(p: PluginDraft): PluginConfig {
  return {
    path: p.path ?? '',
    options: p.options.map(([key, value]) => [key, value] as const),
    denySpecialChars: p.denySpecialChars,
  };
}
