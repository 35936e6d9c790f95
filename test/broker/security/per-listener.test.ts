/**
 * per_listener_settings true: each listener has its own allow_anonymous, password file and
 * ACL file (features §1.5), including a listener with none of them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../helpers/packet-bytes.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import { RawClient } from '../../helpers/raw-client.ts';
import type { MqttJsClient } from '../../helpers/broker.ts';
import { mqttConnect } from '../../helpers/broker.ts';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import { defaultListener } from '../../../src/broker/config/types.ts';
import { startBroker } from '../../../src/broker/start-broker.ts';
import { passwordEntry, securityConfig, tempDir } from './fixtures.ts';

async function connack(port: number, options: wire.ConnectOptions): Promise<string> {
  const client = await RawClient.open(port);
  try {
    client.send(wire.connect(options));
    return toHex(await client.expectPacket());
  } finally {
    client.destroy();
  }
}

describe('per_listener_settings', () => {
  test('each listener authenticates and authorises with its own files', async () => {
    const dir = tempDir('per-listener');
    const passwordsA = dir.write('pw-a', `${passwordEntry('alice', 'a')}\n`);
    const passwordsC = dir.write('pw-c', `${passwordEntry('carol', 'c')}\n`);
    const aclA = dir.write('acl-a', 'user alice\ntopic read team/#\n');
    const listenerA = {
      ...defaultListener(0, securityConfig({ passwordFile: passwordsA, aclFile: aclA })),
      bindAddress: '127.0.0.1',
    };
    const listenerB = {
      ...defaultListener(0, securityConfig({ allowAnonymous: true })),
      bindAddress: '127.0.0.1',
    };
    const listenerC = {
      ...defaultListener(0, securityConfig({ passwordFile: passwordsC, allowAnonymous: true })),
      bindAddress: '127.0.0.1',
    };
    const broker = await startBroker({
      config: {
        perListenerSettings: true,
        // The global settings must not leak into any listener.
        security: securityConfig({ allowAnonymous: true }),
        listeners: [listenerA, listenerB, listenerC],
        sysInterval: 0,
      },
      log: new MemoryLog(),
    });
    const clients: MqttJsClient[] = [];
    try {
      const [portA, portB, portC] = broker.ports as [number, number, number];
      assert.equal(
        await connack(portA, { clientId: 'a1', username: 'alice', password: 'a' }),
        '20 02 00 00',
      );
      assert.equal(await connack(portA, { clientId: 'a2' }), '20 02 00 05');
      assert.equal(
        await connack(portA, { clientId: 'a3', username: 'carol', password: 'c' }),
        '20 02 00 05',
      );
      assert.equal(await connack(portB, { clientId: 'b1' }), '20 02 00 00');
      assert.equal(
        await connack(portB, { clientId: 'b2', username: 'x', password: 'y' }),
        '20 02 00 00',
      );
      assert.equal(
        await connack(portC, { clientId: 'c1', username: 'carol', password: 'c' }),
        '20 02 00 00',
      );
      assert.equal(
        await connack(portC, { clientId: 'c2', username: 'alice', password: 'a' }),
        '20 02 00 05',
      );
      assert.equal(await connack(portC, { clientId: 'c3' }), '20 02 00 00');

      // Listener A's ACL binds its clients only.
      const onA = await mqttConnect(`mqtt://127.0.0.1:${portA}`, {
        clientId: 'reader-a',
        protocolVersion: 5,
        username: 'alice',
        password: 'a',
      });
      const onB = await mqttConnect(`mqtt://127.0.0.1:${portB}`, { clientId: 'reader-b' });
      clients.push(onA, onB);
      await onA.client.subscribeAsync('#');
      await onB.client.subscribeAsync('#');
      await onB.client.publishAsync('other/x', '1', { qos: 1 });
      await onB.client.publishAsync('team/y', '2', { qos: 1 });
      await onA.waitForMessages(1);
      await onB.waitForMessages(2);
      assert.deepEqual(
        onA.received.map((m) => m.topic),
        ['team/y'],
      );
      assert.deepEqual(
        onB.received.map((m) => m.topic),
        ['other/x', 'team/y'],
      );
      // Alice may read team/# but not write it.
      await assert.rejects(onA.client.publishAsync('team/z', '3', { qos: 1 }), /Not authorized/);
    } finally {
      for (const client of clients) client.client.end(true);
      await broker.close();
      dir.remove();
    }
  });
});
