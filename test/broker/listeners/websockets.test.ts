/**
 * `protocol websockets` listeners: MQTT.js over ws:// and wss://, a raw `ws` client for
 * what MQTT.js never does (text frames, other subprotocols, oversized messages), and
 * http_dir's plain HTTP file serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import WebSocket from 'ws';
import type { CertificatePair } from '../../helpers/certs.ts';
import { TestPki, opensslSkip } from '../../helpers/certs.ts';
import { removeTempDir, trackTempDir } from '../../helpers/children.ts';
import { waitFor } from '../../helpers/broker.ts';
import { connect, publish } from '../../helpers/packet-bytes.ts';
import {
  connectOrFail,
  roundTrip,
  serverTls,
  startListenerBroker,
  tlsClientOptions,
  tryConnect,
} from './listener-helpers.ts';
import type { ListenerBroker } from './listener-helpers.ts';

const websockets = { protocol: 'websockets' } as const;

/** Opens a raw WebSocket; resolves once open (with the negotiated subprotocol). */
function openWebSocket(
  port: number,
  protocols: string[],
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, protocols, { headers });
    socket.once('open', () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    socket.once('message', (data: Buffer) => {
      resolve(data);
    });
    socket.once('close', () => {
      reject(new Error('closed'));
    });
  });
}

function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) resolve(1006);
    socket.once('close', (code: number) => {
      resolve(code);
    });
  });
}

interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function httpGet(port: number, path: string, method = 'GET'): Promise<HttpAnswer | 'closed'> {
  return new Promise((resolve) => {
    const request = http.request({ host: '127.0.0.1', port, path, method }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
      });
    });
    request.on('error', () => {
      resolve('closed');
    });
    request.end();
  });
}

describe('WebSocket listeners', () => {
  test('MQTT.js publishes and subscribes over ws:// (MQTT 3.1.1, 5 and 3.1)', async () => {
    const running = await startListenerBroker(websockets);
    try {
      const url = `ws://127.0.0.1:${running.port}/mqtt`;
      for (const protocolVersion of [4, 5, 3] as const) {
        const options: IClientOptions = {
          protocolVersion,
          protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
        };
        const sub = await connectOrFail(url, options);
        const pub = await connectOrFail(url, options);
        assert.equal(await roundTrip(sub, pub, `ws/${protocolVersion}`, 'hi'), 'hi');
        await Promise.all([sub.endAsync(), pub.endAsync()]);
      }
      assert.ok(
        running.lines().includes(`Opening websockets listen socket on port ${running.port}.`),
      );
    } finally {
      await running.close();
    }
  });

  test('subprotocols: mqtt preferred, mqttv3.1 accepted, others refused', async () => {
    const running = await startListenerBroker(websockets);
    try {
      const both = await openWebSocket(running.port, ['mqttv3.1', 'mqtt']);
      assert.equal(both.protocol, 'mqtt');
      both.close();
      const old = await openWebSocket(running.port, ['mqttv3.1']);
      assert.equal(old.protocol, 'mqttv3.1');
      old.close();
      await assert.rejects(openWebSocket(running.port, ['chat']), /400/);
    } finally {
      await running.close();
    }
  });

  test('binary messages carry packets: split and joined as the client likes', async () => {
    const running = await startListenerBroker(websockets);
    try {
      const socket = await openWebSocket(running.port, ['mqtt']);
      const bytes = connect({ clientId: 'split' });
      const connack = nextMessage(socket);
      socket.send(bytes.subarray(0, 5));
      socket.send(bytes.subarray(5));
      assert.equal((await connack).toString('hex'), '20020000');
      socket.close();
    } finally {
      await running.close();
    }
  });

  test('a text message ends the connection as a protocol error', async () => {
    const running = await startListenerBroker(websockets);
    try {
      const socket = await openWebSocket(running.port, ['mqtt']);
      const connack = nextMessage(socket);
      socket.send(connect({ clientId: 'texter' }));
      await connack;
      const gone = closed(socket);
      socket.send('not binary');
      await gone;
      await waitFor(() => running.lines().includes('Client texter disconnected: Protocol error.'));
    } finally {
      await running.close();
    }
  });

  test('a message larger than max_packet_size closes the connection', async () => {
    const running = await startListenerBroker(websockets, { maxPacketSize: 200 });
    try {
      const socket = await openWebSocket(running.port, ['mqtt']);
      const connack = nextMessage(socket);
      socket.send(connect({ clientId: 'big' }));
      await connack;
      const gone = closed(socket);
      socket.send(publish({ topic: 't', payload: 'x'.repeat(500) }));
      assert.equal(await gone, 1009);
    } finally {
      await running.close();
    }
  });

  test('X-Forwarded-For is the address logged (as libwebsockets reports it)', async () => {
    const running = await startListenerBroker(websockets);
    try {
      const socket = await openWebSocket(running.port, ['mqtt'], {
        'X-Forwarded-For': '203.0.113.7',
      });
      const connack = nextMessage(socket);
      socket.send(connect({ clientId: 'proxied' }));
      await connack;
      socket.close();
      assert.ok(
        running
          .lines()
          .some((l) => l.startsWith('New client connected from 203.0.113.7:0 as proxied')),
        running.lines().join('\n'),
      );
    } finally {
      await running.close();
    }
  });

  test('websockets_headers_size limits the upgrade request', async () => {
    const running = await startListenerBroker(websockets, { websocketsHeadersSize: 1024 });
    try {
      await assert.rejects(openWebSocket(running.port, ['mqtt'], { 'X-Big': 'a'.repeat(2000) }));
      const small = await openWebSocket(running.port, ['mqtt']);
      small.close();
    } finally {
      await running.close();
    }
  });

  test('max_connections applies to WebSocket clients', async () => {
    const running = await startListenerBroker({ ...websockets, maxConnections: 1 });
    try {
      const url = `ws://127.0.0.1:${running.port}/mqtt`;
      const first = await connectOrFail(url);
      const second = await tryConnect(url);
      assert.notEqual(second.kind, 'connected');
      assert.ok(
        running
          .lines()
          .includes('Client connection from 127.0.0.1 denied: max_connections exceeded.'),
      );
      await first.endAsync();
    } finally {
      await running.close();
    }
  });

  describe('http_dir', () => {
    let dir: string;
    let running: ListenerBroker;

    before(async () => {
      dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-http-')));
      mkdirSync(join(dir, 'www/sub'), { recursive: true });
      writeFileSync(join(dir, 'www/index.html'), '<h1>index</h1>');
      writeFileSync(join(dir, 'www/sub/page.txt'), 'page');
      writeFileSync(join(dir, 'secret.txt'), 'secret');
      running = await startListenerBroker({ ...websockets, httpDir: join(dir, 'www') });
    });
    after(async () => {
      await running.close();
      removeTempDir(dir);
    });

    test('serves files with Mosquitto headers; index.html for a directory path', async () => {
      const file = await httpGet(running.port, '/sub/page.txt');
      assert.notEqual(file, 'closed');
      if (file === 'closed') return;
      assert.equal(file.status, 200);
      assert.equal(file.body, 'page');
      assert.equal(file.headers.server, 'mosquitto');
      assert.equal(file.headers['content-length'], '4');
      const index = await httpGet(running.port, '/');
      assert.equal(index !== 'closed' && index.body, '<h1>index</h1>');
    });

    test('404 for a missing file, 403 outside the directory, 302 for a directory, 405 POST', async () => {
      const status = async (path: string, method?: string): Promise<number> => {
        const answer = await httpGet(running.port, path, method);
        return answer === 'closed' ? -1 : answer.status;
      };
      assert.equal(await status('/nope.html'), 404);
      assert.equal(await status('/..%2Fsecret.txt'), 403);
      assert.equal(await status('/sub'), 302);
      assert.equal(await status('/sub/page.txt', 'POST'), 405);
      const redirect = await httpGet(running.port, '/sub');
      assert.equal(redirect !== 'closed' && redirect.headers.location, '/sub/');
    });

    test('WebSockets still work next to the files', async () => {
      const client = await connectOrFail(`ws://127.0.0.1:${running.port}/mqtt`);
      await client.endAsync();
    });

    test('without http_dir, HTTP requests get no answer', async () => {
      const plain = await startListenerBroker(websockets);
      try {
        assert.equal(await httpGet(plain.port, '/index.html'), 'closed');
      } finally {
        await plain.close();
      }
    });

    test('an http_dir that does not exist stops the broker', async () => {
      await assert.rejects(
        startListenerBroker({ ...websockets, httpDir: join(dir, 'missing') }),
        /Unable to open http dir/,
      );
    });
  });

  describe('wss://', opensslSkip(), () => {
    let pki: TestPki;
    let server: CertificatePair;
    let alice: CertificatePair;

    before(() => {
      pki = TestPki.create();
      server = pki.server();
      alice = pki.client('/CN=alice');
    });
    after(() => {
      pki.remove();
    });

    test('MQTT.js over wss://', async () => {
      const running = await startListenerBroker({ ...websockets, tls: serverTls(server) });
      try {
        const url = `wss://localhost:${running.port}/mqtt`;
        const sub = await connectOrFail(url, tlsClientOptions(pki.caCert));
        const pub = await connectOrFail(url, tlsClientOptions(pki.caCert));
        assert.equal(await roundTrip(sub, pub, 'wss/t', 'secure'), 'secure');
        await Promise.all([sub.endAsync(), pub.endAsync()]);
      } finally {
        await running.close();
      }
    });

    test('client certificates and use_identity_as_username over wss://', async () => {
      const running = await startListenerBroker({
        ...websockets,
        tls: serverTls(server, {
          cafile: pki.caCert,
          requireCertificate: true,
          useIdentityAsUsername: true,
        }),
      });
      try {
        const url = `wss://localhost:${running.port}/mqtt`;
        const refused = await tryConnect(url, tlsClientOptions(pki.caCert));
        assert.notEqual(refused.kind, 'connected');
        const client = await connectOrFail(url, tlsClientOptions(pki.caCert, alice));
        await client.endAsync();
        assert.ok(
          running.lines().some((l) => l.includes("u'alice'")),
          running.lines().join('\n'),
        );
      } finally {
        await running.close();
      }
    });
  });
});
