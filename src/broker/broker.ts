/**
 * Broker: the composition root (Mosquitto's `db` plus loop.c). It owns the registries
 * (sessions, subscriptions, retained messages, connections, listeners), settles the
 * session side of connects and closes (takeover, resume, wills, expiry) and routes
 * messages; the protocol logic lives in the handlers.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../common/clock.ts';
import type { Properties } from '../protocol/packets.ts';
import type { ProtocolVersion, QoS } from '../protocol/constants.ts';
import { ProtocolVersion as Versions, ReasonCode } from '../protocol/constants.ts';
import type { Connection } from '../transport/connection.ts';
import { FlushScheduler } from '../transport/flush-scheduler.ts';
import type { BrokerConfig, PluginConfig } from './config/types.ts';
import type { SubscriptionOptions } from './router/subscription-tree.ts';
import { SubscriptionTree } from './router/subscription-tree.ts';
import { RetainStore } from './router/retain-store.ts';
import { mayPublish } from './access.ts';
import { BrokerError } from './broker-error.ts';
import type { BrokerLog } from './broker-log.ts';
import { ClientConnection, ConnectionState } from './client-connection.ts';
import { CloseReason, closeLogLine, closePublishesWill, closeReasonName } from './close-reason.ts';
import type { BrokerListener } from './listeners.ts';
import { openListeners, reloadListeners } from './listeners.ts';
import { BrokerMetrics } from './metrics.ts';
import { BrokerStats } from './observability/broker-stats.ts';
import { builtinRoutes } from './http-api/builtin-routes.ts';
import type { HttpApiRoutes } from './http-api/routes.ts';
import { Dashboard } from './dashboard/dashboard.ts';
import { StoredMessage } from './messages/stored-message.ts';
import { clearOutgoing, resumeSession } from './outgoing.ts';
import { routeMessage } from './route.ts';
import { BrokerSecurity } from './security/broker-security.ts';
import { AUTH_FAILURE_LIMIT_OFF, AuthFailureLimiter } from './security/auth-failure-limiter.ts';
import * as send from './send.ts';
import { Session } from './session.ts';
import { cancelSessionExpiry, scheduleSessionExpiry } from './session-expiry.ts';
import { DelayedWills } from './will.ts';
import type { Persistence } from './persistence/persistence.ts';
import { SysTree } from './sys-tree.ts';
import { EMPTY_PROPERTIES } from '../protocol/packets.ts';
import type { BridgeLinkState, BridgeSupervisor } from './bridge-hooks.ts';
import type { KickTarget, PluginDefinition } from './plugins/api.ts';
import { pluginClientOf } from './plugins/client.ts';
import type { PluginBroker } from './plugins/host.ts';
import { PluginHost } from './plugins/host.ts';
import { resolvePlugin } from './plugins/resolve.ts';

export { BROKER_VERSION } from './version.ts';

/** A client as reported by broker events. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | null;
  readonly protocolVersion: ProtocolVersion;
  readonly address: string;
  readonly port: number;
}

export interface ClientDisconnectedInfo extends ClientInfo {
  readonly reason: CloseReason;
}

export interface PublishedMessageInfo {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: Properties;
  /** "" when the broker itself published ($SYS, wills have the client's id). */
  readonly clientId: string;
}

export interface BrokerEvents {
  clientConnected: [client: ClientInfo];
  clientDisconnected: [client: ClientDisconnectedInfo];
  messagePublished: [message: PublishedMessageInfo];
}

/**
 * Makes the broker's bridges (broker/bridge/ provides it; the broker may not import it).
 * Called only when the configuration has bridges; it may import their code then.
 */
export type BridgeSupervisorFactory = (
  broker: Broker,
) => BridgeSupervisor | Promise<BridgeSupervisor>;

/** A plugin given to the embedded broker directly (a global plugin, asked first). */
export interface EmbeddedPlugin {
  readonly definition: PluginDefinition;
  /** What `plugin_opt_<key> <value>` lines would give it. */
  readonly options?: Readonly<Record<string, string>>;
}

export interface BrokerOptions {
  /** Without it, `connection` blocks in the configuration are not started. */
  readonly bridges?: BridgeSupervisorFactory;
  readonly plugins?: readonly EmbeddedPlugin[];
}

export class Broker extends EventEmitter<BrokerEvents> {
  /** Replaced as a whole by reload(); everything reads it at the time of use. */
  config: BrokerConfig;
  readonly clock: Clock;
  readonly log: BrokerLog;
  readonly metrics = new BrokerMetrics();
  /** Gauges and counters as `$SYS`, the HTTP API and `/metrics` read them. */
  readonly stats: BrokerStats = new BrokerStats(this);
  /**
   * What http_api listeners answer, by path: `/api/v1/...` and `/metrics` built in; more
   * routes (a dashboard) may be added before start().
   */
  readonly httpRoutes: HttpApiRoutes = builtinRoutes(this.stats);
  /** The web dashboard at `/` of http_api listeners (adds its routes to httpRoutes). */
  readonly dashboard: Dashboard = new Dashboard(this);
  readonly sessions = new Map<string, Session>();
  readonly subscriptions = new SubscriptionTree<Session>();
  readonly retained = new RetainStore<StoredMessage>();
  readonly connections = new Set<ClientConnection>();
  readonly flusher = new FlushScheduler();
  readonly delayedWills: DelayedWills;
  /** Password file, ACL file and allow_anonymous: who may connect, publish, receive. */
  readonly security: BrokerSecurity;
  /** `max_auth_failures` (ours): addresses refused after too many failed logins. */
  readonly authFailures: AuthFailureLimiter;
  listenerSockets: BrokerListener[] = [];
  /** log.enabled('debug'), cached: debug lines are never formatted otherwise. */
  debugLog: boolean;
  readonly startedAt: number;
  #sysTree: SysTree | null = null;
  #closing = false;
  /**
   * Where durable state is reported (null: persistence off, and the hot path only pays
   * for the null checks).
   */
  persistence: Persistence | null = null;
  readonly #bridgeFactory: BridgeSupervisorFactory | null;
  readonly #embeddedPlugins: readonly EmbeddedPlugin[];
  #bridges: BridgeSupervisor | null = null;

  constructor(config: BrokerConfig, clock: Clock, log: BrokerLog, options: BrokerOptions = {}) {
    super();
    this.#bridgeFactory = options.bridges ?? null;
    this.#embeddedPlugins = options.plugins ?? [];
    this.config = config;
    this.clock = clock;
    this.log = log;
    this.debugLog = log.enabled('debug');
    this.startedAt = clock.now();
    this.security = new BrokerSecurity(config, log);
    this.authFailures = new AuthFailureLimiter(
      clock,
      config.authFailureLimit ?? AUTH_FAILURE_LIMIT_OFF,
    );
    this.delayedWills = new DelayedWills(clock, (message) => {
      this.publishWill(message);
    });
  }

  // ---- Lifecycle ---------------------------------------------------------------------

  /**
   * Loads the password and ACL files, opens every listener and starts $SYS. Throws
   * SecurityFileError for an unusable file, ListenError when no listener could be opened.
   */
  async start(): Promise<void> {
    this.security.load(this.config);
    this.security.plugins = await this.#loadPlugins();
    // The stores' code (mosquitto.db reader and writer, SQLite) only when persistence is on.
    if (this.config.persistence || this.config.sqlitePersistence != null) {
      const { openPersistence } = await import('./persistence/open.ts');
      this.persistence = await openPersistence(this.config, this.clock, this.log);
      if (this.persistence !== null) await this.#restore(this.persistence);
    }
    // Made (and its code loaded) before the listeners open, started right after in the same
    // turn as before: no client can connect and publish before the bridges exist.
    const hasBridges = (this.config.bridges?.length ?? 0) > 0;
    const bridges =
      hasBridges && this.#bridgeFactory !== null ? await this.#bridgeFactory(this) : null;
    this.listenerSockets = await openListeners(this);
    this.dashboard.start();
    if (this.config.sysInterval > 0) {
      this.#sysTree = new SysTree(this);
      this.#sysTree.start();
    }
    if (bridges !== null) {
      this.#bridges = bridges;
      this.#bridges.start();
    } else if (hasBridges) {
      this.log.warning('Warning: Bridges are not available in this build of the broker.');
    }
  }

  /**
   * Loads the stored state into the registries (before any listener opens), schedules the
   * restored sessions' expiry and their wills, and starts the store's timers.
   */
  async #restore(persistence: Persistence): Promise<void> {
    const [{ RestoreBuilder }, { snapshotState }] = await Promise.all([
      import('./restore-builder.ts'),
      import('./durable-state.ts'),
    ]);
    const restored = persistence
      .load(() => new RestoreBuilder(this, persistence.countsHolders))
      .commit();
    this.metrics.clientsExpired += restored.expired;
    for (const session of restored.sessions) {
      const remaining =
        session.expiryWallTime === 0 ? -1 : session.expiryWallTime - this.clock.wallSeconds();
      scheduleSessionExpiry(this, session, remaining);
    }
    for (const will of restored.wills) {
      this.delayedWills.schedule(will.clientId, will.message, will.delaySeconds);
    }
    persistence.start((p) => snapshotState(this, p));
  }

  /** The configuration's plugins, after those given to the embedded broker. */
  #loadPlugins(): Promise<PluginHost | null> {
    const embedded = new Map<PluginConfig, PluginDefinition>();
    for (const plugin of this.#embeddedPlugins) {
      const config: PluginConfig = {
        path: `(embedded) ${plugin.definition.name}`,
        options: Object.entries(plugin.options ?? {}),
        denySpecialChars: true,
      };
      embedded.set(config, plugin.definition);
    }
    const config: BrokerConfig = {
      ...this.config,
      globalPlugins: [...embedded.keys(), ...(this.config.globalPlugins ?? [])],
    };
    return PluginHost.load(this.#pluginBroker(), config, (pluginConfig) => {
      const definition = embedded.get(pluginConfig);
      return definition === undefined ? resolvePlugin(pluginConfig) : Promise.resolve(definition);
    });
  }

  /** What plugins may do (see plugins/host.ts). */
  #pluginBroker(): PluginBroker {
    return {
      log: this.log,
      clock: this.clock,
      publish: (topic, payload, qos, retain) => {
        this.publish(
          new StoredMessage(
            topic,
            typeof payload === 'string' ? Buffer.from(payload) : payload,
            qos,
            retain,
            EMPTY_PROPERTIES,
            0,
            '',
            null,
          ),
        );
      },
      kick: (who) => {
        this.kick(who);
      },
    };
  }

  /**
   * Disconnects the clients with this client id or username (mosquitto_kick_client_by_*),
   * MQTT 5 ones with DISCONNECT 0x98; their wills go out.
   */
  kick(who: KickTarget): void {
    for (const conn of [...this.connections]) {
      if (conn.bridge !== null || conn.state !== ConnectionState.Connected) continue;
      const match =
        (who.clientId !== undefined && conn.clientId === who.clientId) ||
        (who.username !== undefined && conn.username === who.username) ||
        (who.anonymous === true && conn.username === null);
      if (!match) continue;
      send.disconnect(conn, ReasonCode.AdministrativeAction);
      conn.close(CloseReason.Administrative);
    }
  }

  /** Each bridge's name and link state (none without bridges). */
  bridgeStates(): { readonly name: string; readonly state: BridgeLinkState }[] {
    return this.#bridges?.states() ?? [];
  }

  /** SIGUSR1: saves the persistent database now (nothing without persistence). */
  saveNow(): void {
    this.persistence?.save(false);
  }

  /** Stops listening, publishes pending wills, closes every client and the listeners. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#sysTree?.stop();
    this.stats.stop();
    this.dashboard.stop();
    const closingListeners = this.listenerSockets.map((listener) => listener.server.close());
    // Mosquitto publishes every will on shutdown, delayed ones included.
    for (const session of this.sessions.values()) {
      if (session.connection !== null && session.will !== null) {
        const will = session.will;
        session.will = null;
        this.publishWill(will.message);
      }
    }
    this.delayedWills.publishAll();
    this.#bridges?.close();
    for (const conn of [...this.connections]) conn.close(CloseReason.Shutdown);
    this.security.plugins?.close();
    for (const session of this.sessions.values()) cancelSessionExpiry(this, session);
    this.flusher.flushNow();
    for (const conn of this.connections) conn.transport.destroy();
    await Promise.all(closingListeners);
    // Last, so the save holds what the wills queued for durable sessions.
    this.persistence?.close();
  }

  /** Bound port of each listener (unix sockets report 0), in configuration order. */
  get ports(): number[] {
    return this.listenerSockets.map((listener) => listener.port);
  }

  /** Address and port of the first TCP listener (what a single-listener embedder wants). */
  address(): { host: string; port: number } | null {
    return this.addresses()[0] ?? null;
  }

  /** Address and port of each TCP listener speaking MQTT (not the HTTP API). */
  addresses(): { host: string; port: number }[] {
    return this.listenerSockets
      .filter(
        (listener) =>
          listener.config.unixSocketPath === null && listener.config.protocol !== 'http_api',
      )
      .map((listener) => ({
        host: listener.config.bindAddress ?? '::',
        port: listener.port,
      }));
  }

  /**
   * SIGHUP: applies a re-read configuration. Listeners stay as they are (Mosquitto does not
   * reopen them either); every other option takes effect for what happens from now on.
   */
  reload(config: BrokerConfig): void {
    const previous = this.config;
    this.config = { ...config, listeners: previous.listeners, localOnly: previous.localOnly };
    this.debugLog = this.log.enabled('debug');
    // Certificates, keys, CAs, CRLs and psk_file: read again for new connections.
    reloadListeners(this);
    // Password and ACL files read again; connected clients re-checked against them.
    this.security.reload(config, previous.listeners);
    this.security.recheckConnections(this.connections);
    this.authFailures.reconfigure(config.authFailureLimit ?? AUTH_FAILURE_LIMIT_OFF);
    this.persistence?.reconfigure(config.autosaveInterval, config.autosaveOnChanges ?? false);
    this.#bridges?.reload(config);
    this.security.plugins?.reload(config);
    if (config.sysInterval !== previous.sysInterval) {
      this.#sysTree?.stop();
      this.#sysTree = null;
      if (config.sysInterval > 0) {
        this.#sysTree = new SysTree(this);
        this.#sysTree.start();
      }
    }
  }

  get isClosing(): boolean {
    return this.#closing;
  }

  // ---- Connections -------------------------------------------------------------------

  /** A listener accepted a socket. */
  acceptConnection(transport: Connection, listener: BrokerListener): void {
    if (this.#closing) {
      transport.destroy();
      return;
    }
    this.metrics.socketConnections++;
    listener.socketsAccepted++;
    if (transport.remoteAddress === '') {
      // The peer reset the connection before it was accepted, so its address is unknown
      // (it would be logged as "New connection from :0"). Mosquitto's context__init()
      // fails on getpeername() and drops such a socket without a log line.
      transport.destroy();
      return;
    }
    const max = listener.config.maxConnections;
    if (max > 0 && listener.connectionCount >= max) {
      if (this.config.log.connectionMessages) {
        this.log.notice(
          `Client connection from ${transport.remoteAddress} denied: max_connections exceeded.`,
        );
      }
      transport.destroy();
      return;
    }
    listener.connectionCount++;
    const conn = new ClientConnection(this, transport, listener);
    this.connections.add(conn);
    if (this.config.log.connectionMessages) {
      this.log.notice(
        `New connection from ${transport.remoteAddress}:${transport.remotePort} on port ${listener.port}.`,
        {
          event: 'connection',
          address: transport.remoteAddress,
          port: transport.remotePort,
          listener_port: listener.port,
        },
      );
    }
  }

  /** The socket is fully closed. */
  connectionGone(conn: ClientConnection): void {
    if (this.connections.delete(conn)) conn.listener.connectionCount--;
  }

  /**
   * Finds or creates the session for an authenticated CONNECT and takes the client id
   * over from any connection holding it. Only after authentication, as Mosquitto.
   */
  attachSession(
    conn: ClientConnection,
    clientId: string,
    cleanStart: boolean,
  ): { session: Session; sessionPresent: boolean } {
    this.metrics.connectCount++;
    // Reconnecting within the Will Delay Interval cancels the will [MQTT-3.1.3-9].
    this.delayedWills.cancel(clientId);
    const found = this.sessions.get(clientId);
    let resume = false;
    if (found !== undefined) {
      const old = found.connection;
      if (old !== null) {
        if (this.config.log.connectionMessages) {
          this.log.error(`Client ${clientId} already connected, closing old connection.`);
        }
        // The old will goes out unless the session carries on [MQTT-3.1.4-3].
        const oldSessionEnds =
          found.protocolVersion === Versions.V5 ? found.expiryInterval === 0 : found.cleanStart;
        const will = found.will;
        found.will = null;
        if (will !== null && will.delaySeconds === 0 && (oldSessionEnds || cleanStart)) {
          this.publishWill(will.message);
        }
        found.connection = null;
        old.session = null;
        send.disconnect(old, ReasonCode.SessionTakenOver);
        old.close(CloseReason.TakenOver);
      }
      cancelSessionExpiry(this, found);
      found.will = null;
      resume = !cleanStart && found.expiryInterval > 0;
      if (!resume) this.removeSession(found);
    }
    const session =
      resume && found !== undefined ? found : new Session(clientId, conn.protocolVersion);
    const sessionPresent = resume && conn.protocolVersion !== Versions.V31;
    this.sessions.set(clientId, session);
    return { session, sessionPresent };
  }

  /** Sends CONNACK, starts the keepalive and resends what a resumed session had pending. */
  completeConnect(
    conn: ClientConnection,
    session: Session,
    sessionPresent: boolean,
    keepalive: number,
    connackProperties: Properties,
  ): void {
    session.connection = conn;
    conn.session = session;
    conn.state = ConnectionState.Connected;
    conn.startKeepalive(keepalive);
    if (!send.connack(conn, sessionPresent, ReasonCode.Success, connackProperties)) {
      // The CONNACK is above the client's Maximum Packet Size: as in Mosquitto, the client
      // is dropped without a word and logged as an oversize packet; the session it was
      // given is settled by the close like any other (will, expiry).
      throw new BrokerError(
        ReasonCode.PacketTooLarge,
        "CONNACK above the client's Maximum Packet Size",
        'MQTT-3.1.2-24',
        CloseReason.OversizePacket,
        '',
        true,
      );
    }
    conn.wasConnected = true;
    // The client must resend each QoS 2 PUBLISH still awaiting PUBREL on the new connection,
    // so the count of resends (a third copy on one connection is a protocol error) starts
    // again, as Mosquitto's db__message_reconnect_reset_incoming() does. Without this, a
    // client that had resent once was closed on every later reconnect: a stuck session.
    session.incomingResent.clear();
    if (sessionPresent || session.inflight.size > 0 || session.queue.length > 0) {
      resumeSession(this, session);
    }
    if (this.listenerCount('clientConnected') > 0) this.emit('clientConnected', clientInfo(conn));
    const plugins = this.security.plugins;
    if (plugins?.hasConnect === true) plugins.connected(conn.listener.config, pluginClientOf(conn));
  }

  /** A connection started closing: log it, publish or schedule its will, settle the session. */
  connectionClosed(conn: ClientConnection): void {
    const reason = conn.closeReason;
    if (this.config.log.connectionMessages) {
      const line = closeLogLine(reason, conn.clientId, conn.closeDetail);
      if (line !== null) {
        this.log.notice(line, {
          event: 'client_disconnected',
          client_id: conn.clientId,
          reason: closeReasonName(reason),
        });
      }
    }
    const session = conn.session;
    conn.session = null;
    if (session !== null && session.connection === conn) {
      session.connection = null;
      const will = session.will;
      session.will = null;
      if (will !== null && closePublishesWill(reason)) {
        if (will.delaySeconds > 0) {
          this.delayedWills.schedule(session.clientId, will.message, will.delaySeconds);
          session.willWallTime = this.clock.wallSeconds() + will.delaySeconds;
        } else {
          this.publishWill(will.message);
        }
      }
      // A bridge's local session lives as long as its bridge (it never expires).
      if (reason !== CloseReason.Shutdown && session.bridge === null) {
        if (session.expiryInterval === 0) this.removeSession(session);
        else scheduleSessionExpiry(this, session, -1);
      }
      this.persistence?.noteSessionDeadlines(session);
    }
    if (conn.wasConnected && this.listenerCount('clientDisconnected') > 0) {
      this.emit('clientDisconnected', { ...clientInfo(conn), reason });
    }
    const plugins = this.security.plugins;
    if (plugins !== null && conn.wasConnected && conn.bridge === null) {
      const event = {
        client: pluginClientOf(conn),
        reason: closeLogLine(reason, conn.clientId, conn.closeDetail) ?? 'broker shutdown',
      };
      plugins.disconnected(conn.listener.config, event);
      if (session !== null && session.expiryInterval > 0) {
        plugins.wentOffline(conn.listener.config, event);
      }
    }
    conn.bridge?.onClosed(conn);
  }

  /** Forgets a session: its subscriptions, queues and registry entry. */
  removeSession(session: Session): void {
    this.persistence?.noteSessionRemoved(session);
    for (const filter of session.subscriptions.keys()) this.subscriptions.remove(session, filter);
    session.subscriptions.clear();
    clearOutgoing(session);
    cancelSessionExpiry(this, session);
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
  }

  // ---- Subscriptions -----------------------------------------------------------------

  /** Adds or replaces a subscription; true when it is new. */
  subscribe(session: Session, filter: string, options: SubscriptionOptions): boolean {
    const { entry, isNew } = this.subscriptions.add(session, filter, options);
    session.subscriptions.set(filter, entry);
    this.persistence?.noteSubscription(session, filter, options);
    this.#notifySubscription(session, filter, options.qos, false);
    return isNew;
  }

  /** Removes a subscription; true when it existed. */
  unsubscribe(session: Session, filter: string): boolean {
    if (session.subscriptions.delete(filter)) this.persistence?.noteUnsubscription(session, filter);
    this.#notifySubscription(session, filter, 0, true);
    return this.subscriptions.remove(session, filter);
  }

  /** MOSQ_EVT_SUBSCRIBE / _UNSUBSCRIBE for a client's own (un)subscription. */
  #notifySubscription(session: Session, filter: string, qos: QoS, removed: boolean): void {
    const plugins = this.security.plugins;
    const conn = session.connection;
    if (plugins === null || conn === null || conn.bridge !== null) return;
    plugins.subscribed(
      conn.listener.config,
      { client: pluginClientOf(conn), topic: filter, qos },
      removed,
    );
  }

  // ---- Messages ----------------------------------------------------------------------

  /**
   * Routes a message to its subscribers and updates the retained store (after routing,
   * as Mosquitto). Returns whether any subscription matched.
   */
  publish(message: StoredMessage): boolean {
    const matched = routeMessage(this, message);
    if (message.retain) {
      const persistence = this.persistence;
      const previous = persistence === null ? undefined : this.retained.get(message.topic);
      if (message.payload.length === 0) {
        this.retained.delete(message.topic);
        if (previous !== undefined) persistence?.noteRetainDeleted(message.topic, previous);
      } else {
        const kept = compactForStore(message);
        this.retained.set(message.topic, kept);
        persistence?.noteRetained(message.topic, kept, previous);
      }
    }
    if (this.listenerCount('messagePublished') > 0) {
      this.emit('messagePublished', {
        topic: message.topic,
        payload: message.payload,
        qos: message.qos,
        retain: message.retain,
        properties: message.properties,
        clientId: message.sourceClientId,
      });
    }
    return matched;
  }

  /** A will goes out like a client's PUBLISH (the `$SYS` rule and the ACL, checked now). */
  publishWill(message: StoredMessage): void {
    const persistence = this.persistence;
    if (persistence !== null) {
      const session = this.sessions.get(message.sourceClientId);
      if (session !== undefined) {
        session.willWallTime = 0;
        persistence.noteWillGone(session);
      }
    }
    if (!mayPublish(message.topic) || !this.security.mayPublishWill(message)) return;
    this.metrics.willsPublished++;
    this.publish(message);
  }

  /** Publishes a message from the broker itself ($SYS). */
  publishInternal(topic: string, payload: string, qos: QoS, retain: boolean): void {
    this.publish(
      new StoredMessage(topic, Buffer.from(payload), qos, retain, EMPTY_PROPERTIES, 0, '', null),
    );
  }

  /** A log line for `log_dest topic`: QoS 2, not retained, expiring after 20 s. */
  publishLogLine(topic: string, line: string): void {
    if (this.#closing) return;
    this.publish(
      new StoredMessage(
        topic,
        Buffer.from(line),
        2,
        false,
        EMPTY_PROPERTIES,
        this.clock.now() + 20_000,
        '',
        null,
      ),
    );
  }

  /** Lines for SIGUSR2's subscription dump. */
  dumpSubscriptions(): string[] {
    return this.subscriptions.dump();
  }
}

/**
 * A retained message outlives the read buffer its payload was sliced from; copy the
 * payload when the slice would pin a much larger buffer.
 */
function compactForStore(message: StoredMessage): StoredMessage {
  const payload = message.payload;
  if (payload.buffer.byteLength <= payload.length * 2 + 64) return message;
  return new StoredMessage(
    message.topic,
    Buffer.from(payload),
    message.qos,
    message.retain,
    message.properties,
    message.expiresAt,
    message.sourceClientId,
    message.sourceUsername,
  );
}

function clientInfo(conn: ClientConnection): ClientInfo {
  return {
    clientId: conn.clientId,
    username: conn.username,
    protocolVersion: conn.protocolVersion,
    address: conn.transport.remoteAddress,
    port: conn.transport.remotePort,
  };
}
