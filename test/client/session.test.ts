/**
 * The client's session rules against a scripted server (fake-broker.ts) over real
 * sockets: resend with DUP after a reconnection, PUBREL resend, keepalive (ManualClock,
 * no sleeping), refusals, server DISCONNECT, incoming topic aliases, AbortSignal, and the
 * in-flight window.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/common/clock.ts';
import { MqttClient } from '../../src/client/client.ts';
import {
  ClientErrorCode,
  ConnectionRefusedError,
  ReasonCodeError,
  ServerDisconnectError,
} from '../../src/client/errors.ts';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import type { PublishPacket } from '../../src/protocol/packets.ts';
import type { ReceivedMessage } from '../../src/client/message.ts';
import { FakeBroker } from './fake-broker.ts';

let broker: FakeBroker;
beforeEach(async () => {
  broker = await FakeBroker.start();
});
afterEach(async () => {
  await broker.close();
});

/** Connects while the fake broker accepts; returns the client and its server side. */
async function connected(options: Parameters<typeof MqttClient.connect>[0] = {}) {
  const pending = MqttClient.connect({ url: broker.url, ...options });
  const server = await broker.connection(broker.connections.length);
  await server.next(PacketType.Connect);
  server.connack();
  const client = await pending;
  return { client, server };
}

describe('QoS 1/2 resend after a reconnection [MQTT-4.4.0-1]', () => {
  test('an unacknowledged QoS 1 PUBLISH is sent again with DUP and the same packet id', async () => {
    const pending = MqttClient.connect({
      url: broker.url,
      protocolVersion: ProtocolVersion.V311,
      clientId: 'resender',
      cleanStart: false,
      reconnect: { delayMs: 10 },
    });
    const first = await broker.connection(0);
    await first.next(PacketType.Connect);
    first.connack();
    const client = await pending;
    const published = client.publish('a/b', 'payload', { qos: 1 });
    const original = (await first.next(PacketType.Publish)) as PublishPacket;
    assert.equal(original.dup, false);
    first.drop();

    const second = await broker.connection(1);
    await second.next(PacketType.Connect);
    second.connack(0, {}, true);
    const again = (await second.next(PacketType.Publish)) as PublishPacket;
    assert.equal(again.dup, true);
    assert.equal(again.packetId, original.packetId);
    assert.equal(again.payload.toString(), 'payload');
    second.ack(PacketType.Puback, again.packetId);
    const outcome = await published;
    assert.equal(outcome.mid, original.packetId);
    await client.end();
  });

  test('after PUBREC, a reconnection re-sends PUBREL, not the PUBLISH', async () => {
    const pending = MqttClient.connect({
      url: broker.url,
      protocolVersion: ProtocolVersion.V311,
      clientId: 'resender2',
      cleanStart: false,
      reconnect: { delayMs: 10 },
    });
    const first = await broker.connection(0);
    await first.next(PacketType.Connect);
    first.connack();
    const client = await pending;
    const published = client.publish('q2', 'x', { qos: 2 });
    const publish = (await first.next(PacketType.Publish)) as PublishPacket;
    first.ack(PacketType.Pubrec, publish.packetId);
    await first.next(PacketType.Pubrel);
    first.drop();

    const second = await broker.connection(1);
    await second.next(PacketType.Connect);
    second.connack(0, {}, true);
    const pubrel = await second.packet(1);
    assert.equal(pubrel.type, PacketType.Pubrel);
    second.ack(PacketType.Pubcomp, publish.packetId);
    await published;
    await client.end();
  });
});

describe('reconnection', () => {
  test('subscriptions are sent again when the broker kept no session', async () => {
    const pending = MqttClient.connect({ url: broker.url, reconnect: { delayMs: 10 } });
    const first = await broker.connection(0);
    await first.next(PacketType.Connect);
    first.connack();
    const client = await pending;
    const subscribing = client.subscribe('again/#', { qos: 1 });
    const subscribe = await first.next(PacketType.Subscribe);
    assert.equal(subscribe.type, PacketType.Subscribe);
    first.send({
      type: PacketType.Suback,
      packetId: subscribe.packetId,
      reasonCodes: [1],
      properties: {},
    });
    const sub = await subscribing;
    first.drop();

    const second = await broker.connection(1);
    await second.next(PacketType.Connect);
    second.connack(0, {}, false);
    const again = await second.next(PacketType.Subscribe);
    assert.equal(again.type, PacketType.Subscribe);
    assert.deepEqual(
      again.subscriptions.map((s) => [s.topicFilter, s.qos]),
      [['again/#', 1]],
    );
    second.send({
      type: PacketType.Suback,
      packetId: again.packetId,
      reasonCodes: [1],
      properties: {},
    });
    second.send({
      type: PacketType.Publish,
      dup: false,
      qos: 0,
      retain: false,
      topic: 'again/x',
      packetId: 0,
      payload: Buffer.from('after'),
      properties: {},
    });
    for await (const message of sub) {
      assert.equal(message.payload.toString(), 'after');
      break;
    }
    await client.end();
  });
});

describe('enhanced authentication (MQTT 5 AUTH)', () => {
  test('a challenge is answered by authenticate(), then CONNACK', async () => {
    const challenges: string[] = [];
    const pending = MqttClient.connect({
      url: broker.url,
      properties: { authenticationMethod: 'TEST', authenticationData: Buffer.from('hello') },
      authenticate: (auth) => {
        challenges.push(auth.properties.authenticationData?.toString() ?? '');
        return { authenticationMethod: 'TEST', authenticationData: Buffer.from('response') };
      },
    });
    const server = await broker.connection(0);
    const connect = await server.next(PacketType.Connect);
    assert.equal(connect.type, PacketType.Connect);
    assert.equal(connect.properties.authenticationMethod, 'TEST');
    server.send({
      type: PacketType.Auth,
      reasonCode: 0x18,
      properties: { authenticationMethod: 'TEST', authenticationData: Buffer.from('challenge') },
    });
    const answer = await server.next(PacketType.Auth);
    assert.equal(answer.type, PacketType.Auth);
    assert.equal(answer.reasonCode, 0x18);
    assert.equal(answer.properties.authenticationData?.toString(), 'response');
    server.connack(0, { authenticationMethod: 'TEST' });
    const client = await pending;
    assert.deepEqual(challenges, ['challenge']);
    await client.end();
  });
});

describe('keepalive', () => {
  test('PINGREQ after the keepalive; no PINGRESP within the next one closes the client', async () => {
    const clock = new ManualClock();
    const { client, server } = await connected({ keepalive: 10, clock });
    clock.advance(10_000);
    await server.next(PacketType.Pingreq);
    clock.advance(10_000);
    const error = await client.closed();
    assert.equal(error?.code, ClientErrorCode.KeepaliveTimeout);
  });

  test('a PINGRESP keeps the connection', async () => {
    const clock = new ManualClock();
    const { client, server } = await connected({ keepalive: 5, clock });
    clock.advance(5_000);
    await server.next(PacketType.Pingreq);
    server.send({ type: PacketType.Pingresp });
    await new Promise((resolve) => setTimeout(resolve, 50));
    clock.advance(5_000);
    await server.next(PacketType.Pingreq, server.packets.length - 1);
    assert.equal(client.connected, true);
    await client.end();
  });
});

describe('refusals and server decisions', () => {
  test('CONNACK 0x86 rejects connect() with ConnectionRefusedError', async () => {
    const pending = MqttClient.connect({ url: broker.url, protocolVersion: ProtocolVersion.V5 });
    const server = await broker.connection(0);
    await server.next(PacketType.Connect);
    server.connack(0x86, { reasonString: 'no' });
    await assert.rejects(pending, (error: unknown) => {
      assert.ok(error instanceof ConnectionRefusedError);
      assert.equal(error.reasonCode, 0x86);
      assert.equal(error.properties.reasonString, 'no');
      return true;
    });
  });

  test('a DISCONNECT from the broker ends the client with ServerDisconnectError', async () => {
    const { client, server } = await connected();
    server.send({ type: PacketType.Disconnect, reasonCode: 0x8e, properties: {} });
    const error = await client.closed();
    assert.ok(error instanceof ServerDisconnectError);
    assert.equal(error.reasonCode, 0x8e);
  });

  test('a PUBACK with reason 0x87 rejects the publish with ReasonCodeError', async () => {
    const { client, server } = await connected();
    const published = client.publish('t', 'x', { qos: 1 });
    const publish = (await server.next(PacketType.Publish)) as PublishPacket;
    server.ack(PacketType.Puback, publish.packetId, 0x87);
    await assert.rejects(published, (error: unknown) => {
      assert.ok(error instanceof ReasonCodeError);
      assert.equal(error.reasonCode, 0x87);
      return true;
    });
    await client.end();
  });

  test('QoS above the CONNACK maximum is refused before sending', async () => {
    const pending = MqttClient.connect({ url: broker.url });
    const server = await broker.connection(0);
    await server.next(PacketType.Connect);
    server.connack(0, { maximumQoS: 1 });
    const client = await pending;
    await assert.rejects(client.publish('t', 'x', { qos: 2 }), {
      code: ClientErrorCode.NotSupported,
    });
    await client.end();
  });
});

describe('topic aliases', () => {
  test('incoming aliases are resolved, an unknown alias is a protocol error', async () => {
    const { client, server } = await connected({ properties: { topicAliasMaximum: 5 } });
    const messages = client.messages();
    const publish = (topic: string, alias: number, text: string): void => {
      server.send({
        type: PacketType.Publish,
        dup: false,
        qos: 0,
        retain: false,
        topic,
        packetId: 0,
        payload: Buffer.from(text),
        properties: { topicAlias: alias },
      });
    };
    publish('long/topic/name', 3, 'one');
    publish('', 3, 'two');
    const iterator = messages[Symbol.asyncIterator]();
    const next = async (): Promise<ReceivedMessage> => {
      const result = await iterator.next();
      assert.equal(result.done, false);
      return result.value;
    };
    assert.equal((await next()).topic, 'long/topic/name');
    const second = await next();
    assert.equal(second.topic, 'long/topic/name');
    assert.equal(second.payload.toString(), 'two');
    publish('', 4, 'three');
    const error = await client.closed();
    assert.equal(error?.code, ClientErrorCode.Protocol);
  });

  test('autoTopicAlias sends the topic once, then the alias alone', async () => {
    const pending = MqttClient.connect({ url: broker.url, autoTopicAlias: true });
    const server = await broker.connection(0);
    await server.next(PacketType.Connect);
    server.connack(0, { topicAliasMaximum: 2 });
    const client = await pending;
    await client.publish('sensors/a', '1');
    await client.publish('sensors/a', '2');
    const first = (await server.next(PacketType.Publish)) as PublishPacket;
    const second = (await server.next(
      PacketType.Publish,
      server.packets.indexOf(first) + 1,
    )) as PublishPacket;
    assert.equal(first.topic, 'sensors/a');
    assert.equal(first.properties.topicAlias, 1);
    assert.equal(second.topic, '');
    assert.equal(second.properties.topicAlias, 1);
    await client.end();
  });
});

describe('AbortSignal', () => {
  test('aborting connect() while CONNACK is awaited', async () => {
    const controller = new AbortController();
    const pending = MqttClient.connect({ url: broker.url, signal: controller.signal });
    const server = await broker.connection(0);
    await server.next(PacketType.Connect);
    controller.abort();
    await assert.rejects(pending, { code: ClientErrorCode.Aborted });
  });

  test('aborting an iteration ends that loop only', async () => {
    const { client, server } = await connected();
    const controller = new AbortController();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of client.messages({ signal: controller.signal })) seen.push(m.topic);
    })();
    server.send({
      type: PacketType.Publish,
      dup: false,
      qos: 0,
      retain: false,
      topic: 'x',
      packetId: 0,
      payload: Buffer.from('1'),
      properties: {},
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await loop;
    assert.deepEqual(seen, ['x']);
    assert.equal(client.connected, true);
    await client.end();
  });

  test('aborting a publish that waits for a free in-flight slot removes it', async () => {
    const { client, server } = await connected({ maxInflight: 1 });
    const first = client.publish('t', '1', { qos: 1 });
    const controller = new AbortController();
    const second = client.publish('t', '2', { qos: 1, signal: controller.signal });
    controller.abort();
    await assert.rejects(second, { code: ClientErrorCode.Aborted });
    const publish = (await server.next(PacketType.Publish)) as PublishPacket;
    server.ack(PacketType.Puback, publish.packetId);
    await first;
    await client.end();
    assert.equal(server.packets.filter((p) => p.type === PacketType.Publish).length, 1);
  });
});

describe('in-flight window', () => {
  test('never more QoS 1 publishes in flight than the broker receive maximum', async () => {
    const pending = MqttClient.connect({ url: broker.url });
    const server = await broker.connection(0);
    await server.next(PacketType.Connect);
    server.connack(0, { receiveMaximum: 2 });
    const client = await pending;
    const all = [1, 2, 3, 4].map((n) => client.publish('t', String(n), { qos: 1 }));
    await server.next(PacketType.Publish, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.packets.filter((p) => p.type === PacketType.Publish).length, 2);
    const firstPublish = (await server.next(PacketType.Publish)) as PublishPacket;
    server.ack(PacketType.Puback, firstPublish.packetId);
    await all[0];
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.packets.filter((p) => p.type === PacketType.Publish).length, 3);
    for (const p of server.packets) {
      if (p.type === PacketType.Publish && p.packetId !== firstPublish.packetId) {
        server.ack(PacketType.Puback, p.packetId);
      }
    }
    await Promise.all(all.slice(1, 3));
    const fourth = (await server.next(PacketType.Publish, 4)) as PublishPacket;
    server.ack(PacketType.Puback, fourth.packetId);
    await Promise.all(all);
    await client.end();
  });
});
