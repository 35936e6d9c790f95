/**
 * Per-listener options that shape who can connect and what they see: max_connections,
 * mount_point, use_username_as_clientid, socket_domain and bind_interface.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { defaultListener, defaultSecurity } from '../../../src/broker/config/types.ts';
import { ListenError } from '../../../src/broker/listeners.ts';
import { startBroker } from '../../../src/broker/start-broker.ts';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import { waitFor } from '../../helpers/broker.ts';
import { connectOrFail, startListenerBroker, tryConnect } from './listener-helpers.ts';

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => {
      resolve(false);
    });
  });
}

const loopbackName = Object.entries(networkInterfaces()).find(([, addresses]) =>
  (addresses ?? []).some((a) => a.address === '127.0.0.1'),
)?.[0];

describe('listener options', () => {
  test("max_connections: the next client is turned away with Mosquitto's line", async () => {
    const running = await startListenerBroker({ maxConnections: 2 });
    try {
      const url = `mqtt://127.0.0.1:${running.port}`;
      const first = await connectOrFail(url);
      const second = await connectOrFail(url);
      const third = await tryConnect(url);
      assert.notEqual(third.kind, 'connected');
      assert.ok(
        running
          .lines()
          .includes('Client connection from 127.0.0.1 denied: max_connections exceeded.'),
      );
      await first.endAsync();
      await waitFor(() => running.broker.listenerSockets[0]?.connectionCount === 1);
      const again = await connectOrFail(url);
      await Promise.all([second.endAsync(), again.endAsync()]);
    } finally {
      await running.close();
    }
  });

  test('mount_point: topics of the listener live under the prefix', async () => {
    const security = defaultSecurity(true);
    const log = new MemoryLog();
    const broker = await startBroker({
      config: {
        sysInterval: 0,
        listeners: [
          { ...defaultListener(0, security), bindAddress: '127.0.0.1', mountPoint: 'tenant-a/' },
          { ...defaultListener(0, security), bindAddress: '127.0.0.1' },
        ],
      },
      log,
    });
    try {
      const [mountedPort, plainPort] = broker.ports;
      const mounted = await connectOrFail(`mqtt://127.0.0.1:${mountedPort ?? 0}`);
      const plain = await connectOrFail(`mqtt://127.0.0.1:${plainPort ?? 0}`);
      // A mounted publisher reaches a plain subscriber under the prefix...
      await plain.subscribeAsync('tenant-a/#');
      const seen = new Promise<string>((resolve) => {
        plain.once('message', (topic) => {
          resolve(topic);
        });
      });
      await mounted.publishAsync('sensors/1', 'x');
      assert.equal(await seen, 'tenant-a/sensors/1');
      // ...and a mounted subscriber sees topics without it.
      await mounted.subscribeAsync('cmd');
      const received = new Promise<string>((resolve) => {
        mounted.once('message', (topic, payload) => {
          resolve(`${topic} ${payload.toString()}`);
        });
      });
      await plain.publishAsync('tenant-a/cmd', 'go');
      assert.equal(await received, 'cmd go');
      await Promise.all([mounted.endAsync(), plain.endAsync()]);
    } finally {
      await broker.close();
    }
  });

  test('use_username_as_clientid: the username is the client id; none is CONNACK 5', async () => {
    const running = await startListenerBroker({ useUsernameAsClientid: true });
    try {
      const url = `mqtt://127.0.0.1:${running.port}`;
      const client = await connectOrFail(url, { username: 'bob', clientId: 'ignored' });
      await client.endAsync();
      assert.ok(running.lines().some((l) => / as bob \(p2, c1, k60, u'bob'\)\.$/.test(l)));
      assert.deepEqual(await tryConnect(url, { clientId: 'anon' }), { kind: 'refused', code: 5 });
    } finally {
      await running.close();
    }
  });

  test('socket_domain ipv4 listens on IPv4 only', async () => {
    const running = await startListenerBroker({ bindAddress: null, socketDomain: 'ipv4' });
    try {
      assert.equal(await canConnect(running.port, '127.0.0.1'), true);
      assert.equal(await canConnect(running.port, '::1'), false);
      assert.deepEqual(running.lines().slice(0, 1), [
        `Opening ipv4 listen socket on port ${running.port}.`,
      ]);
    } finally {
      await running.close();
    }
  });

  describe('bind_interface', () => {
    test('binds the addresses of the interface', { skip: loopbackName === undefined }, async () => {
      const name = loopbackName ?? 'lo';
      const hasIpv6 = (networkInterfaces()[name] ?? []).some((a) => a.address === '::1');
      const running = await startListenerBroker({ bindAddress: null, bindInterface: name });
      try {
        assert.equal(await canConnect(running.port, '127.0.0.1'), true);
        assert.equal(await canConnect(running.port, '::1'), hasIpv6);
      } finally {
        await running.close();
      }
    });

    test('an interface that does not exist is fatal', async () => {
      await assert.rejects(
        startListenerBroker({ bindAddress: null, bindInterface: 'nonexistent0' }),
        (error: unknown) => {
          assert.ok(error instanceof ListenError);
          assert.equal(error.message, 'Error: Interface nonexistent0 does not exist.');
          return true;
        },
      );
    });

    test(
      "an address that is not the interface's is fatal",
      { skip: loopbackName === undefined },
      async () => {
        await assert.rejects(
          startListenerBroker({ bindAddress: '192.0.2.1', bindInterface: loopbackName ?? 'lo' }),
          /Error: Interface address for .* does not match specified listener address \(192\.0\.2\.1\)\.$/,
        );
      },
    );
  });
});
