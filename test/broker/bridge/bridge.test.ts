/**
 * Our broker's bridges against a scripted remote (test/helpers/fake-remote.ts), as
 * Mosquitto's 06-bridge-*.py tests do it: the CONNECT and what follows the CONNACK
 * byte for byte, prefixes both ways, queueing while the remote is down and the resend
 * with DUP, restart_timeout, try_private and MQTT 5 fallbacks, refusals, lazy start,
 * idle timeout, keepalive, start_type once, notifications and SIGHUP reloads. Time is a
 * ManualClock (advanced a second at a time, with real socket I/O in between).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/common/clock.ts';
import { PacketType } from '../../../src/protocol/constants.ts';
import type { ConnectPacket, Packet, PublishPacket } from '../../../src/protocol/packets.ts';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import type { Broker } from '../../../src/broker/broker.ts';
import { parseConfigText } from '../../../src/broker/config/parse.ts';
import type { BrokerConfig } from '../../../src/broker/config/types.ts';
import { defaultListener, defaultSecurity } from '../../../src/broker/config/types.ts';
import { startBroker } from '../../../src/index.ts';
import { FakeRemote } from '../../helpers/fake-remote.ts';
import type { RemoteLink } from '../../helpers/fake-remote.ts';
import { mqttConnect, settle } from '../../helpers/broker.ts';
import { hex, puback, publish, subscribe, toHex, unsubscribe } from '../../helpers/packet-bytes.ts';

interface Bridged {
  readonly broker: Broker;
  readonly remote: FakeRemote;
  readonly clock: ManualClock;
  readonly log: MemoryLog;
  readonly url: string;
  /** Advances the broker's clock a second at a time, letting sockets work in between. */
  tick(seconds: number): Promise<void>;
  /** The `index`-th connection, with CONNECT read and (unless `refuse`) CONNACK 0 sent. */
  accept(index: number, connack?: string): Promise<{ link: RemoteLink; connect: ConnectPacket }>;
  lines(): string[];
  close(): Promise<void>;
}

const open: Bridged[] = [];
after(async () => {
  for (const b of open) await b.close();
});

function configFor(text: string, remotePort: number): BrokerConfig {
  const { config } = parseConfigText(text.replaceAll('REMOTE', String(remotePort)), 'b.conf');
  return config;
}

async function bridged(text: string, remote?: FakeRemote): Promise<Bridged> {
  const theRemote = remote ?? (await FakeRemote.listen());
  const clock = new ManualClock();
  const log = new MemoryLog();
  const config = configFor(text, theRemote.port);
  const broker = await startBroker({
    config: {
      ...config,
      sysInterval: 0,
      listeners: [{ ...defaultListener(0, defaultSecurity(true)), bindAddress: '127.0.0.1' }],
    },
    clock,
    log,
  });
  const result: Bridged = {
    broker,
    remote: theRemote,
    clock,
    log,
    url: `mqtt://127.0.0.1:${broker.ports[0] ?? 0}`,
    async tick(seconds) {
      for (let i = 0; i < seconds; i++) {
        clock.advance(1000);
        await settle(20);
      }
    },
    async accept(index, connack = '20020000') {
      const link = await theRemote.link(index);
      const packet = await link.next();
      assert.equal(packet.type, PacketType.Connect);
      if (connack !== '') link.send(connack);
      return { link, connect: packet };
    },
    lines: () => log.lines.map((line) => line.message),
    async close() {
      await broker.close();
      await theRemote.close();
    },
  };
  open.push(result);
  return result;
}

function isPublish(packet: Packet): PublishPacket {
  if (packet.type !== PacketType.Publish) assert.fail(`expected PUBLISH, got type ${packet.type}`);
  return packet;
}

const BASE = 'connection br\naddress 127.0.0.1:REMOTE\nremote_clientid rid\n';

describe('a bridge connects as Mosquitto does', () => {
  test('CONNECT: bridge bit, clean session 0, the state will, credentials', async () => {
    const b = await bridged(
      `${BASE}topic in/# in 1\ntopic out/# out 2\nremote_username u\nremote_password p\n`,
    );
    const { link, connect } = await b.accept(0, '');
    // 3.1.1 with 0x80 (try_private), as Mosquitto's tests expect: 10 (MQTT, 0x84, flags).
    assert.equal(connect.protocolVersion, 4);
    assert.equal(connect.isBridge, true);
    assert.equal(connect.cleanStart, false);
    assert.equal(connect.keepalive, 60);
    assert.equal(connect.clientId, 'rid');
    assert.equal(connect.username, 'u');
    assert.equal(connect.password?.toString(), 'p');
    const will = connect.will;
    assert.ok(will);
    assert.equal(will.topic, '$SYS/broker/connection/rid/state');
    assert.equal(will.payload.toString(), '0');
    assert.equal(will.qos, 1);
    assert.equal(will.retain, true);
    link.send('20020000');
    // Then: the "1" state (QoS 1, retained, id 1), SUBSCRIBE in/# (id 2), UNSUBSCRIBE out/# (id 3).
    assert.equal(
      toHex(await link.nextFrame()),
      toHex(
        publish({
          topic: '$SYS/broker/connection/rid/state',
          payload: '1',
          qos: 1,
          retain: true,
          packetId: 1,
        }),
      ),
    );
    assert.equal(
      toHex(await link.nextFrame()),
      toHex(subscribe({ packetId: 2, subscriptions: [{ filter: 'in/#', options: 1 }] })),
    );
    assert.equal(
      toHex(await link.nextFrame()),
      toHex(unsubscribe({ packetId: 3, filters: ['out/#'] })),
    );
    // Locally, the state is "1", retained (it was "0" before the first connection).
    const watcher = await mqttConnect(b.url);
    watcher.client.subscribe('$SYS/broker/connection/rid/state');
    const [state] = await watcher.waitForMessages(1);
    assert.ok(state);
    assert.equal(state.payload, '1');
    assert.equal(state.packet.retain, true);
    await watcher.end();
  });

  test('MQTT 5: Receive Maximum 20 only, no bridge bit; SUBSCRIBE with no-local and RAP', async () => {
    const b = await bridged(
      `${BASE}topic a/# both 1\nnotifications false\nbridge_protocol_version mqttv50\n`,
    );
    const link = await b.remote.link(0);
    // 10 len | 00 04 MQTT | 05 | flags 0 (clean 0) | keepalive 60 | Receive Maximum 20 | rid
    assert.equal(
      toHex(await link.nextFrame()),
      toHex(hex('10 13 00 04 4d 51 54 54 05 00 00 3c 03 21 00 14 00 03 72 69 64')),
    );
    link.send('2003000000');
    // SUBSCRIBE id 1, no properties, a/# with QoS 1 | no-local 0x04 | RAP 0x08.
    assert.equal(
      toHex(await link.nextFrame()),
      toHex(
        subscribe({ packetId: 1, version: 5, subscriptions: [{ filter: 'a/#', options: 0x0d }] }),
      ),
    );
  });

  test('an MQTT 3 remote refusing MQTT 5: the next CONNECT is 3.1.1', async () => {
    const b = await bridged(
      `${BASE}topic a/# both 1\nnotifications false\nbridge_protocol_version mqttv50\nrestart_timeout 1\n`,
    );
    const first = await b.accept(0, '20020001');
    assert.equal(first.connect.protocolVersion, 5);
    await first.link.waitClosed();
    assert.ok(
      b
        .lines()
        .includes(
          'Warning: Remote bridge br does not support MQTT v5.0, reconnecting using MQTT v3.1.1.',
        ),
    );
    await b.tick(3);
    const second = await b.accept(1, '');
    assert.equal(second.connect.protocolVersion, 4);
    assert.equal(second.connect.isBridge, true);
  });

  test('try_private refused (CONNACK 1): the next CONNECT has no bridge bit', async () => {
    const b = await bridged(`${BASE}topic a/# both 1\nnotifications false\nrestart_timeout 1\n`);
    const first = await b.accept(0, '20020001');
    assert.equal(first.connect.isBridge, true);
    await first.link.waitClosed();
    assert.ok(b.lines().includes('Connection Refused: unacceptable protocol version'));
    await b.tick(3);
    const second = await b.accept(1, '');
    assert.equal(second.connect.isBridge, false);
  });

  test('a refusal is logged as Mosquitto logs it and retried after restart_timeout', async () => {
    const b = await bridged(`${BASE}topic a/# both 1\nnotifications false\nrestart_timeout 4\n`);
    const first = await b.accept(0, '20020004');
    await first.link.waitClosed();
    assert.ok(b.lines().includes('Connection Refused: bad user name or password'));
    assert.ok(b.lines().includes('Client local.rid closed its connection.'));
    // bridge_check(): the restart time is set on the next check, the attempt comes once
    // it has passed (at 1 s resolution), never at once.
    await b.tick(4);
    assert.equal(b.remote.links.length, 1);
    await b.tick(2);
    await b.remote.link(1);
  });

  test('restart_timeout <base> <cap>: jittered delays between the two', async () => {
    const b = await bridged(`${BASE}topic a/# both 1\nnotifications false\nrestart_timeout 2 4\n`);
    for (let attempt = 0; attempt < 3; attempt++) {
      const { link } = await b.accept(attempt, '');
      link.close();
      await link.waitClosed();
      let waited = 0;
      while (b.remote.links.length === attempt + 1) {
        await b.tick(1);
        waited++;
        assert.ok(waited <= 7, `attempt ${attempt + 2} came after more than the cap`);
      }
      assert.ok(waited >= 3, `attempt ${attempt + 2} came after ${waited} s, before the base`);
    }
  });
});

describe('messages across the bridge', () => {
  test('prefixes both ways: local/ here is remote/ there', async () => {
    const b = await bridged(`${BASE}topic # both 1 local/ remote/\nnotifications false\n`);
    const { link } = await b.accept(0);
    assert.equal(
      toHex(await link.nextFrame()),
      toHex(subscribe({ packetId: 1, subscriptions: [{ filter: 'remote/#', options: 1 }] })),
    );
    const sub = await mqttConnect(b.url);
    await sub.client.subscribeAsync('local/#', { qos: 1 });
    // Remote to local: remote/b arrives here as local/b.
    link.send(publish({ topic: 'remote/b', payload: 'in', qos: 1, packetId: 7 }));
    assert.equal(toHex(await link.nextFrame()), toHex(puback(7)));
    const [received] = await sub.waitForMessages(1);
    assert.equal(received?.topic, 'local/b');
    // Local to remote: local/a goes out as remote/a (the remote's own message is not echoed).
    await sub.client.publishAsync('local/a', 'out', { qos: 1 });
    const out = isPublish(await nextNonAck(link));
    assert.equal(out.topic, 'remote/a');
    assert.equal(out.payload.toString(), 'out');
    assert.equal(out.qos, 1);
    await sub.end();
  });

  test('QoS 1 queued while the remote is down; in-flight resent with DUP first, in order', async () => {
    const b = await bridged(
      `${BASE}topic q/# out 1\nnotifications false\nrestart_timeout 1\nbridge_attempt_unsubscribe false\n`,
    );
    const first = await b.accept(0);
    const pub = await mqttConnect(b.url);
    await pub.client.publishAsync('q/1', 'one', { qos: 1 });
    const sent = isPublish(await first.link.next());
    assert.equal(sent.topic, 'q/1');
    assert.equal(sent.dup, false);
    first.link.close();
    await first.link.waitClosed();
    await settle(30);
    for (const n of [2, 3, 4]) await pub.client.publishAsync(`q/${n}`, String(n), { qos: 1 });
    await b.tick(3);
    const second = await b.accept(1);
    const resent = isPublish(await second.link.next());
    assert.equal(resent.topic, 'q/1');
    assert.equal(resent.dup, true);
    assert.equal(resent.packetId, sent.packetId);
    const rest: string[] = [];
    for (let i = 0; i < 3; i++) rest.push(isPublish(await second.link.next()).topic);
    assert.deepEqual(rest, ['q/2', 'q/3', 'q/4']);
    await pub.end();
  });

  test('bridge_outgoing_retain false: the remote gets RETAIN 0', async () => {
    const b = await bridged(
      `${BASE}topic r/# out 0\nnotifications false\nbridge_outgoing_retain false\nbridge_attempt_unsubscribe false\n`,
    );
    const { link } = await b.accept(0);
    await settle(30);
    const pub = await mqttConnect(b.url);
    await pub.client.publishAsync('r/x', 'kept', { qos: 0, retain: true });
    const out = isPublish(await link.next());
    assert.equal(out.topic, 'r/x');
    assert.equal(out.retain, false);
    await pub.end();
  });

  test('retained messages go to the remote when the bridge connects', async () => {
    const remote = await FakeRemote.listen();
    // A remote that refuses the first time, so the retained message is there before the
    // connection that is accepted.
    const b = await bridged(
      `${BASE}topic r/# out 1\nnotifications false\nbridge_attempt_unsubscribe false\nrestart_timeout 1\n`,
      remote,
    );
    const refused = await b.accept(0, '20020003');
    await refused.link.waitClosed();
    const pub = await mqttConnect(b.url);
    await pub.client.publishAsync('r/kept', 'value', { qos: 1, retain: true });
    await pub.end();
    await b.tick(3);
    const { link } = await b.accept(1);
    const retained = isPublish(await link.next());
    assert.equal(retained.topic, 'r/kept');
    assert.equal(retained.retain, true);
    assert.equal(retained.qos, 1);
  });
});

describe('start types, timeouts and notifications', () => {
  test('lazy: connects at start, leaves after idle_timeout, comes back at the threshold', async () => {
    const b = await bridged(
      `${BASE}topic l/# out 1\nstart_type lazy\nthreshold 2\nidle_timeout 3\nnotifications false\nbridge_attempt_unsubscribe false\n`,
    );
    // As bridge__new(): a lazy bridge connects at start too, then idles out.
    const first = await b.accept(0);
    await b.tick(4);
    await first.link.waitClosed();
    assert.ok(
      b.lines().includes('Bridge connection local.rid has exceeded idle timeout, disconnecting.'),
    );
    const pub = await mqttConnect(b.url);
    await pub.client.publishAsync('l/1', '1', { qos: 1 });
    await b.tick(3);
    assert.equal(b.remote.links.length, 1, 'one queued message is below the threshold');
    await pub.client.publishAsync('l/2', '2', { qos: 1 });
    await b.tick(2);
    const { link } = await b.accept(1);
    const got = [isPublish(await link.next()).topic, isPublish(await link.next()).topic];
    assert.deepEqual(got, ['l/1', 'l/2']);
    await pub.end();
  });

  test('keepalive: PINGREQ when quiet, the link dropped when unanswered, state "0"', async () => {
    const b = await bridged(`${BASE}topic k/# both 0\nkeepalive_interval 5\n`);
    const { link } = await b.accept(0);
    await link.nextFrame(); // the "1" state
    await link.nextFrame(); // SUBSCRIBE
    const watcher = await mqttConnect(b.url);
    watcher.client.subscribe('$SYS/broker/connection/rid/state');
    await watcher.waitForMessages(1);
    assert.equal(watcher.received[0]?.payload, '1');
    await b.tick(6);
    assert.equal(toHex(await link.nextFrame()), 'c0 00');
    await b.tick(6);
    await link.waitClosed();
    await watcher.waitForMessages(2);
    assert.equal(watcher.received[1]?.payload, '0');
    await watcher.end();
  });

  test('start_type once: no second connection', async () => {
    const b = await bridged(
      `${BASE}topic o/# both 0\nstart_type once\nrestart_timeout 1\nnotifications false\n`,
    );
    const { link } = await b.accept(0);
    link.close();
    await link.waitClosed();
    await b.tick(5);
    assert.equal(b.remote.links.length, 1);
  });

  test('notifications_local_only: no will, no remote "1", the local state still kept', async () => {
    const b = await bridged(
      `${BASE}topic n/# in 0\nnotifications_local_only true\nnotification_topic my/state\n`,
    );
    const { link, connect } = await b.accept(0);
    assert.equal(connect.will, null);
    const first = await link.next();
    assert.equal(first.type, PacketType.Subscribe);
    const watcher = await mqttConnect(b.url);
    watcher.client.subscribe('my/state');
    await watcher.waitForMessages(1);
    assert.equal(watcher.received[0]?.payload, '1');
    await watcher.end();
  });
});

describe('addresses', () => {
  test('round_robin false: on the secondary, the primary is tried again and taken back', async () => {
    const primary = await FakeRemote.listen();
    const primaryPort = primary.port;
    await primary.close();
    const secondary = await FakeRemote.listen();
    const b = await bridged(
      `connection br\naddress 127.0.0.1:${primaryPort} 127.0.0.1:${secondary.port}\n` +
        'remote_clientid rid\ntopic a/# both 0\nnotifications false\nrestart_timeout 1\n',
      secondary,
    );
    // The primary refuses, so the next attempt goes to the secondary.
    await b.tick(5);
    await b.accept(0);
    // The primary comes back: within the retry period (5 s) the bridge leaves the
    // secondary and connects to the primary.
    const back = await FakeRemote.listen(primaryPort);
    try {
      await b.tick(10);
      // Connection #1 is the probe (closed at once), #2 the bridge's.
      const link = await back.link(1);
      const connect = await link.next();
      assert.equal(connect.type, PacketType.Connect);
      assert.ok(secondary.links[0]?.closed, 'the secondary connection was closed');
    } finally {
      await back.close();
    }
  });

  test('round_robin true: stays on the address that works', async () => {
    const first = await FakeRemote.listen();
    const second = await FakeRemote.listen();
    const b = await bridged(
      `connection br\naddress 127.0.0.1:${first.port} 127.0.0.1:${second.port}\n` +
        'remote_clientid rid\ntopic a/# both 0\nnotifications false\nrestart_timeout 1\nround_robin true\n',
      first,
    );
    const one = await b.accept(0);
    one.link.close();
    await one.link.waitClosed();
    await b.tick(4);
    // The next address in turn.
    const link = await second.link(0);
    assert.equal((await link.next()).type, PacketType.Connect);
    link.send('20020000');
    await b.tick(12);
    assert.equal(first.links.length, 1, 'no return to the first address');
    await second.close();
  });
});

describe('limits', () => {
  test('bridge_max_packet_size: larger messages are not sent to the remote', async () => {
    const b = await bridged(
      `${BASE}topic m/# out 0\nnotifications false\nbridge_attempt_unsubscribe false\nbridge_max_packet_size 100\n`,
    );
    const { link } = await b.accept(0);
    await settle(30);
    const pub = await mqttConnect(b.url);
    await pub.client.publishAsync('m/big', 'x'.repeat(200));
    await pub.client.publishAsync('m/small', 'y');
    const out = isPublish(await link.next());
    assert.equal(out.topic, 'm/small');
    await pub.end();
  });

  test('max_inflight_messages bounds what is in flight to the remote', async () => {
    const b = await bridged(
      `${BASE}topic w/# out 1\nnotifications false\nbridge_attempt_unsubscribe false\nmax_inflight_messages 2\n`,
    );
    const { link } = await b.accept(0);
    await settle(30);
    const pub = await mqttConnect(b.url);
    for (const n of [1, 2, 3, 4]) await pub.client.publishAsync(`w/${n}`, String(n), { qos: 1 });
    const first = [isPublish(await link.next()), isPublish(await link.next())];
    await assert.rejects(link.next(300), /no packet/);
    link.send(puback(first[0]?.packetId ?? 0));
    assert.equal(isPublish(await link.next()).topic, 'w/3');
    await pub.end();
  });
});

describe('SIGHUP', () => {
  test('lazy reload: new topics at the next connection; immediate: reconnects now', async () => {
    const text = `${BASE}topic a/# in 0\nnotifications false\nrestart_timeout 1\n`;
    const b = await bridged(text);
    const first = await b.accept(0);
    assert.equal(
      ((await first.link.next()) as { subscriptions?: { topicFilter: string }[] })
        .subscriptions?.[0]?.topicFilter,
      'a/#',
    );
    const port = b.remote.port;
    const reloaded = (extra: string): BrokerConfig => ({
      ...b.broker.config,
      bridges: configFor(`${text.replace('a/#', 'b/#')}${extra}`, port).bridges ?? [],
    });
    b.broker.reload(reloaded(''));
    await b.tick(3);
    assert.equal(b.remote.links.length, 1, 'lazy: still on the first connection');
    first.link.close();
    await first.link.waitClosed();
    await b.tick(3);
    const second = await b.accept(1);
    assert.equal(
      ((await second.link.next()) as { subscriptions?: { topicFilter: string }[] })
        .subscriptions?.[0]?.topicFilter,
      'b/#',
    );
    b.broker.reload({
      ...reloaded('bridge_reload_type immediate\n'),
      bridges:
        configFor(`${text.replace('a/#', 'c/#')}bridge_reload_type immediate\n`, port).bridges ??
        [],
    });
    await second.link.waitClosed();
    await b.tick(3);
    const third = await b.accept(2);
    assert.equal(
      ((await third.link.next()) as { subscriptions?: { topicFilter: string }[] })
        .subscriptions?.[0]?.topicFilter,
      'c/#',
    );
    // A bridge no longer configured is closed and not restarted.
    b.broker.reload({ ...b.broker.config, bridges: [] });
    await third.link.waitClosed();
    await b.tick(3);
    assert.equal(b.remote.links.length, 3);
  });
});

/** The next packet that is not an acknowledgement (PUBACK/SUBACK of earlier traffic). */
async function nextNonAck(link: RemoteLink): Promise<Packet> {
  for (;;) {
    const packet = await link.next();
    if (packet.type !== PacketType.Puback) return packet;
  }
}
