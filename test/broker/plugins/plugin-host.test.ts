/**
 * PluginHost.basicAuth on its own: plugins that answer at once are settled at once (a
 * plain value, no promise: the connect carries on in the same turn of the event loop, see
 * README "Dynamic security"), the first plugin answering with a promise makes the rest
 * of the chain wait for it, and faults and timeouts still deny.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { ManualClock } from '../../../src/common/clock.ts';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import { AUTH_TIMEOUT_MS, PluginHost } from '../../../src/broker/plugins/host.ts';
import type { PluginDefinition, PluginEvents } from '../../../src/broker/plugins/api.ts';
import { defaultConfig, defaultSecurity } from '../../../src/broker/config/types.ts';
import type {
  BrokerConfig,
  ListenerConfig,
  PluginConfig,
} from '../../../src/broker/config/types.ts';

interface Loaded {
  readonly host: PluginHost;
  readonly listener: ListenerConfig;
  readonly clock: ManualClock;
  readonly log: MemoryLog;
}

/** A host with one plugin per entry of `chain`, asked in that order. */
async function hostWith(chain: readonly PluginEvents['basicAuth'][]): Promise<Loaded> {
  const configs: PluginConfig[] = chain.map((_, i) => ({
    path: `plugin-${String(i)}`,
    options: [],
    denySpecialChars: true,
  }));
  const base = defaultConfig([0]);
  const security = { ...defaultSecurity(false), plugins: configs };
  const config: BrokerConfig = { ...base, security };
  const clock = new ManualClock();
  const log = new MemoryLog();
  const definitions = new Map<PluginConfig, PluginDefinition>(
    configs.map((pluginConfig, i) => [
      pluginConfig,
      {
        name: `p${String(i)}`,
        init: () => {
          const handler = chain[i];
          return handler === undefined ? {} : { basicAuth: handler };
        },
      },
    ]),
  );
  const host = await PluginHost.load(
    { log, clock, publish: () => undefined, kick: () => undefined },
    config,
    (pluginConfig) => Promise.resolve(definitions.get(pluginConfig) ?? null),
  );
  assert.ok(host !== null);
  const listener = config.listeners[0];
  assert.ok(listener !== undefined);
  return { host, listener, clock, log };
}

const event = {
  client: {
    clientId: 'c1',
    username: 'alice',
    address: '127.0.0.1',
    protocolVersion: 4 as const,
    listenerPort: 1883,
  },
  username: 'alice',
  password: Buffer.from('pw'),
};

describe('PluginHost.basicAuth', () => {
  test('plugins answering at once are answered at once, not through a promise', async () => {
    const { host, listener } = await hostWith([() => 'defer', () => 'allow']);
    assert.equal(host.basicAuth(listener, event), 'allow');
    const denying = await hostWith([() => 'deny', () => 'allow']);
    assert.equal(denying.host.basicAuth(denying.listener, event), 'deny');
    const deferring = await hostWith([() => 'defer']);
    assert.equal(deferring.host.basicAuth(deferring.listener, event), 'defer');
  });

  test('a throwing or misbehaving plugin denies at once', async () => {
    const throwing = await hostWith([
      () => {
        throw new Error('boom');
      },
      () => 'allow',
    ]);
    assert.equal(throwing.host.basicAuth(throwing.listener, event), 'deny');
    assert.ok(throwing.log.lines.some((l) => l.message.includes('basic auth failed: boom')));
    const odd = await hostWith([() => 42 as unknown as 'allow']);
    assert.equal(odd.host.basicAuth(odd.listener, event), 'deny');
  });

  test('a promise makes the rest of the chain wait for it', async () => {
    const asked: string[] = [];
    const { host, listener } = await hostWith([
      () => {
        asked.push('first');
        return 'defer';
      },
      async (): Promise<'defer'> => {
        asked.push('second');
        await Promise.resolve();
        return 'defer';
      },
      () => {
        asked.push('third');
        return 'allow';
      },
    ]);
    const answer = host.basicAuth(listener, event);
    assert.ok(answer instanceof Promise);
    assert.deepEqual(asked, ['first', 'second']);
    assert.equal(await answer, 'allow');
    assert.deepEqual(asked, ['first', 'second', 'third']);
  });

  test('a rejected or unanswered promise denies', async () => {
    const rejecting = await hostWith([() => Promise.reject(new Error('nope'))]);
    assert.equal(await rejecting.host.basicAuth(rejecting.listener, event), 'deny');
    const silent = await hostWith([() => new Promise(() => undefined)]);
    const answer = silent.host.basicAuth(silent.listener, event);
    await new Promise((resolve) => setImmediate(resolve));
    silent.clock.advance(AUTH_TIMEOUT_MS);
    assert.equal(await answer, 'deny');
    assert.ok(silent.log.lines.some((l) => l.message.includes('did not answer in time')));
  });
});
