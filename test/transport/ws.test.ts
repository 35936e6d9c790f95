/**
 * The WebSocket transport on its own: bytes in and out as binary messages, backpressure
 * (write() returns false when the socket is full, onDrain follows), a text message
 * closing the connection as a protocol error, end() and destroy().
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import WebSocket from 'ws';
import type { ConnectionHandler } from '../../src/transport/connection.ts';
import type { WebSocketConnection } from '../../src/transport/ws.ts';
import { WebSocketListener } from '../../src/transport/ws.ts';
import { waitFor } from '../helpers/broker.ts';

interface Recorded {
  readonly data: Buffer[];
  drains: number;
  closed: Error | null | undefined;
}

async function withListener(
  body: (
    listener: WebSocketListener,
    accepted: () => WebSocketConnection,
    recorded: Recorded,
  ) => Promise<void>,
): Promise<void> {
  const recorded: Recorded = { data: [], drains: 0, closed: undefined };
  let connection: WebSocketConnection | null = null;
  const handler: ConnectionHandler = {
    onData: (chunk) => recorded.data.push(chunk),
    onDrain: () => {
      recorded.drains++;
    },
    onClose: (error) => {
      recorded.closed = error;
    },
  };
  const listener = new WebSocketListener(
    {
      port: 0,
      host: '127.0.0.1',
      path: null,
      noDelay: true,
      maxPayload: 1024 * 1024,
      maxHeaderSize: 0,
      httpDir: null,
      tls: null,
      handshakeTimeoutMs: 5000,
    },
    (c) => {
      connection = c;
      c.setHandler(handler);
    },
    () => undefined,
  );
  await listener.listen();
  try {
    await body(
      listener,
      () => {
        assert.ok(connection !== null, 'no connection yet');
        return connection;
      },
      recorded,
    );
  } finally {
    await listener.close();
  }
}

function open(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, ['mqtt']);
    socket.once('open', () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

describe('WebSocket transport', () => {
  test('binary messages in, binary messages out', async () => {
    await withListener(async (listener, accepted, recorded) => {
      const client = await open(listener.port);
      client.send(Buffer.from([1, 2, 3]));
      await waitFor(() => recorded.data.length === 1);
      assert.deepEqual([...(recorded.data[0] ?? [])], [1, 2, 3]);
      const reply = new Promise<{ data: Buffer; binary: boolean }>((resolve) => {
        client.once('message', (data: Buffer, binary: boolean) => {
          resolve({ data, binary });
        });
      });
      assert.equal(accepted().write(Buffer.from([4, 5])), true);
      const { data, binary } = await reply;
      assert.equal(binary, true);
      assert.deepEqual([...data], [4, 5]);
      client.close();
      await waitFor(() => recorded.closed !== undefined);
      assert.equal(recorded.closed, null);
    });
  });

  test('write() reports a full socket, and onDrain follows', async () => {
    await withListener(async (listener, accepted, recorded) => {
      const client = await open(listener.port);
      await waitFor(() => {
        try {
          accepted();
          return true;
        } catch {
          return false;
        }
      });
      // More than the socket's high-water mark in one go: the caller must wait.
      const raw = (client as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      raw.pause();
      try {
        assert.equal(accepted().write(Buffer.alloc(256 * 1024)), false);
      } finally {
        raw.resume();
      }
      await waitFor(() => recorded.drains > 0, 5000);
      client.terminate();
    });
  });

  test('a text message is a protocol error', async () => {
    await withListener(async (listener, _accepted, recorded) => {
      const client = await open(listener.port);
      client.send('text');
      await waitFor(() => recorded.closed !== undefined);
      const error = recorded.closed as (Error & { code?: string }) | null | undefined;
      assert.equal(error?.code, 'EPROTO');
      assert.equal(error.message, 'Protocol error');
    });
  });

  test('end() closes with a close frame after what is queued; destroy() cuts', async () => {
    await withListener(async (listener, accepted) => {
      const client = await open(listener.port);
      await waitFor(() => {
        try {
          accepted();
          return true;
        } catch {
          return false;
        }
      });
      const messages: number[] = [];
      client.on('message', (data: Buffer) => messages.push(data.length));
      const closed = new Promise<number>((resolve) => {
        client.once('close', (code: number) => {
          resolve(code);
        });
      });
      accepted().write(Buffer.alloc(10));
      accepted().end();
      assert.equal(await closed, 1005);
      assert.deepEqual(messages, [10]);

      const first = accepted();
      const second = await open(listener.port);
      const cut = new Promise<number>((resolve) => {
        second.once('close', (code: number) => {
          resolve(code);
        });
      });
      await waitFor(() => accepted() !== first);
      accepted().destroy();
      assert.equal(await cut, 1006);
    });
  });
});
