/**
 * BrokerSecurity: what the broker asks before letting a client in, a message out to a
 * subscriber, or a publish (or will) through. It holds the security domains (global, or
 * per listener with `per_listener_settings`), loads their files at start-up (a broken file
 * stops the broker with Mosquitto's exit code), reloads them on SIGHUP (a broken file keeps
 * what was loaded before) and re-checks connected clients after a reload (§3.14).
 *
 * ACL checks are cheap: each session caches its resolved rules (and its plugins' answers),
 * and callers skip the checks entirely while `aclActive` is false (no ACL file and no ACL
 * plugin anywhere). A check answers a boolean, or a Promise of one while a plugin's
 * asynchronous answer is pending; callers then make that client's packet (or delivery)
 * wait, and only that client's.
 */
import { Buffer } from 'node:buffer';
import type { PasswordHash } from '../../common/password.ts';
import type { BrokerConfig, ListenerConfig, SecurityConfig } from '../config/types.ts';
import { defaultSecurity } from '../config/types.ts';
import type { BrokerLog } from '../broker-log.ts';
import type { ClientConnection } from '../client-connection.ts';
import { ConnectionState } from '../client-connection.ts';
import { CloseReason } from '../close-reason.ts';
import { mayPublish } from '../access.ts';
import * as send from '../send.ts';
import { tlsUsername } from '../tls-identity.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import { StoredMessage } from '../messages/stored-message.ts';
import type { Session } from '../session.ts';
import type { ClientAcl, RequestedAccess } from './acl-file.ts';
import { AclAccess, AclRules } from './acl-file.ts';
import { SecurityDomain, loadAcl, loadPasswords } from './security-domain.ts';
import type { PluginClient, PluginResult } from '../plugins/api.ts';
import type { AclAnswer, PluginHost } from '../plugins/host.ts';
import type { QoS } from '../../protocol/constants.ts';

/** A password or ACL file made start-up fail; the lines saying why are already logged. */
export class SecurityFileError extends Error {
  override readonly name = 'SecurityFileError';
  readonly exitCode: number;

  constructor(exitCode: number) {
    super(`a password or ACL file could not be loaded (exit code ${exitCode})`);
    this.exitCode = exitCode;
  }
}

/**
 * What the ACL checks of one session need, cached. Kept on the session itself
 * (`session.securityBinding`): a WeakMap entry per session cost a few µs per connect and
 * made every scavenge walk its ephemeron table.
 */
export interface SessionBinding {
  /** The listener the client last connected through (its domain's key). */
  listener: ListenerConfig | null;
  /** The session as plugins see it (made on the first plugin ACL check). */
  pluginClient?: PluginClient;
  /** Plugin ACL answers for this client, by topic, until the plugins' ACL generation moves. */
  pluginAcl?: PluginAclMemo;
  /** The rules `acl` was resolved from, and for which identity. */
  rules: AclRules | null;
  clientId: string;
  username: string | null;
  acl: ClientAcl | null;
}

/** Who a will belongs to, for the write check when it is published. */
interface WillOwner {
  readonly clientId: string;
  readonly username: string | null;
  readonly listener: ListenerConfig;
}

/**
 * What a connected client authenticated with, for the re-check after a reload (kept on
 * the connection, `conn.credentials`, for the reason SessionBinding is on the session).
 */
export interface Credentials {
  readonly password: Buffer | null;
  /** The stored hash the password was last found to match (null without one). */
  verified: PasswordHash | null;
}

interface DomainTarget {
  readonly key: ListenerConfig | null;
  readonly settings: SecurityConfig;
  readonly previous: SecurityDomain | null;
}

/** What one client's plugin ACL answers are kept for (a bounded cache per access). */
interface PluginAclMemo {
  readonly generation: number;
  /** The identity the answers are for (a new PluginClient when it changes). */
  readonly client: PluginClient;
  readonly write: Map<string, PluginAnswer>;
  readonly read: Map<string, PluginAnswer>;
}

/** A plugin chain's answer, or the promise of it while an asynchronous plugin decides. */
type PluginAnswer = AclAnswer | Promise<AclAnswer>;

const PLUGIN_ACL_MEMO_LIMIT = 1024;

/** Resolved rules per identity, for wills and retained-message sources (bounded). */
const IDENTITY_CACHE_LIMIT = 4096;

export class BrokerSecurity {
  readonly #log: BrokerLog;
  #perListener = false;
  #global: SecurityDomain;
  #byListener = new Map<ListenerConfig, SecurityDomain>();
  /** Used for clients whose domain cannot be found: nothing is allowed. */
  readonly #denyAll = new SecurityDomain(defaultSecurity(false), new Map(), new AclRules());
  /** Some domain has an ACL file, or a plugin checks ACLs; while false, callers skip every ACL check. */
  aclActive = false;
  /** The loaded plugins (set once they are loaded at start-up). */
  #plugins: PluginHost | null = null;
  /** A plugin handles message-out: deliveries ask messageOut() (a field: read per delivery). */
  messageOutActive = false;
  /** Bumped by each load or reload: answers computed for an older one are redone. */
  generation = 0;
  readonly #wills = new WeakMap<StoredMessage, WillOwner>();
  /** With per_listener_settings: the listener each retained topic was last set through. */
  readonly #retainedSources = new Map<string, ListenerConfig>();
  readonly #identityAcls = new WeakMap<AclRules, Map<string, ClientAcl>>();

  /** Domains with the configured files not loaded yet deny everything they would check. */
  constructor(config: BrokerConfig, log: BrokerLog) {
    this.#log = log;
    const unloaded = (settings: SecurityConfig): SecurityDomain =>
      new SecurityDomain(
        settings,
        settings.passwordFile === null ? null : new Map(),
        settings.aclFile === null ? null : new AclRules(),
      );
    this.#perListener = config.perListenerSettings;
    this.#global = unloaded(config.security);
    for (const listener of config.listeners) {
      this.#byListener.set(listener, unloaded(listener.security));
    }
    this.#updateAclActive();
  }

  // ---- Loading -----------------------------------------------------------------------

  /** Start-up: loads every file; throws SecurityFileError at the first unusable one. */
  load(config: BrokerConfig): void {
    this.#install(config, this.#build(config, config.listeners, false));
  }

  /**
   * SIGHUP: loads the files of the re-read configuration. `listeners` are the running
   * listeners (the configuration's listeners match them in order). A file that cannot be
   * used keeps what was loaded from it before (or denies, if nothing was).
   */
  reload(config: BrokerConfig, listeners: readonly ListenerConfig[]): void {
    this.#install(config, this.#build(config, listeners, true));
  }

  #install(
    config: BrokerConfig,
    built: { global: SecurityDomain; byListener: Map<ListenerConfig, SecurityDomain> },
  ): void {
    this.#perListener = config.perListenerSettings;
    this.#global = built.global;
    this.#byListener = built.byListener;
    if (!this.#perListener) this.#retainedSources.clear();
    this.generation++;
    this.#updateAclActive();
  }

  #updateAclActive(): void {
    this.aclActive =
      (this.#plugins?.hasAcl ?? false) ||
      (this.#perListener
        ? [...this.#byListener.values()].some((domain) => domain.acl !== null)
        : this.#global.acl !== null);
  }

  /** Mosquitto's order: every password file first, then every ACL file. */
  #build(
    config: BrokerConfig,
    listeners: readonly ListenerConfig[],
    reloading: boolean,
  ): { global: SecurityDomain; byListener: Map<ListenerConfig, SecurityDomain> } {
    const targets: DomainTarget[] = config.perListenerSettings
      ? listeners.map((key, i) => ({
          key,
          settings: config.listeners[i]?.security ?? key.security,
          previous: reloading ? this.domainFor(key) : null,
        }))
      : [{ key: null, settings: config.security, previous: reloading ? this.#global : null }];

    const passwords = targets.map((target) => {
      const path = target.settings.passwordFile;
      if (path === null) return null;
      const loaded = loadPasswords(path, this.#log);
      if (loaded.ok) return loaded.value;
      if (!reloading) throw new SecurityFileError(loaded.exitCode);
      const kept = target.previous?.passwords ?? null;
      this.#log.warning(
        kept === null
          ? `Warning: Unable to reload password file "${path}", refusing every username until it can be read.`
          : `Warning: Unable to reload password file "${path}", keeping the users loaded before.`,
      );
      return kept ?? new Map<string, PasswordHash>();
    });
    const acls = targets.map((target) => {
      const path = target.settings.aclFile;
      if (path === null) return null;
      const loaded = loadAcl(path, this.#log);
      if (loaded.ok) return loaded.value;
      if (!reloading) throw new SecurityFileError(loaded.exitCode);
      const kept = target.previous?.acl ?? null;
      this.#log.warning(
        kept === null
          ? `Warning: Unable to reload acl_file "${path}", denying all access until it can be read.`
          : `Warning: Unable to reload acl_file "${path}", keeping the rules loaded before.`,
      );
      return kept ?? new AclRules();
    });

    const domains = targets.map(
      (target, i) => new SecurityDomain(target.settings, passwords[i] ?? null, acls[i] ?? null),
    );
    const byListener = new Map<ListenerConfig, SecurityDomain>();
    targets.forEach((target, i) => {
      const domain = domains[i];
      if (target.key !== null && domain !== undefined) byListener.set(target.key, domain);
    });
    const global = config.perListenerSettings
      ? new SecurityDomain(config.security, null, null)
      : (domains[0] ?? this.#denyAll);
    return { global, byListener };
  }

  /** The domain deciding for clients of `listener`. */
  domainFor(listener: ListenerConfig): SecurityDomain {
    if (!this.#perListener) return this.#global;
    return this.#byListener.get(listener) ?? this.#denyAll;
  }

  // ---- Authentication ----------------------------------------------------------------

  /**
   * CONNECT credentials: allowed now, refused now, or a promise (PBKDF2 on the pool, or a
   * plugin answering later). Plugins with basic auth are asked first, in order; when all defer, the
   * password file and allow_anonymous decide as mosquitto_unpwd_check() does.
   */
  authenticate(
    listener: ListenerConfig,
    username: string | null,
    password: Buffer | null,
    client: PluginClient,
  ): boolean | Promise<boolean> {
    const plugins = this.plugins;
    const domain = this.domainFor(listener);
    if (plugins === null || !plugins.hasBasicAuth(listener)) {
      return domain.authenticate(username, password);
    }
    const decide = (result: PluginResult): boolean | Promise<boolean> =>
      result === 'defer' ? domain.authenticate(username, password, null, true) : result === 'allow';
    const answer = plugins.basicAuth(listener, { client, username, password });
    return typeof answer === 'string' ? decide(answer) : answer.then(decide);
  }

  /** A client was let in: remember its credentials, its session's domain and its will. */
  admitted(
    conn: ClientConnection,
    session: Session,
    password: Buffer | null,
    will: StoredMessage | null,
  ): void {
    const listener = conn.listener.config;
    const username = conn.username;
    // An anonymous client without a password (most idle clients) has nothing to remember:
    // the re-check after a reload reads null as exactly that.
    if (username !== null || password !== null) {
      const passwords = this.domainFor(listener).passwords;
      conn.credentials = {
        password: password === null ? null : Buffer.from(password),
        verified: username === null ? null : (passwords?.get(username) ?? null),
      };
    } else {
      conn.credentials = null;
    }
    // The binding itself is made on the first check that needs it (#bindingOf): clients
    // that are never checked (no ACL, no plugin) cost only this field.
    session.securityListener = listener;
    session.securityBinding = null;
    if (will !== null) {
      this.#wills.set(will, { clientId: session.clientId, username, listener });
    }
    if (this.aclActive) this.#dropForbiddenMessages(session);
  }

  /**
   * After a reload (mosquitto_security_apply_default): a client without a username goes
   * when anonymous access is no longer allowed, a client whose credentials no longer pass
   * goes too, quietly (no DISCONNECT, no will, "Client <id> disconnected."), and everyone
   * else is judged by the new ACL from the next check on. On a listener that takes the
   * username from TLS, the password file is not consulted: a client left without a TLS
   * identity goes, MQTT 5 ones with DISCONNECT 0x98.
   */
  recheckConnections(connections: Iterable<ClientConnection>): void {
    const generation = this.generation;
    for (const conn of [...connections]) {
      // Bridges of ours are not clients: nothing to check again (as Mosquitto).
      if (conn.state !== ConnectionState.Connected || conn.bridge !== null) continue;
      const domain = this.domainFor(conn.listener.config);
      const username = conn.username;
      if (username === null && !domain.allowAnonymous) {
        conn.close(CloseReason.Disconnected);
        continue;
      }
      const tlsName = tlsUsername(conn.listener.config, conn.transport);
      if (tlsName !== undefined) {
        if (tlsName === null) {
          send.disconnect(conn, ReasonCode.AdministrativeAction);
          conn.close(CloseReason.Disconnected);
        }
        continue;
      }
      const credentials = conn.credentials;
      const verdict = domain.authenticate(
        username,
        credentials?.password ?? null,
        credentials?.verified ?? null,
      );
      const settle = (allowed: boolean): void => {
        if (!allowed) {
          conn.close(CloseReason.Disconnected);
        } else if (credentials !== null && username !== null) {
          credentials.verified = domain.passwords?.get(username) ?? null;
        }
      };
      if (typeof verdict === 'boolean') {
        settle(verdict);
      } else {
        void verdict.then((allowed) => {
          if (this.generation === generation && conn.state === ConnectionState.Connected) {
            settle(allowed);
          }
        });
      }
    }
  }

  /**
   * An HTTP API request (Mosquitto 2.1's http_api check_access()): the Basic credentials
   * authenticate as client "http-api" on the listener, then the request path is checked
   * as a topic with read access. Plugins are asked first, as for MQTT clients.
   */
  async httpRequestAllowed(
    listener: ListenerConfig,
    client: PluginClient,
    password: Buffer | null,
    path: string,
  ): Promise<boolean> {
    const authenticated = await this.authenticate(listener, client.username, password, client);
    return authenticated && this.clientMayRead(listener, client, path);
  }

  /**
   * May this client, which has no session (the dashboard's live message view, for its
   * logged-in user), receive a message on `topic`? The same plugin-then-acl_file order
   * as a session's read check.
   */
  async clientMayRead(
    listener: ListenerConfig,
    client: PluginClient,
    topic: string,
  ): Promise<boolean> {
    if (!this.aclActive) return true;
    const domain = this.domainFor(listener);
    const plugins = this.#plugins;
    if (plugins !== null && plugins.hasAcl) {
      const verdict = await plugins.aclCheck(listener, {
        client,
        access: 'publish-client-receive',
        topic,
        qos: 0,
      });
      if (verdict === 'allow') return true;
      if (verdict === 'deny' || domain.acl === null) return false;
    }
    const rules = domain.acl;
    if (rules === null) return true;
    // Resolved rules per identity are cached: the live view asks once per message.
    return this.#identityAcl(rules, client.clientId, client.username).allows(
      topic,
      AclAccess.Read,
      this.#log,
    );
  }

  // ---- ACL ---------------------------------------------------------------------------

  /**
   * May this session receive a message on `topic`? A Promise while a plugin's answer is
   * pending (it never rejects). Call only while aclActive.
   */
  mayRead(session: Session, topic: string): boolean | Promise<boolean> {
    return this.#sessionAllows(session, topic, AclAccess.Read);
  }

  /** May this session publish to `topic`? (As mayRead.) */
  mayWrite(session: Session, topic: string): boolean | Promise<boolean> {
    return this.#sessionAllows(session, topic, AclAccess.Write);
  }

  get plugins(): PluginHost | null {
    return this.#plugins;
  }

  set plugins(host: PluginHost | null) {
    this.#plugins = host;
    this.messageOutActive = host?.hasMessageOut ?? false;
    this.#updateAclActive();
  }

  /**
   * A subscribe or unsubscribe check (plugins only: the ACL file decides on delivery).
   * Call only while aclActive.
   */
  maySubscribe(
    session: Session,
    filter: string,
    qos: QoS,
    unsubscribe: boolean,
  ): boolean | Promise<boolean> {
    const plugins = this.#plugins;
    const binding = this.#bindingOf(session);
    if (plugins === null || !plugins.hasAcl || binding === null || binding.listener === null) {
      return true;
    }
    const listener = binding.listener;
    const decide = (verdict: AclAnswer): boolean =>
      verdict !== 'deny' && (verdict !== 'defer' || this.domainFor(listener).acl !== null);
    const verdict = plugins.aclCheck(listener, {
      client: pluginClientOf(session, binding),
      access: unsubscribe ? 'unsubscribe' : 'subscribe',
      topic: filter,
      qos,
    });
    return typeof verdict === 'string' ? decide(verdict) : verdict.then(decide);
  }

  /**
   * message-out plugins on one session's copy: null when refused, else the message to
   * deliver (a new one when a plugin changed it).
   */
  messageOut(session: Session, message: StoredMessage): StoredMessage | null {
    const plugins = this.#plugins;
    const binding = this.#bindingOf(session);
    if (plugins === null || binding === null || binding.listener === null) return message;
    const original = {
      topic: message.topic,
      payload: message.payload,
      qos: message.qos,
      retain: message.retain,
      properties: message.properties,
    };
    const verdict = plugins.messageOut(binding.listener, {
      client: pluginClientOf(session, binding),
      message: original,
    });
    if (verdict === 'deny') return null;
    if (verdict === undefined) return message;
    const changed = { ...original, ...verdict };
    return new StoredMessage(
      changed.topic,
      Buffer.from(changed.payload),
      changed.qos,
      changed.retain,
      message.properties,
      message.expiresAt,
      message.sourceClientId,
      message.sourceUsername,
    );
  }

  /**
   * The binding of a session, made from the listener it was admitted through on first
   * use; undefined for a session never admitted (restored from a store and not back yet).
   */
  #bindingOf(session: Session): SessionBinding | null {
    let binding = session.securityBinding;
    if (binding === null && session.securityListener !== null) {
      binding = {
        listener: session.securityListener,
        rules: null,
        clientId: session.clientId,
        username: session.username,
        acl: null,
      };
      session.securityBinding = binding;
    }
    return binding;
  }

  #sessionAllows(
    session: Session,
    topic: string,
    access: RequestedAccess,
  ): boolean | Promise<boolean> {
    const plugins = this.#plugins;
    if (plugins !== null && plugins.hasAcl) {
      const binding = this.#bindingOf(session);
      if (binding !== null && binding.listener !== null) {
        const verdict = this.#pluginAnswer(plugins, session, binding, topic, access);
        if (typeof verdict === 'string') {
          return this.#decide(session, binding.listener, verdict, topic, access);
        }
        const listener = binding.listener;
        return verdict.then((settled) => this.#decide(session, listener, settled, topic, access));
      }
    }
    return this.#fileAllows(session, topic, access);
  }

  /** The plugins' answer for this session, access and topic, remembered (see PluginAclMemo). */
  #pluginAnswer(
    plugins: PluginHost,
    session: Session,
    binding: SessionBinding,
    topic: string,
    access: RequestedAccess,
  ): PluginAnswer {
    const client = pluginClientOf(session, binding);
    let memo = binding.pluginAcl;
    if (memo === undefined || memo.generation !== plugins.aclGeneration || memo.client !== client) {
      memo = { generation: plugins.aclGeneration, client, write: new Map(), read: new Map() };
      binding.pluginAcl = memo;
    }
    const answers = access === AclAccess.Write ? memo.write : memo.read;
    let verdict = answers.get(topic);
    if (verdict !== undefined) return verdict;
    verdict = plugins.aclCheck(binding.listener as ListenerConfig, {
      client,
      access: access === AclAccess.Write ? 'publish-client-send' : 'publish-client-receive',
      topic,
      qos: 0,
    });
    if (answers.size >= PLUGIN_ACL_MEMO_LIMIT) answers.clear();
    answers.set(topic, verdict);
    if (typeof verdict !== 'string') {
      // Checks of the same topic meanwhile share the promise; its answer replaces it.
      const owner = memo;
      void verdict.then((settled) => {
        if (binding.pluginAcl === owner && answers.get(topic) === verdict) {
          answers.set(topic, settled);
        }
      });
    }
    return verdict;
  }

  #decide(
    session: Session,
    listener: ListenerConfig,
    verdict: AclAnswer,
    topic: string,
    access: RequestedAccess,
  ): boolean {
    if (verdict === 'allow') return true;
    if (verdict === 'deny') return false;
    // Every plugin deferred: the ACL file decides, and without one it is a denial.
    if (verdict === 'defer' && this.domainFor(listener).acl === null) return false;
    return this.#fileAllows(session, topic, access);
  }

  #fileAllows(session: Session, topic: string, access: RequestedAccess): boolean {
    let binding = this.#bindingOf(session);
    let domain: SecurityDomain;
    if (binding !== null && binding.listener !== null) {
      domain = this.domainFor(binding.listener);
    }
    // Mosquitto denies a client it cannot place on a listener.
    else if (this.#perListener) {
      return false;
    } else {
      domain = this.#global;
    }
    const rules = domain.acl;
    if (rules === null) return true;
    if (binding === null) {
      binding = { listener: null, rules: null, clientId: '', username: null, acl: null };
      session.securityBinding = binding;
    }
    let acl = binding.acl;
    if (
      acl === null ||
      binding.rules !== rules ||
      binding.clientId !== session.clientId ||
      binding.username !== session.username
    ) {
      acl = rules.forClient(session.clientId, session.username);
      binding.acl = acl;
      binding.rules = rules;
      binding.clientId = session.clientId;
      binding.username = session.username;
    }
    return acl.allows(topic, access, this.#log);
  }

  /**
   * The write check of a will, made when it is published (context__send_will). An allowed
   * retained will is remembered as its topic's source (for check_retain_source).
   */
  mayPublishWill(message: StoredMessage): boolean {
    const owner = this.#wills.get(message);
    if (!this.aclActive) {
      if (owner !== undefined && message.retain) {
        this.noteRetained(message.topic, message.payload.length === 0, owner.listener);
      }
      return true;
    }
    if (owner === undefined) return false;
    const rules = this.domainFor(owner.listener).acl;
    const allowed =
      rules === null ||
      this.#identityAcl(rules, owner.clientId, owner.username).allows(
        message.topic,
        AclAccess.Write,
        this.#log,
      );
    if (allowed && message.retain) {
      this.noteRetained(message.topic, message.payload.length === 0, owner.listener);
    }
    return allowed;
  }

  /** A retained message was set or cleared on `topic` through `listener`. */
  noteRetained(topic: string, cleared: boolean, listener: ListenerConfig): void {
    if (!this.#perListener) return;
    if (cleared) this.#retainedSources.delete(topic);
    else this.#retainedSources.set(topic, listener);
  }

  /**
   * check_retain_source: may the client that published a retained message still publish
   * it? Asked before a retained message goes to a new subscriber (only while aclActive).
   */
  retainSourceAllows(message: StoredMessage): boolean {
    const clientId = message.sourceClientId;
    if (clientId === '') return true;
    let domain: SecurityDomain;
    if (this.#perListener) {
      const listener = this.#retainedSources.get(message.topic);
      if (listener === undefined) return false;
      domain = this.domainFor(listener);
    } else {
      domain = this.#global;
    }
    const rules = domain.acl;
    if (!mayPublish(message.topic)) return false;
    if (rules === null) return true;
    return this.#identityAcl(rules, clientId, message.sourceUsername).allows(
      message.topic,
      AclAccess.Write,
      this.#log,
    );
  }

  #identityAcl(rules: AclRules, clientId: string, username: string | null): ClientAcl {
    let cache = this.#identityAcls.get(rules);
    if (cache === undefined) {
      cache = new Map();
      this.#identityAcls.set(rules, cache);
    }
    const key = username === null ? `${clientId}\u0000` : `${clientId}\u0000\u0000${username}`;
    let acl = cache.get(key);
    if (acl === undefined) {
      if (cache.size >= IDENTITY_CACHE_LIMIT) cache.clear();
      acl = rules.forClient(clientId, username);
      cache.set(key, acl);
    }
    return acl;
  }

  /**
   * On connect, queued and in-flight messages the client may no longer receive (or, for
   * incoming QoS 2, publish) are dropped, e.g. after a change of username
   * (handle_connect.c connection_check_acl).
   */
  #dropForbiddenMessages(session: Session, round = 0): void {
    // A plugin answer still pending keeps its message for now; once the answers are in
    // (remembered per topic) the sweep runs again, once.
    const pending: Promise<boolean>[] = [];
    const allowed = (answer: boolean | Promise<boolean>): boolean => {
      if (typeof answer === 'boolean') return answer;
      pending.push(answer);
      return true;
    };
    if (session.queue.length > 0) {
      session.queue.filter((delivery) => allowed(this.mayRead(session, delivery.message.topic)));
    }
    for (const [packetId, delivery] of session.inflight) {
      if (allowed(this.mayRead(session, delivery.message.topic))) continue;
      session.inflight.delete(packetId);
      session.inflightBytes -= delivery.message.payload.length;
    }
    for (const [packetId, message] of session.incoming) {
      if (!allowed(this.mayWrite(session, message.topic))) session.incoming.delete(packetId);
    }
    if (pending.length > 0 && round === 0) {
      void Promise.all(pending).then(() => {
        this.#dropForbiddenMessages(session, 1);
      });
    }
  }
}
/** The session's client for plugin ACL checks (cached on its binding). */
function pluginClientOf(session: Session, binding: SessionBinding): PluginClient {
  let client = binding.pluginClient;
  if (
    client === undefined ||
    client.clientId !== session.clientId ||
    client.username !== session.username
  ) {
    client = {
      clientId: session.clientId,
      username: session.username,
      address: session.connection?.transport.remoteAddress ?? '',
      protocolVersion: session.protocolVersion,
      listenerPort: session.listenerPort,
    };
    binding.pluginClient = client;
  }
  return client;
}
