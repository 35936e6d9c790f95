/**
 * MQTT 5 re-authentication [MQTT-4.12.1] through the plugin API, over real sockets with raw
 * packets: a connected client's AUTH 0x19 goes to extendedAuthStart (`reauthenticating`),
 * its AUTH 0x18 answers to extendedAuthContinue, and the broker ends with AUTH 0x00 or a
 * DISCONNECT. The expected bytes are what Mosquitto 2.0.22 sent to the same exchanges with
 * its test plugins (auth_plugin_extended_multiple.c, auth_plugin_extended_reauth.c), apart
 * from the second DISCONNECT 0x82 it sends after the first (DEVIATIONS.md).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type {
  ExtendedAuthAnswer,
  ExtendedAuthEvent,
  PluginDefinition,
} from '../../../src/broker/plugins/api.ts';
import { AUTH_TIMEOUT_MS } from '../../../src/broker/plugins/host.ts';
import type { TestBroker } from '../../helpers/broker.ts';
import { startTestBroker, waitFor } from '../../helpers/broker.ts';
import type { RawClient } from '../../helpers/raw-client.ts';
import type { WireProperty } from '../../helpers/packet-bytes.ts';
import { frame, hex, pingreq, properties, publish, subscribe } from '../../helpers/packet-bytes.ts';

const MAGIC = 'supercalifragilisticexpialidocious';

const brokers: TestBroker[] = [];
after(async () => {
  for (const b of brokers) await b.close();
});

/** What the plugin was asked, in order: step, whether re-authenticating, and the data. */
interface Call {
  readonly step: 'start' | 'continue';
  readonly reauthenticating: boolean;
  readonly data: string | null;
}

/**
 * A broker whose one plugin answers the method `mirror` (and defers others): `start` and
 * `resume` decide each step; every call is recorded.
 */
async function brokerWith(
  start: (event: ExtendedAuthEvent) => ExtendedAuthAnswer | Promise<ExtendedAuthAnswer>,
  resume: (event: ExtendedAuthEvent) => ExtendedAuthAnswer | Promise<ExtendedAuthAnswer> = () => ({
    result: 'deny',
  }),
  options: { manualClock?: boolean } = {},
): Promise<{ broker: TestBroker; calls: Call[] }> {
  const calls: Call[] = [];
  const record = (step: Call['step'], event: ExtendedAuthEvent): void => {
    calls.push({
      step,
      reauthenticating: event.reauthenticating,
      data: event.data === null ? null : event.data.toString(),
    });
  };
  const definition: PluginDefinition = {
    name: 'mirror',
    init: () => ({
      extendedAuthStart: (event) => {
        if (event.method !== 'mirror') return { result: 'defer' };
        record('start', event);
        return start(event);
      },
      extendedAuthContinue: (event) => {
        record('continue', event);
        return resume(event);
      },
    }),
  };
  const broker = await startTestBroker({
    plugins: [{ definition }],
    ...(options.manualClock === true ? { manualClock: true } : {}),
  });
  brokers.push(broker);
  return { broker, calls };
}

/** Mosquitto's test plugin: continue with the data reversed, then allow the magic word. */
const mirrorStart = ({ data }: ExtendedAuthEvent): ExtendedAuthAnswer => ({
  result: 'continue',
  data: Buffer.from([...(data ?? Buffer.alloc(0))].reverse()),
});
const magicContinue = ({ data }: ExtendedAuthEvent): ExtendedAuthAnswer => ({
  result: data?.toString() === MAGIC ? 'allow' : 'deny',
});

function authProperties(method: string | null, data?: string): WireProperty[] {
  return [
    ...(method === null ? [] : [{ id: 0x15, value: method }]),
    ...(data === undefined ? [] : [{ id: 0x16, value: Buffer.from(data) }]),
  ];
}

function auth(reasonCode: number, method: string | null, data?: string): Buffer {
  return frame(0xf0, Buffer.from([reasonCode]), properties(authProperties(method, data)));
}

/** Connects with method `mirror` and data `step1`, answering the challenge. */
async function connectMirror(b: TestBroker, clientId = 'c'): Promise<RawClient> {
  const { client, connack: challenge } = await b.rawConnect({
    version: 5,
    clientId,
    properties: authProperties('mirror', 'step1'),
  });
  assert.deepEqual(challenge, auth(0x18, 'mirror', '1pets'));
  client.send(auth(0x18, 'mirror', MAGIC));
  const connack = await client.expectPacket();
  assert.equal(connack[0], 0x20);
  assert.equal(connack[3], 0x00, 'CONNACK success');
  return client;
}

async function expectDisconnect(client: RawClient, reasonCode: number): Promise<void> {
  assert.deepEqual(await client.expectPacket(), Buffer.from([0xe0, 0x01, reasonCode]));
  await client.expectClosed();
}

describe('MQTT 5 re-authentication through plugins', () => {
  test('multi-step: AUTH 0x19, AUTH 0x18 both ways, then AUTH 0x00; again later', async () => {
    const { broker: b, calls } = await brokerWith(mirrorStart, magicContinue);
    const client = await connectMirror(b);
    for (let round = 0; round < 2; round++) {
      client.send(auth(0x19, 'mirror', 'step1'));
      assert.deepEqual(await client.expectPacket(), auth(0x18, 'mirror', '1pets'));
      client.send(auth(0x18, 'mirror', MAGIC));
      // Mosquitto 2.0.22: f0 0b 00 09 15 00 06 "mirror" (no data: the plugin gave none).
      assert.deepEqual(await client.expectPacket(), hex('f0 0b 00 09 15 00 06 6d 69 72 72 6f 72'));
      client.send(pingreq());
      assert.deepEqual(await client.expectPacket(), hex('d0 00'));
    }
    assert.deepEqual(calls, [
      { step: 'start', reauthenticating: false, data: 'step1' },
      { step: 'continue', reauthenticating: false, data: MAGIC },
      { step: 'start', reauthenticating: true, data: 'step1' },
      { step: 'continue', reauthenticating: true, data: MAGIC },
      { step: 'start', reauthenticating: true, data: 'step1' },
      { step: 'continue', reauthenticating: true, data: MAGIC },
    ]);
  });

  test("single step: an 'allow' at once answers AUTH 0x00 with the plugin's data", async () => {
    const { broker: b } = await brokerWith(({ reauthenticating }) =>
      reauthenticating ? { result: 'allow', data: Buffer.from('renewed') } : { result: 'allow' },
    );
    const { client, connack } = await b.rawConnect({
      version: 5,
      clientId: 'single',
      properties: authProperties('mirror', 'token-1'),
    });
    assert.equal(connack[3], 0x00);
    client.send(auth(0x19, 'mirror', 'token-2'));
    assert.deepEqual(await client.expectPacket(), auth(0x00, 'mirror', 'renewed'));
  });

  test('the client keeps publishing and receiving while the plugin decides', async () => {
    let release: (answer: ExtendedAuthAnswer) => void = () => undefined;
    const { broker: b, calls } = await brokerWith((event) =>
      event.reauthenticating
        ? new Promise<ExtendedAuthAnswer>((resolve) => {
            release = resolve;
          })
        : { result: 'allow' },
    );
    const { client } = await b.rawConnect({
      version: 5,
      clientId: 'busy',
      properties: authProperties('mirror', 'token'),
    });
    client.send(
      subscribe({ version: 5, packetId: 1, subscriptions: [{ filter: 't', options: 1 }] }),
    );
    assert.deepEqual(await client.expectPacket(), hex('90 04 00 01 00 01'), 'SUBACK');
    client.send(auth(0x19, 'mirror', 'token'));
    await waitFor(() => calls.length === 2);
    client.send(publish({ version: 5, topic: 't', payload: 'during', qos: 1, packetId: 7 }));
    const received = [await client.expectPacket(), await client.expectPacket()];
    const puback = received.find((p) => p[0] === 0x40);
    const message = received.find((p) => (p[0] ?? 0) >> 4 === 3);
    assert.ok(puback !== undefined && message !== undefined, 'PUBACK and the message itself');
    assert.ok(message.includes(Buffer.from('during')));
    release({ result: 'allow' });
    assert.deepEqual(await client.expectPacket(), auth(0x00, 'mirror'));
  });

  test("'deny' during re-authentication: DISCONNECT 0x87 and the connection closes", async () => {
    const { broker: b } = await brokerWith(mirrorStart, magicContinue);
    const client = await connectMirror(b, 'denied');
    client.send(auth(0x19, 'mirror', 'step1'));
    assert.deepEqual(await client.expectPacket(), auth(0x18, 'mirror', '1pets'));
    client.send(auth(0x18, 'mirror', 'wrong'));
    await expectDisconnect(client, 0x87);
    // Mosquitto logs it as a protocol error (its handler returns MOSQ_ERR_PROTOCOL).
    await waitFor(() =>
      b.log.messages().some((l) => l.includes('Client denied disconnected due to protocol error.')),
    );
  });

  test("'deny' at the first step, like Mosquitto's 09-extended-auth-reauth", async () => {
    const { broker: b } = await brokerWith(({ reauthenticating }) => ({
      result: reauthenticating ? 'deny' : 'allow',
    }));
    const { client, connack } = await b.rawConnect({
      version: 5,
      clientId: 'client-params-test',
      properties: authProperties('mirror', 'repeat'),
    });
    assert.equal(connack[3], 0x00);
    client.send(auth(0x19, 'mirror', 'repeat'));
    await expectDisconnect(client, 0x87);
  });

  test('a plugin that throws denies; one that defers leaves no method: 0x8C', async () => {
    const { broker: b } = await brokerWith(({ reauthenticating, data }) => {
      if (!reauthenticating) return { result: 'allow' };
      if (data?.toString() === 'throw') throw new Error('boom');
      return { result: 'defer' };
    });
    const connectWith = async (clientId: string): Promise<RawClient> => {
      const { client, connack } = await b.rawConnect({
        version: 5,
        clientId,
        properties: authProperties('mirror', 'x'),
      });
      assert.equal(connack[3], 0x00);
      return client;
    };
    const thrower = await connectWith('thrower');
    thrower.send(auth(0x19, 'mirror', 'throw'));
    await expectDisconnect(thrower, 0x87);
    assert.ok(
      b.log.messages().some((l) => l.includes('Plugin mirror: extended auth failed: boom')),
    );
    const deferred = await connectWith('deferred');
    deferred.send(auth(0x19, 'mirror', 'defer'));
    await expectDisconnect(deferred, 0x8c);
  });

  test('a plugin that does not answer in time denies', async () => {
    const { broker: b, calls } = await brokerWith(
      ({ reauthenticating }) =>
        reauthenticating ? new Promise<ExtendedAuthAnswer>(() => undefined) : { result: 'allow' },
      undefined,
      { manualClock: true },
    );
    const { client } = await b.rawConnect({
      version: 5,
      clientId: 'slow',
      properties: authProperties('mirror', 'x'),
    });
    client.send(auth(0x19, 'mirror', 'x'));
    await waitFor(() => calls.length === 2);
    b.clock.advance(AUTH_TIMEOUT_MS - 1);
    assert.equal((await client.next(50)).kind, 'timeout', 'still waiting');
    b.clock.advance(1);
    await expectDisconnect(client, 0x87);
    assert.ok(
      b.log.messages().some((l) => l.includes('extended auth did not answer in time; denied.')),
    );
  });

  test('another method, no method, or AUTH 0x19 during one: protocol errors', async () => {
    const { broker: b, calls } = await brokerWith(mirrorStart, magicContinue);
    const other = await connectMirror(b, 'other');
    other.send(auth(0x19, 'badmethod', 'step1'));
    await expectDisconnect(other, 0x82);
    // No Authentication Method property: Mosquitto answers 0x80.
    const none = await connectMirror(b, 'none');
    none.send(auth(0x19, null, 'step1'));
    await expectDisconnect(none, 0x80);
    const twice = await connectMirror(b, 'twice');
    twice.send(auth(0x19, 'mirror', 'step1'));
    assert.deepEqual(await twice.expectPacket(), auth(0x18, 'mirror', '1pets'));
    twice.send(auth(0x19, 'mirror', 'step1'));
    await expectDisconnect(twice, 0x82);
    // An AUTH 0x18 with nothing to continue.
    const stray = await connectMirror(b, 'stray');
    stray.send(auth(0x18, 'mirror', MAGIC));
    await expectDisconnect(stray, 0x82);
    // Only the CONNECT exchanges and the one re-authentication reached the plugin.
    assert.equal(calls.filter((c) => c.reauthenticating).length, 1);
  });

  test('AUTH 0x19 from a client that connected without a method: DISCONNECT 0x82', async () => {
    const { broker: b, calls } = await brokerWith(mirrorStart, magicContinue);
    const { client, connack } = await b.rawConnect({ version: 5, clientId: 'plain' });
    assert.equal(connack[3], 0x00);
    client.send(auth(0x19, 'mirror', 'step1'));
    await expectDisconnect(client, 0x82);
    assert.deepEqual(calls, []);
  });
});
