/**
 * The http_api listener (Mosquitto 2.1's HTTP API plus our /metrics): exact counter
 * values after a scripted conversation, the same numbers in $SYS terms, counters kept over
 * a reload, and the HTTP answers (405, 404, 401 with its challenge, http_dir).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin } from '../../src/index.ts';
import { defaultListener, defaultSecurity } from '../../src/broker/config/types.ts';
import type { ListenerConfig } from '../../src/broker/config/types.ts';
import { IMPLEMENTATION_VERSION } from '../../src/broker/version.ts';
import { mqttConnect, settle, startTestBroker, waitFor } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';
import { httpGet, parseMetrics } from '../helpers/http.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-http-api-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function httpListener(overrides: Partial<ListenerConfig> = {}): ListenerConfig {
  return {
    ...defaultListener(0, defaultSecurity(true)),
    bindAddress: '127.0.0.1',
    protocol: 'http_api',
    ...overrides,
  };
}

async function startWithHttp(
  options: { http?: Partial<ListenerConfig>; anonymous?: boolean } = {},
): Promise<{ t: TestBroker; httpPort: number }> {
  const security = defaultSecurity(options.anonymous ?? true);
  const mqtt: ListenerConfig = {
    ...defaultListener(0, security),
    bindAddress: '127.0.0.1',
  };
  const t = await startTestBroker({
    config: { listeners: [mqtt, httpListener({ security, ...options.http })], security },
    plugins: [
      {
        definition: definePlugin({
          name: 'test-policy',
          init: () => ({
            basicAuth: ({ username }) =>
              username === 'bob' ? 'deny' : username === 'viewer' ? 'allow' : 'defer',
            aclCheck: ({ access, topic, client }) => {
              if (access === 'publish-client-send' && topic.startsWith('secret/')) return 'deny';
              if (access === 'subscribe' && topic === 'forbidden') return 'deny';
              if (
                access === 'publish-client-receive' &&
                topic === '/api/v1/systree' &&
                client.username === 'viewer'
              ) {
                return 'deny';
              }
              return 'allow';
            },
          }),
        }),
      },
    ],
  });
  return { t, httpPort: t.broker.ports[1] ?? 0 };
}

describe('/metrics after a scripted conversation', () => {
  test('exact counters by QoS, listener and reason; the same numbers in /api/v1/systree', async () => {
    const { t, httpPort } = await startWithHttp();
    try {
      const subscriber = await mqttConnect(t.url, { clientId: 'sub', keepalive: 0 });
      await subscriber.client.subscribeAsync('t/#', { qos: 2 });
      await assert.rejects(subscriber.client.subscribeAsync('forbidden', { qos: 0 }));
      const publisher = await mqttConnect(t.url, { clientId: 'pub', keepalive: 0 });
      await publisher.client.publishAsync('t/0', 'aa', { qos: 0 });
      await publisher.client.publishAsync('t/1', 'bbb', { qos: 1 });
      await publisher.client.publishAsync('t/2', 'cccc', { qos: 2, retain: true });
      await publisher.client.publishAsync('secret/x', 'zzzzz', { qos: 1 });
      await subscriber.waitForMessages(3);
      // A refused login, and a will published when its client vanishes.
      await assert.rejects(mqttConnect(t.url, { clientId: 'b', username: 'bob', password: 'x' }));
      const { client: dying } = await t.rawConnect({
        clientId: 'dying',
        will: { topic: 'w/gone', payload: 'bye' },
      });
      dying.destroy();
      await waitFor(() => t.broker.metrics.willsPublished === 1);
      await settle(50);

      const answer = await httpGet(httpPort, '/metrics');
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      const m = parseMetrics(answer.body);
      const mqttPort = t.port;
      const expected: [string, number][] = [
        ['mosquitto_received_publish_messages_total{qos="0"}', 1],
        ['mosquitto_received_publish_messages_total{qos="1"}', 2],
        ['mosquitto_received_publish_messages_total{qos="2"}', 1],
        ['mosquitto_received_publish_bytes_total{qos="0"}', 2],
        ['mosquitto_received_publish_bytes_total{qos="1"}', 8],
        ['mosquitto_received_publish_bytes_total{qos="2"}', 4],
        ['mosquitto_sent_publish_messages_total{qos="0"}', 1],
        ['mosquitto_sent_publish_messages_total{qos="1"}', 1],
        ['mosquitto_sent_publish_messages_total{qos="2"}', 1],
        ['mosquitto_sent_publish_bytes_total{qos="2"}', 4],
        [
          `mosquitto_listener_received_publish_messages_total{listener="${mqttPort}",protocol="mqtt"}`,
          4,
        ],
        [
          `mosquitto_listener_sent_publish_messages_total{listener="${mqttPort}",protocol="mqtt"}`,
          3,
        ],
        [
          `mosquitto_listener_received_publish_bytes_total{listener="${mqttPort}",protocol="mqtt"}`,
          14,
        ],
        [
          `mosquitto_listener_accepted_connections_total{listener="${mqttPort}",protocol="mqtt"}`,
          4,
        ],
        [`mosquitto_listener_connections{listener="${mqttPort}",protocol="mqtt"}`, 2],
        ['mosquitto_connects_total', 3],
        ['mosquitto_auth_failures_total', 1],
        ['mosquitto_acl_denied_total{access="publish"}', 1],
        ['mosquitto_acl_denied_total{access="subscribe"}', 1],
        ['mosquitto_wills_published_total', 1],
        ['mosquitto_clients_connected', 2],
        ['mosquitto_clients_disconnected', 0],
        ['mosquitto_subscriptions', 1],
        ['mosquitto_retained_messages', 1],
        ['mosquitto_queued_messages', 0],
        ['mosquitto_inflight_messages', 0],
        ['mosquitto_dropped_messages_total{reason="queue_full"}', 0],
      ];
      for (const [name, value] of expected) assert.equal(m.get(name), value, name);
      assert.ok((m.get('mosquitto_resident_memory_bytes') ?? 0) > 0);
      assert.ok(m.has('mosquitto_event_loop_delay_seconds{quantile="0.99"}'));
      assert.equal(
        m.get(
          `mosquitto_build_info{version="2.0.22",implementation="mosquitto-ts",implementation_version="${IMPLEMENTATION_VERSION}"}`,
        ),
        1,
      );

      // /api/v1/systree reads the same counters.
      const systree = JSON.parse((await httpGet(httpPort, '/api/v1/systree')).body) as Record<
        string,
        number
      >;
      assert.equal(systree['$SYS/broker/publish/messages/received'], 4);
      assert.equal(systree['$SYS/broker/publish/messages/sent'], 3);
      assert.equal(systree['$SYS/broker/publish/bytes/received'], 14);
      assert.equal(systree['$SYS/broker/clients/connected'], 2);
      assert.equal(systree['$SYS/broker/bytes/received'], m.get('mosquitto_received_bytes_total'));

      // A reload keeps every counter.
      t.broker.reload(t.broker.config);
      const reloaded = parseMetrics((await httpGet(httpPort, '/metrics')).body);
      for (const [name, value] of expected) assert.equal(reloaded.get(name), value, name);
      await subscriber.end();
      await publisher.end();
    } finally {
      await t.close();
    }
  });
});

describe('http_api answers', () => {
  test('405, 404, the version, the listeners, Access-Control-Allow-Origin', async () => {
    const { t, httpPort } = await startWithHttp();
    try {
      const post = await httpGet(httpPort, '/api/v1/version', { method: 'POST' });
      assert.deepEqual([post.status, post.body], [405, 'Invalid HTTP Method\n']);
      const head = await httpGet(httpPort, '/api/v1/version', { method: 'HEAD' });
      assert.equal(head.status, 405);
      const missing = await httpGet(httpPort, '/api/missing');
      assert.deepEqual([missing.status, missing.body], [404, 'Not found.\n']);
      const noDir = await httpGet(httpPort, '/index.html');
      assert.equal(noDir.status, 404);
      const version = await httpGet(httpPort, '/api/v1/version');
      assert.equal(version.status, 200);
      assert.equal(version.body, `2.0.22 (mosquitto-ts ${IMPLEMENTATION_VERSION})`);
      assert.match(version.body, /^\d+\.\d+\.\d+.*$/);
      assert.equal(version.headers['access-control-allow-origin'], '*');
      const listeners = await httpGet(httpPort, '/api/v1/listeners');
      assert.deepEqual(JSON.parse(listeners.body), {
        listeners: [
          { port: t.port, protocol: 'mqtt', tls: false, mtls: false, allow_anonymous: true },
          { port: httpPort, protocol: 'httpapi', tls: false, mtls: false, allow_anonymous: true },
        ],
      });
      // cJSON_Print's layout.
      assert.match(listeners.body, /^\{\n\t"listeners":\t\[\{\n\t\t\t"port":\t\d+,\n/);
    } finally {
      await t.close();
    }
  });

  test('401 with a Basic challenge: no anonymous access, a refused user, an ACL', async () => {
    const { t, httpPort } = await startWithHttp({ anonymous: false });
    try {
      const anonymous = await httpGet(httpPort, '/api/v1/version');
      assert.deepEqual([anonymous.status, anonymous.body], [401, 'Not authorised\n']);
      assert.equal(anonymous.headers['www-authenticate'], 'Basic realm="Mosquitto API"');
      const refused = await httpGet(httpPort, '/api/v1/version', { auth: 'bob:x' });
      assert.equal(refused.status, 401);
    } finally {
      await t.close();
    }
    const open = await startWithHttp();
    try {
      // The plugin's ACL refuses /api/v1/systree to "viewer" (a topic, read access).
      const viewer = { auth: 'viewer:pw' };
      assert.equal((await httpGet(open.httpPort, '/api/v1/systree', viewer)).status, 401);
      assert.equal((await httpGet(open.httpPort, '/api/v1/version', viewer)).status, 200);
      assert.equal((await httpGet(open.httpPort, '/api/v1/systree')).status, 200);
    } finally {
      await open.t.close();
    }
  });

  test('http_dir: files and index.html, nothing outside the directory', async () => {
    const www = join(dir, 'www');
    mkdirSync(join(www, 'sub'), { recursive: true });
    writeFileSync(join(www, 'index.html'), '<html></html>');
    writeFileSync(join(www, 'sub', 'a.css'), 'p{}');
    writeFileSync(join(dir, 'secret.txt'), 'no');
    symlinkSync(join(dir, 'secret.txt'), join(www, 'link.txt'));
    const { t, httpPort } = await startWithHttp({ http: { httpDir: www } });
    try {
      const root = await httpGet(httpPort, '/');
      assert.deepEqual([root.status, root.body], [200, '<html></html>']);
      const css = await httpGet(httpPort, '/sub/a.css');
      assert.deepEqual([css.status, css.body], [200, 'p{}']);
      assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
      assert.equal((await httpGet(httpPort, '/sub')).status, 404);
      assert.equal((await httpGet(httpPort, '/missing')).status, 404);
      assert.equal((await httpGet(httpPort, '/../secret.txt')).status, 404);
      assert.equal((await httpGet(httpPort, '/%2e%2e/secret.txt')).status, 404);
      assert.equal((await httpGet(httpPort, '/link.txt')).status, 404);
      // Routes come before files: a route added for "/" (a dashboard) takes it over.
      t.broker.httpRoutes.add({ path: '/', handle: () => ({ status: 200, body: 'dash' }) });
      assert.equal((await httpGet(httpPort, '/')).body, 'dash');
    } finally {
      await t.close();
    }
  });
});
