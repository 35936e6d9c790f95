/**
 * connectTcp: "localhost" answered with the loopback addresses without asking the
 * resolver, IPv4 first then IPv6, and other names and addresses left to Node.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { connectTcp } from '../../src/transport/tcp-client.ts';

const servers: net.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A server on `host` that records the address each connection came from; null if `host` can't be bound. */
async function listenOn(host: string): Promise<{ port: number; peers: string[] } | null> {
  const peers: string[] = [];
  const server = net.createServer((socket) => {
    peers.push(socket.remoteAddress ?? '?');
    socket.destroy();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, resolve);
    });
  } catch {
    return null;
  }
  servers.push(server);
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { port: address.port, peers };
}

/** A port nobody listens on, on both loopback addresses. */
async function closedPort(): Promise<number> {
  const probe = await listenOn('127.0.0.1');
  assert.ok(probe !== null);
  const server = servers.pop();
  await new Promise((resolve) => server?.close(resolve));
  return probe.port;
}

test('localhost reaches a broker bound to 127.0.0.1 only, over IPv4', async () => {
  const server = await listenOn('127.0.0.1');
  assert.ok(server !== null);
  for (const host of ['localhost', 'LocalHost']) {
    const socket = await connectTcp({ host, port: server.port });
    assert.equal(socket.remoteAddress, '127.0.0.1');
    socket.destroy();
  }
});

test('localhost falls back to ::1 for a broker bound to ::1 only', async (t) => {
  const server = await listenOn('::1');
  if (server === null) {
    t.skip('this machine has no IPv6 loopback address');
    return;
  }
  const socket = await connectTcp({ host: 'localhost', port: server.port });
  assert.equal(socket.remoteAddress, '::1');
  socket.destroy();
});

test('localhost with nothing listening: the IPv4 address error, ECONNREFUSED', async () => {
  const port = await closedPort();
  await assert.rejects(connectTcp({ host: 'localhost', port }), { code: 'ECONNREFUSED' });
});

test('an aborted connect to localhost rejects with the reason, without trying ::1', async () => {
  const port = await closedPort();
  const controller = new AbortController();
  const reason = new Error('stop');
  controller.abort(reason);
  await assert.rejects(connectTcp({ host: 'localhost', port, signal: controller.signal }), reason);
});

test('other names go to the resolver, addresses straight to connect', async () => {
  const server = await listenOn('127.0.0.1');
  assert.ok(server !== null);
  const direct = await connectTcp({ host: '127.0.0.1', port: server.port });
  assert.equal(direct.remoteAddress, '127.0.0.1');
  direct.destroy();
  // A name that is not "localhost" itself is not answered by us.
  await assert.rejects(connectTcp({ host: 'localhost.invalid', port: server.port }), {
    code: 'ENOTFOUND',
  });
});
