/**
 * PluginHost: the loaded plugins and the one place the broker calls them. As in
 * Mosquitto, `global_plugin`s serve every listener and come first, then the `plugin`s of
 * the client's security domain (global, or its listener's with per_listener_settings), in
 * configuration order; the first 'allow' or 'deny' decides. A handler that throws, returns
 * something else, or (auth, ACL check) does not settle within AUTH_TIMEOUT_MS is logged and
 * counts as 'deny': a plugin's fault never stops the broker or lets a client in.
 */
import type { Buffer } from 'node:buffer';
import type { Clock, TimerHandle } from '../../common/clock.ts';
import type { QoS } from '../../protocol/constants.ts';
import type { BrokerLog } from '../broker-log.ts';
import type { BrokerConfig, ListenerConfig, PluginConfig } from '../config/types.ts';
import type {
  AclCheckEvent,
  BasicAuthEvent,
  ControlEvent,
  DisconnectEvent,
  KickTarget,
  ExtendedAuthAnswer,
  ExtendedAuthEvent,
  MessageEvent,
  MessageVerdict,
  PluginClient,
  PluginContext,
  PluginDefinition,
  PluginEvents,
  PluginResult,
  SubscriptionEvent,
} from './api.ts';

/** A basic-auth, extended-auth or ACL-check handler answering with a Promise has this long. */
export const AUTH_TIMEOUT_MS = 10_000;

/** A plugin chain's ACL answer: 'none' when no plugin checks ACLs for the listener. */
export type AclAnswer = PluginResult | 'none';
const TICK_MS = 1000;
/** What the timer of a pending basic-auth answer resolves with. */
const TIMED_OUT = Symbol('timed out');

/** What plugins may do to the broker (given by the broker, so the host does not import it). */
export interface PluginBroker {
  readonly log: BrokerLog;
  readonly clock: Clock;
  publish(topic: string, payload: Buffer | string, qos: QoS, retain: boolean): void;
  kick(who: KickTarget): void;
}

/** Finds the definition a `plugin` line names (built in, or a JavaScript module). */
export type PluginResolver = (config: PluginConfig) => Promise<PluginDefinition | null>;

interface LoadedPlugin {
  readonly name: string;
  readonly config: PluginConfig;
  readonly events: PluginEvents;
}

export class PluginError extends Error {
  override readonly name = 'PluginError';
}

function optionsOf(config: PluginConfig): Map<string, string> {
  return new Map(config.options.map(([key, value]) => [key, value]));
}

export class PluginHost {
  readonly #broker: PluginBroker;
  readonly #global: LoadedPlugin[];
  readonly #byConfig = new Map<PluginConfig, LoadedPlugin>();
  #config: BrokerConfig;
  readonly #controls = new Map<
    string,
    { plugin: LoadedPlugin; handler: (e: ControlEvent) => void }
  >();
  /** Some plugin checks ACLs: the broker must ask (its fast path skips them otherwise). */
  readonly hasAcl: boolean;
  readonly hasMessageIn: boolean;
  readonly hasMessageOut: boolean;
  /** Some plugin does MQTT 5 enhanced authentication (AUTH packets are read then). */
  readonly hasExtendedAuth: boolean;
  /** Some plugin wants connect events (the broker describes the client only then). */
  readonly hasConnect: boolean;
  #tick: TimerHandle | null = null;
  /** Each listener's plugins in the order they are asked (worked out once). */
  readonly #chains = new Map<ListenerConfig, LoadedPlugin[]>();
  #aclGeneration = 0;

  private constructor(broker: PluginBroker, config: BrokerConfig, loaded: LoadedPlugin[]) {
    this.#broker = broker;
    this.#config = config;
    const globals = new Set(config.globalPlugins ?? []);
    this.#global = loaded.filter((p) => globals.has(p.config));
    for (const plugin of loaded) {
      this.#byConfig.set(plugin.config, plugin);
      for (const [endpoint, handler] of Object.entries(plugin.events.control ?? {})) {
        this.#controls.set(`$CONTROL/${endpoint}`, { plugin, handler });
      }
    }
    this.hasAcl = loaded.some((p) => p.events.aclCheck !== undefined);
    this.hasMessageIn = loaded.some((p) => p.events.messageIn !== undefined);
    this.hasMessageOut = loaded.some((p) => p.events.messageOut !== undefined);
    this.hasExtendedAuth = loaded.some((p) => p.events.extendedAuthStart !== undefined);
    this.hasConnect = loaded.some((p) => p.events.connect !== undefined);
    if (loaded.some((p) => p.events.tick !== undefined)) this.#scheduleTick();
  }

  /**
   * Loads every plugin line of the configuration (global_plugin first). Throws
   * PluginError, naming the file, for one that cannot be loaded or whose init fails.
   */
  static async load(
    broker: PluginBroker,
    config: BrokerConfig,
    resolve: PluginResolver,
  ): Promise<PluginHost | null> {
    const configs = [
      ...(config.globalPlugins ?? []),
      ...(config.security.plugins ?? []),
      ...config.listeners.flatMap((l) => l.security.plugins ?? []),
    ];
    const loaded: LoadedPlugin[] = [];
    const seen = new Set<PluginConfig>();
    // Made after every init; a plugin's aclChanged() before that has nothing to clear.
    let host: PluginHost | null = null;
    for (const pluginConfig of configs) {
      if (seen.has(pluginConfig)) continue;
      seen.add(pluginConfig);
      const definition = await resolve(pluginConfig);
      if (definition === null) continue;
      const context = contextFor(broker, pluginConfig, definition.name, () => {
        host?.aclChanged();
      });
      let events: PluginEvents;
      try {
        events = await definition.init(context);
      } catch (error) {
        throw new PluginError(
          `Error: Plugin ${pluginConfig.path} failed to initialise: ${errorText(error)}`,
        );
      }
      broker.log.info(`Plugin ${definition.name} loaded from ${pluginConfig.path}.`);
      loaded.push({ name: definition.name, config: pluginConfig, events });
    }
    if (loaded.length === 0) return null;
    host = new PluginHost(broker, config, loaded);
    return host;
  }

  /** A plugin's ACL answers changed: cached answers are dropped. */
  aclChanged(): void {
    this.#aclGeneration++;
  }

  /** The plugins deciding for clients of `listener`, in the order they are asked. */
  #chain(listener: ListenerConfig): readonly LoadedPlugin[] {
    let chain = this.#chains.get(listener);
    if (chain !== undefined) return chain;
    const own = this.#config.perListenerSettings
      ? (listener.security.plugins ?? [])
      : (this.#config.security.plugins ?? []);
    chain = [...this.#global];
    for (const config of own) {
      const plugin = this.#byConfig.get(config);
      if (plugin !== undefined) chain.push(plugin);
    }
    this.#chains.set(listener, chain);
    return chain;
  }

  /**
   * Bumped when a plugin says its ACL answers changed (context.aclChanged()) and on
   * SIGHUP: the broker caches ACL answers per client and topic until then.
   */
  get aclGeneration(): number {
    return this.#aclGeneration;
  }

  // ---- Authentication ----------------------------------------------------------------

  /** Whether any plugin answers basic auth for this listener's clients. */
  hasBasicAuth(listener: ListenerConfig): boolean {
    return this.#chain(listener).some((p) => p.events.basicAuth !== undefined);
  }

  /**
   * MOSQ_EVT_BASIC_AUTH through the chain: 'defer' when every plugin deferred. Handlers
   * that answer at once are settled at once (no promise, no timer: a connect with the
   * dynsec plugin costs no more turns of the event loop than one without); the first that
   * returns a promise makes the rest of the chain wait for it, with AUTH_TIMEOUT_MS.
   */
  basicAuth(listener: ListenerConfig, event: BasicAuthEvent): PluginResult | Promise<PluginResult> {
    return this.#basicAuthFrom(this.#chain(listener), 0, event);
  }

  #basicAuthFrom(
    chain: readonly LoadedPlugin[],
    start: number,
    event: BasicAuthEvent,
  ): PluginResult | Promise<PluginResult> {
    for (let i = start; i < chain.length; i++) {
      const plugin = chain[i];
      const handler = plugin?.events.basicAuth;
      if (plugin === undefined || handler === undefined) continue;
      let answer: unknown;
      try {
        answer = handler(event);
      } catch (error) {
        return this.#failed(plugin, 'basic auth', error);
      }
      if (isThenable(answer)) {
        return this.#settle(plugin, 'basic auth', answer).then((result) =>
          result === 'defer' ? this.#basicAuthFrom(chain, i + 1, event) : result,
        );
      }
      const result = checkResult(this.#broker, plugin, 'basic auth', answer);
      if (result !== 'defer') return result;
    }
    return 'defer';
  }

  /** A plugin's promised answer, or 'deny' when it rejects or is not there in time. */
  async #settle(
    plugin: LoadedPlugin,
    what: string,
    answer: PromiseLike<unknown>,
  ): Promise<PluginResult> {
    let result: unknown;
    try {
      result = await this.#withinTimeLimit(answer);
    } catch (error) {
      return this.#failed(plugin, what, error);
    }
    if (result === TIMED_OUT) {
      this.#broker.log.error(`Plugin ${plugin.name}: ${what} did not answer in time; denied.`);
      return 'deny';
    }
    return checkResult(this.#broker, plugin, what, result);
  }

  #failed(plugin: LoadedPlugin, what: string, error: unknown): 'deny' {
    this.#broker.log.error(`Plugin ${plugin.name}: ${what} failed: ${errorText(error)}; denied.`);
    return 'deny';
  }

  /**
   * Enhanced authentication, start or continue: the first plugin that does not defer
   * answers. A fault or a bad answer is a denial.
   */
  async extendedAuth(
    listener: ListenerConfig,
    step: 'start' | 'continue',
    event: ExtendedAuthEvent,
  ): Promise<ExtendedAuthAnswer> {
    for (const plugin of this.#chain(listener)) {
      const handler =
        step === 'start' ? plugin.events.extendedAuthStart : plugin.events.extendedAuthContinue;
      if (handler === undefined) continue;
      let answer: ExtendedAuthAnswer | typeof TIMED_OUT;
      try {
        answer = await this.#withinTimeLimit(handler(event));
      } catch (error) {
        this.#broker.log.error(
          `Plugin ${plugin.name}: extended auth failed: ${errorText(error)}; denied.`,
        );
        return { result: 'deny' };
      }
      if (answer === TIMED_OUT) {
        this.#broker.log.error(
          `Plugin ${plugin.name}: extended auth did not answer in time; denied.`,
        );
        return { result: 'deny' };
      }
      const result = (answer as { result?: unknown } | null)?.result;
      if (result === 'defer') continue;
      if (result === 'allow' || result === 'deny' || result === 'continue') return answer;
      this.#broker.log.error(`Plugin ${plugin.name}: extended auth answered badly; denied.`);
      return { result: 'deny' };
    }
    return { result: 'defer' };
  }

  /**
   * A handler's answer, or TIMED_OUT after AUTH_TIMEOUT_MS (a plain answer as it is). Also
   * for a connected client's re-authentication, which has no CONNECT deadline to end a
   * plugin that never answers.
   */
  async #withinTimeLimit<T>(answer: T | PromiseLike<T>): Promise<T | typeof TIMED_OUT> {
    if (!isThenable(answer)) return answer;
    const pending: { timer: TimerHandle | null } = { timer: null };
    try {
      return await Promise.race([
        answer,
        new Promise<typeof TIMED_OUT>((resolve) => {
          pending.timer = this.#broker.clock.setTimer(() => {
            resolve(TIMED_OUT);
          }, AUTH_TIMEOUT_MS);
        }),
      ]);
    } finally {
      if (pending.timer !== null) this.#broker.clock.cancel(pending.timer);
    }
  }

  // ---- ACL ---------------------------------------------------------------------------

  /**
   * MOSQ_EVT_ACL_CHECK through the chain. 'defer' when every plugin deferred or none
   * checks ACLs (the ACL file, if any, decides then). A handler that answers with a
   * Promise makes the rest of the chain wait for it (at most AUTH_TIMEOUT_MS, then
   * 'deny'): the answer is a Promise then, which never rejects.
   */
  aclCheck(listener: ListenerConfig, event: AclCheckEvent): AclAnswer | Promise<AclAnswer> {
    return this.#aclFrom(this.#chain(listener), 0, event, false);
  }

  #aclFrom(
    chain: readonly LoadedPlugin[],
    start: number,
    event: AclCheckEvent,
    asked: boolean,
  ): AclAnswer | Promise<AclAnswer> {
    for (let i = start; i < chain.length; i++) {
      const plugin = chain[i] as LoadedPlugin;
      const handler = plugin.events.aclCheck;
      if (handler === undefined) continue;
      asked = true;
      let result: unknown;
      try {
        result = handler(event);
      } catch (error) {
        this.#broker.log.error(
          `Plugin ${plugin.name}: ACL check failed: ${errorText(error)}; denied.`,
        );
        return 'deny';
      }
      if (isThenable(result)) {
        return this.#settle(plugin, 'ACL check', result).then((verdict) =>
          verdict === 'defer' ? this.#aclFrom(chain, i + 1, event, true) : verdict,
        );
      }
      const verdict = checkResult(this.#broker, plugin, 'ACL check', result);
      if (verdict !== 'defer') return verdict;
    }
    return asked ? 'defer' : 'none';
  }

  // ---- Messages, control topics, lifecycle events -----------------------------------

  /** MOSQ_EVT_MESSAGE_IN: 'deny' refuses the message; an object changes it. */
  messageIn(listener: ListenerConfig, event: MessageEvent): MessageVerdict {
    return this.#message('messageIn', listener, event);
  }

  /** MOSQ_EVT_MESSAGE_OUT, for one client's copy. */
  messageOut(listener: ListenerConfig, event: MessageEvent): MessageVerdict {
    return this.#message('messageOut', listener, event);
  }

  #message(
    kind: 'messageIn' | 'messageOut',
    listener: ListenerConfig,
    event: MessageEvent,
  ): MessageVerdict {
    let current = event.message;
    for (const plugin of this.#chain(listener)) {
      const handler = plugin.events[kind];
      if (handler === undefined) continue;
      let verdict: MessageVerdict;
      try {
        verdict = handler({ client: event.client, message: current });
      } catch (error) {
        this.#broker.log.error(
          `Plugin ${plugin.name}: message check failed: ${errorText(error)}; refused.`,
        );
        return 'deny';
      }
      if (verdict === 'deny') return 'deny';
      if (verdict !== undefined) current = { ...current, ...verdict };
    }
    return current === event.message ? undefined : current;
  }

  /** Whether a plugin answers this `$CONTROL/...` topic (it then gets the message). */
  control(topic: string, client: PluginClient, payload: Buffer): boolean {
    const entry = this.#controls.get(topic);
    if (entry === undefined) return false;
    const broker = this.#broker;
    try {
      entry.handler({
        client,
        topic,
        payload,
        // QoS 0, not retained, as Mosquitto's plugins answer.
        respond: (answer) => {
          broker.publish(`${topic}/response`, answer, 0, false);
        },
      });
    } catch (error) {
      broker.log.error(`Plugin ${entry.plugin.name}: ${topic} failed: ${errorText(error)}.`);
    }
    return true;
  }

  connected(listener: ListenerConfig, client: PluginClient): void {
    for (const plugin of this.#chain(listener))
      this.#notify(plugin, 'connect', () => plugin.events.connect?.({ client }));
  }

  subscribed(listener: ListenerConfig, event: SubscriptionEvent, removed: boolean): void {
    for (const plugin of this.#chain(listener)) {
      this.#notify(plugin, removed ? 'unsubscribe' : 'subscribe', () => {
        (removed ? plugin.events.unsubscribe : plugin.events.subscribe)?.(event);
      });
    }
  }

  wentOffline(listener: ListenerConfig, event: DisconnectEvent): void {
    for (const plugin of this.#chain(listener)) {
      this.#notify(plugin, 'client offline', () => {
        plugin.events.clientOffline?.(event);
      });
    }
  }

  disconnected(listener: ListenerConfig, event: DisconnectEvent): void {
    for (const plugin of this.#chain(listener))
      this.#notify(plugin, 'disconnect', () => plugin.events.disconnect?.(event));
  }

  /** SIGHUP: each plugin gets its (re-read) options. */
  reload(config: BrokerConfig): void {
    this.#config = { ...config, listeners: this.#config.listeners };
    this.#chains.clear();
    this.#aclGeneration++;
    for (const plugin of this.#byConfig.values()) {
      this.#notify(plugin, 'reload', () => plugin.events.reload?.(optionsOf(plugin.config)));
    }
  }

  close(): void {
    if (this.#tick !== null) this.#broker.clock.cancel(this.#tick);
    this.#tick = null;
    for (const plugin of this.#byConfig.values())
      this.#notify(plugin, 'cleanup', () => plugin.events.cleanup?.());
  }

  #scheduleTick(): void {
    this.#tick = this.#broker.clock.setTimer(() => {
      for (const plugin of this.#byConfig.values())
        this.#notify(plugin, 'tick', () => plugin.events.tick?.());
      this.#scheduleTick();
    }, TICK_MS);
  }

  #notify(plugin: LoadedPlugin, what: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#broker.log.error(`Plugin ${plugin.name}: ${what} failed: ${errorText(error)}.`);
    }
  }
}

/** A plugin handler's promise (or anything with a then()), as opposed to a plain answer. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function checkResult(
  broker: PluginBroker,
  plugin: LoadedPlugin,
  what: string,
  result: unknown,
): PluginResult {
  if (result === 'allow' || result === 'deny' || result === 'defer') return result;
  broker.log.error(`Plugin ${plugin.name}: ${what} answered ${String(result)}; denied.`);
  return 'deny';
}

function contextFor(
  broker: PluginBroker,
  config: PluginConfig,
  name: string,
  aclChanged: () => void,
): PluginContext {
  const prefix = `Plugin ${name}: `;
  return {
    options: optionsOf(config),
    log: {
      info: (text) => {
        broker.log.info(prefix + text);
      },
      notice: (text) => {
        broker.log.notice(prefix + text);
      },
      warning: (text) => {
        broker.log.warning(prefix + text);
      },
      error: (text) => {
        broker.log.error(prefix + text);
      },
    },
    publish: (topic, payload, qos, retain) => {
      broker.publish(topic, payload, qos, retain);
    },
    kick: (who) => {
      broker.kick(who);
    },
    aclChanged,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
