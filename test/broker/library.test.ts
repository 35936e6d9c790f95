/**
 * The broker as a library: startBroker() with a config object, ports, events, close().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startBroker,
  CloseReason,
  defaultListener,
  defaultSecurity,
  MemoryLog,
} from '../../src/index.ts';
import type { ClientDisconnectedInfo, ClientInfo, PublishedMessageInfo } from '../../src/index.ts';
import { mqttConnect } from '../helpers/broker.ts';

test('startBroker: a free port, events for connects, publishes and disconnects, close', async () => {
  const log = new MemoryLog();
  const broker = await startBroker({ config: { maxInflightMessages: 5, sysInterval: 0 }, log });
  const connected: ClientInfo[] = [];
  const published: PublishedMessageInfo[] = [];
  const disconnected: ClientDisconnectedInfo[] = [];
  broker.on('clientConnected', (client) => connected.push(client));
  broker.on('messagePublished', (message) => published.push(message));
  broker.on('clientDisconnected', (client) => disconnected.push(client));
  try {
    const [port] = broker.ports;
    assert.ok(port !== undefined && port > 0);
    assert.deepEqual(broker.addresses(), [{ host: '127.0.0.1', port }]);
    assert.deepEqual(broker.address(), { host: '127.0.0.1', port });
    const client = await mqttConnect(`mqtt://127.0.0.1:${port}`, {
      clientId: 'lib',
      protocolVersion: 5,
    });
    await client.client.publishAsync('x/y', 'hello', { qos: 1 });
    await client.end();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [client0] = connected;
    const [message0] = published;
    const [gone0] = disconnected;
    assert.ok(client0 !== undefined && message0 !== undefined && gone0 !== undefined);
    assert.equal(client0.clientId, 'lib');
    assert.equal(client0.protocolVersion, 5);
    assert.equal(message0.topic, 'x/y');
    assert.equal(message0.payload.toString(), 'hello');
    assert.equal(message0.clientId, 'lib');
    assert.equal(gone0.reason, CloseReason.Disconnected);
    assert.ok(log.messages().some((line) => line.startsWith('New client connected')));
  } finally {
    await broker.close();
  }
});

test('a unix socket listener', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mosq-unix-'));
  const path = join(dir, 'broker.sock');
  const broker = await startBroker({
    config: {
      sysInterval: 0,
      listeners: [{ ...defaultListener(0, defaultSecurity(true)), unixSocketPath: path }],
    },
  });
  try {
    const socket = net.connect({ path });
    const reply = await new Promise<Buffer>((resolve, reject) => {
      socket.once('data', resolve);
      socket.once('error', reject);
      socket.write(Buffer.from('101000044d5154540402003c000475736f63', 'hex'));
    });
    assert.equal(reply.toString('hex'), '20020000');
    socket.destroy();
  } finally {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
