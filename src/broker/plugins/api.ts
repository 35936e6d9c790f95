/**
 * The plugin API: what a plugin written in TypeScript or JavaScript sees. Its events
 * mirror Mosquitto 2.1's MOSQ_EVT_* callbacks (basic and extended authentication, ACL
 * check, message in and out, subscribe, unsubscribe, connect, disconnect, tick, reload,
 * control topics). A plugin file exports a definition made with definePlugin(); the
 * broker loads it from a `plugin /path/to/plugin.mjs` line with its `plugin_opt_*` lines.
 *
 *   export default definePlugin({
 *     name: 'only-alice',
 *     init: (ctx) => ({
 *       basicAuth: ({ username }) => (username === 'alice' ? 'allow' : 'deny'),
 *     }),
 *   });
 *
 * Results: 'allow' and 'deny' decide; 'defer' leaves the decision to the next plugin, and
 * when every plugin defers Mosquitto's rules apply (a client without a username is let in
 * if allow_anonymous; anything else is refused). Handlers may be async. A handler that
 * throws, rejects or does not answer within its time limit is logged and counts as
 * 'deny'; the broker goes on serving everyone else.
 */
import type { Buffer } from 'node:buffer';
import type { QoS } from '../../protocol/constants.ts';
import type { Properties } from '../../protocol/packets.ts';

export type PluginResult = 'allow' | 'deny' | 'defer';

/** What an ACL check asks (Mosquitto's MOSQ_ACL_WRITE, _READ, _SUBSCRIBE, _UNSUBSCRIBE). */
export type AclAccess =
  'publish-client-send' | 'publish-client-receive' | 'subscribe' | 'unsubscribe';

/** The client an event is about. */
export interface PluginClient {
  readonly clientId: string;
  readonly username: string | null;
  /** The peer's address ("" for the broker itself). */
  readonly address: string;
  /** 3, 4 or 5. */
  readonly protocolVersion: number;
  /** The listener's port (0 for unix sockets). */
  readonly listenerPort: number;
}

export interface PluginMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: Properties;
}

/** MQTT 5 enhanced authentication: the CONNECT's (or an AUTH's) method and data. */
export interface ExtendedAuthEvent {
  readonly client: PluginClient;
  readonly method: string;
  readonly data: Buffer | null;
  /**
   * False while the client is connecting (CONNECT, then AUTH 0x18 answers); true for a
   * connected client re-authenticating (its AUTH 0x19 starts it, with the CONNECT's
   * method, and its AUTH 0x18 answers continue it), as Mosquitto's auth_start `reauth`.
   * The client keeps its connection and its earlier authentication meanwhile.
   */
  readonly reauthenticating: boolean;
}

/**
 * 'continue' sends the client an AUTH (reason 0x18) with `data` and waits for its answer;
 * 'allow' completes the CONNECT (with `data` in the CONNACK) or the re-authentication
 * (AUTH 0x00 with `data`); 'deny' refuses (CONNACK 0x87, or DISCONNECT 0x87 when
 * re-authenticating); 'defer' leaves the method to another plugin (none: CONNACK 0x8C,
 * bad authentication method, or DISCONNECT 0x8C).
 */
export interface ExtendedAuthAnswer {
  readonly result: 'allow' | 'deny' | 'defer' | 'continue';
  readonly data?: Buffer;
}

export interface BasicAuthEvent {
  readonly client: PluginClient;
  readonly username: string | null;
  readonly password: Buffer | null;
}

export interface AclCheckEvent {
  readonly client: PluginClient;
  readonly access: AclAccess;
  readonly topic: string;
  /** For publish checks: the message (absent for subscribe and unsubscribe). */
  readonly message?: PluginMessage;
  /** For subscribe: the QoS asked for. */
  readonly qos: QoS;
}

/** message-in and message-out: 'deny' refuses the message, or the fields to change. */
export type MessageVerdict = undefined | 'deny' | Partial<Omit<PluginMessage, 'properties'>>;

export interface MessageEvent {
  readonly client: PluginClient;
  readonly message: PluginMessage;
}

/** A subscription made or removed (after the ACL check allowed it). */
export interface SubscriptionEvent {
  readonly client: PluginClient;
  readonly topic: string;
  /** The QoS granted (0 for unsubscribe). */
  readonly qos: QoS;
}

export interface ConnectEvent {
  readonly client: PluginClient;
}

export interface DisconnectEvent {
  readonly client: PluginClient;
  /** Why the connection ended, as Mosquitto's log line says it ("closed its connection"...). */
  readonly reason: string;
}

/** A PUBLISH to one of the plugin's `$CONTROL/...` endpoints. */
export interface ControlEvent {
  readonly client: PluginClient;
  readonly topic: string;
  readonly payload: Buffer;
  /** Publishes the answer on `<topic>/response`. */
  readonly respond: (payload: Buffer | string) => void;
}

/** The handlers a plugin registers; each is optional. */
export interface PluginEvents {
  basicAuth?: (event: BasicAuthEvent) => PluginResult | Promise<PluginResult>;
  /**
   * A CONNECT with an Authentication Method (MQTT 5), or a connected client's AUTH 0x19
   * re-authenticating with that method (`reauthenticating` true).
   */
  extendedAuthStart?: (
    event: ExtendedAuthEvent,
  ) => ExtendedAuthAnswer | Promise<ExtendedAuthAnswer>;
  /** The client's AUTH (0x18) answering a 'continue'. */
  extendedAuthContinue?: (
    event: ExtendedAuthEvent,
  ) => ExtendedAuthAnswer | Promise<ExtendedAuthAnswer>;
  /**
   * Runs for every message on the hot path, so the broker caches each answer per client,
   * access and topic until `aclChanged()` (or SIGHUP). May answer with a Promise: the
   * client's packets after the one being checked (publish, subscribe, unsubscribe) or its
   * deliveries after the one being checked (receive) wait for it, in order, while every
   * other client goes on; one that does not settle within 10 s counts as 'deny'.
   */
  aclCheck?: (event: AclCheckEvent) => PluginResult | Promise<PluginResult>;
  messageIn?: (event: MessageEvent) => MessageVerdict;
  /**
   * One client's copy of a message, before it is queued or sent to it: 'deny' drops that
   * copy, fields returned change it for that client only.
   */
  messageOut?: (event: MessageEvent) => MessageVerdict;
  subscribe?: (event: SubscriptionEvent) => void;
  unsubscribe?: (event: SubscriptionEvent) => void;
  connect?: (event: ConnectEvent) => void;
  disconnect?: (event: DisconnectEvent) => void;
  /** A client whose session outlives the connection went offline (MOSQ_EVT_CLIENT_OFFLINE). */
  clientOffline?: (event: DisconnectEvent) => void;
  /** Once a second. */
  tick?: () => void;
  /** SIGHUP. */
  reload?: (options: ReadonlyMap<string, string>) => void;
  /** `$CONTROL/<endpoint>` topics the plugin answers, e.g. `dynamic-security/v1`. */
  control?: Readonly<Record<string, (event: ControlEvent) => void>>;
  /** The broker is stopping. */
  cleanup?: () => void;
}

export interface PluginLog {
  readonly info: (text: string) => void;
  readonly notice: (text: string) => void;
  readonly warning: (text: string) => void;
  readonly error: (text: string) => void;
}

export interface KickTarget {
  readonly clientId?: string;
  readonly username?: string;
  readonly anonymous?: boolean;
}

/** What the broker gives a plugin at init. */
export interface PluginContext {
  /** The `plugin_opt_<key> <value>` lines, by key (without the prefix). */
  readonly options: ReadonlyMap<string, string>;
  readonly log: PluginLog;
  /** Publishes a message from the broker itself. */
  readonly publish: (topic: string, payload: Buffer | string, qos: QoS, retain: boolean) => void;
  /**
   * Disconnects the clients with this username or client id, or (`anonymous`) every client
   * without a username (mosquitto_kick_client_by_*).
   */
  readonly kick: (who: KickTarget) => void;
  /**
   * The plugin's ACL answers may have changed: the broker caches aclCheck() answers per
   * client, access and topic until this is called (or SIGHUP).
   */
  readonly aclChanged: () => void;
}

export interface PluginDefinition {
  readonly name: string;
  readonly init: (context: PluginContext) => PluginEvents | Promise<PluginEvents>;
}

/** Typed identity: `export default definePlugin({ name, init })`. */
export function definePlugin(definition: PluginDefinition): PluginDefinition {
  return definition;
}
