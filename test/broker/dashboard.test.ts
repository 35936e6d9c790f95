/**
 * The dashboard's HTTP side, without a browser: who may use it (refused on a
 * non-loopback listener without dashboard_users, with the log line saying why; read-only
 * on loopback; login with dashboard_users), the login cookie, CSRF on the disconnect
 * action, the live view's ACL, http_dir keeping `/`, and the dashboard_users option.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/broker/config/parse.ts';
import { defaultListener, defaultSecurity } from '../../src/broker/config/types.ts';
import type { BrokerConfig, ListenerConfig } from '../../src/broker/config/types.ts';
import { formatPasswordHash, hashPassword } from '../../src/common/password.ts';
import { mqttConnect, startTestBroker } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-dashboard-http-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const passwordFile = join(dir, 'passwd');
const aclFile = join(dir, 'acl');
writeFileSync(
  passwordFile,
  ['alice:secret', 'mallory:pw', 'sensor:pw']
    .map((entry) => {
      const [user, password] = entry.split(':') as [string, string];
      return `${user}:${formatPasswordHash(hashPassword(password))}\n`;
    })
    .join(''),
);
writeFileSync(aclFile, 'user alice\ntopic read sensors/#\n\nuser sensor\ntopic readwrite #\n');

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  port: number,
  path: string,
  options: { method?: string; body?: object; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? '' : JSON.stringify(options.body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { 'Content-Type': 'application/json', ...options.headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function start(
  http: Partial<ListenerConfig>,
  config: Partial<BrokerConfig> = {},
  manualClock = false,
): Promise<{ t: TestBroker; httpPort: number }> {
  const security = { ...defaultSecurity(false), passwordFile, aclFile };
  const mqtt: ListenerConfig = { ...defaultListener(0, security), bindAddress: '127.0.0.1' };
  const t = await startTestBroker({
    config: {
      listeners: [mqtt, { ...mqtt, protocol: 'http_api', ...http }],
      security,
      ...config,
    },
    ...(manualClock ? { manualClock: true } : {}),
  });
  return { t, httpPort: t.broker.ports[1] ?? 0 };
}

describe('who may use the dashboard', () => {
  test('no dashboard_users and not loopback: 403, and the log says why', async () => {
    const { t, httpPort } = await start({ bindAddress: null });
    try {
      assert.equal((await http(httpPort, '/')).status, 403);
      assert.equal((await http(httpPort, '/dashboard/api/clients')).status, 403);
      const line = t.log.lines.find((l) => l.message.startsWith('Dashboard refused'));
      assert.equal(line?.type, 'warning');
      assert.match(line.message, /dashboard_users is not set.*not bound to a loopback address/);
      // The HTTP API itself is untouched.
      assert.equal((await http(httpPort, '/metrics')).status, 401);
    } finally {
      await t.close();
    }
  });

  test('no dashboard_users on loopback: read-only, no login, no disconnect', async () => {
    const { t, httpPort } = await start({});
    try {
      const page = await http(httpPort, '/');
      assert.equal(page.status, 200);
      assert.match(page.body, /<title>mosquitto-ts dashboard<\/title>/);
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
      assert.equal((await http(httpPort, '/dashboard/app.js')).status, 200);
      const session = JSON.parse((await http(httpPort, '/dashboard/api/session')).body) as object;
      assert.deepEqual(session, {
        access: 'read-only',
        username: null,
        csrfToken: null,
        canAct: false,
      });
      assert.equal((await http(httpPort, '/dashboard/api/clients')).status, 200);
      const login = await http(httpPort, '/dashboard/login', {
        method: 'POST',
        body: { username: 'alice', password: 'secret' },
      });
      assert.equal(login.status, 400);
      const kick = await http(httpPort, '/dashboard/api/disconnect', {
        method: 'POST',
        body: { clientId: 'x' },
      });
      assert.equal(kick.status, 403);
      assert.match(t.log.lines.map((l) => l.message).join('\n'), /read-only without login/);
    } finally {
      await t.close();
    }
  });

  test('dashboard_users: login, cookie, CSRF, and only the named users', async () => {
    const { t, httpPort } = await start({ bindAddress: null }, { dashboardUsers: ['alice'] });
    try {
      assert.equal((await http(httpPort, '/dashboard/api/clients')).status, 401);
      const wrong = await http(httpPort, '/dashboard/login', {
        method: 'POST',
        body: { username: 'alice', password: 'nope' },
      });
      assert.equal(wrong.status, 401);
      // mallory's password is right, but she is not in dashboard_users.
      const notListed = await http(httpPort, '/dashboard/login', {
        method: 'POST',
        body: { username: 'mallory', password: 'pw' },
      });
      assert.equal(notListed.status, 403);
      const login = await http(httpPort, '/dashboard/login', {
        method: 'POST',
        body: { username: 'alice', password: 'secret' },
      });
      assert.equal(login.status, 200);
      const cookie = String(login.headers['set-cookie']);
      assert.match(
        cookie,
        /^mosquitto_dashboard=[\w-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict$/,
      );
      const headers = { Cookie: cookie.split(';')[0] ?? '' };
      const { csrfToken } = JSON.parse(login.body) as { csrfToken: string };
      assert.equal((await http(httpPort, '/dashboard/api/clients', { headers })).status, 200);

      const sensor = await mqttConnect(`mqtt://127.0.0.1:${t.port}`, {
        clientId: 'sensor-1',
        username: 'sensor',
        password: 'pw',
      });
      const clients = JSON.parse(
        (await http(httpPort, '/dashboard/api/clients', { headers })).body,
      ) as {
        clients: { clientId: string; username: string }[];
      };
      assert.deepEqual(
        clients.clients.map((c) => [c.clientId, c.username]),
        [['sensor-1', 'sensor']],
      );
      const body = { clientId: 'sensor-1' };
      const noCsrf = await http(httpPort, '/dashboard/api/disconnect', {
        method: 'POST',
        body,
        headers,
      });
      assert.equal(noCsrf.status, 403);
      const closed = new Promise<void>((resolve) =>
        sensor.client.once('close', () => {
          resolve();
        }),
      );
      const kick = await http(httpPort, '/dashboard/api/disconnect', {
        method: 'POST',
        body,
        headers: { ...headers, 'X-CSRF-Token': csrfToken },
      });
      assert.equal(kick.status, 200);
      await closed;
      const again = await http(httpPort, '/dashboard/api/disconnect', {
        method: 'POST',
        body,
        headers: { ...headers, 'X-CSRF-Token': csrfToken },
      });
      assert.equal(again.status, 404);

      const logout = await http(httpPort, '/dashboard/logout', { method: 'POST', headers });
      assert.equal(logout.status, 200);
      assert.equal((await http(httpPort, '/dashboard/api/clients', { headers })).status, 401);
    } finally {
      await t.close();
    }
  });
});

describe('the live message view', () => {
  test('max_auth_failures guards the login form too, with one table for MQTT and HTTP', async () => {
    const { t, httpPort } = await start(
      {},
      {
        dashboardUsers: ['alice'],
        authFailureLimit: { maxFailures: 3, windowSeconds: 60, blockSeconds: 60 },
      },
      true,
    );
    try {
      const login = (password: string): Promise<Answer> =>
        http(httpPort, '/dashboard/login', {
          method: 'POST',
          body: { username: 'alice', password },
        });
      assert.equal((await login('nope')).status, 401);
      assert.equal((await login('nope')).status, 401);
      // A failed MQTT login from the same address counts in the same table.
      await assert.rejects(
        mqttConnect(`mqtt://127.0.0.1:${t.port}`, { username: 'alice', password: 'nope' }),
      );
      const blocked = await login('secret');
      assert.equal(blocked.status, 429, 'the right password is refused while blocked');
      assert.equal(blocked.headers['retry-after'], '60');
      assert.ok(
        t.log
          .messages()
          .some((line) =>
            /Dashboard login refused for "alice" from \S+: too many failed logins, blocked for another 60 s\./.test(
              line,
            ),
          ),
      );
      // And the block holds for MQTT as well.
      await assert.rejects(
        mqttConnect(`mqtt://127.0.0.1:${t.port}`, { username: 'alice', password: 'secret' }),
      );
      t.clock.advance(61_000);
      assert.equal((await login('secret')).status, 200);
    } finally {
      await t.close();
    }
  });

  test('streams what the user may read, not the rest', async () => {
    const { t, httpPort } = await start({}, { dashboardUsers: ['alice'] });
    try {
      const login = await http(httpPort, '/dashboard/login', {
        method: 'POST',
        body: { username: 'alice', password: 'secret' },
      });
      const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
      assert.equal(
        (
          await http(httpPort, '/dashboard/api/messages?filter=a/%23/b', {
            headers: { Cookie: cookie },
          })
        ).status,
        400,
      );
      const events: string[] = [];
      const streamed = new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: httpPort,
            path: '/dashboard/api/messages?filter=%23',
            headers: { Cookie: cookie },
          },
          (response) => {
            assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => {
              events.push(chunk);
              if (chunk.includes('sensors/b')) {
                req.destroy();
                resolve();
              }
            });
            publish().catch(reject);
          },
        );
        req.on('error', () => undefined);
        req.end();
      });
      const publish = async (): Promise<void> => {
        const sensor = await mqttConnect(`mqtt://127.0.0.1:${t.port}`, {
          username: 'sensor',
          password: 'pw',
        });
        await sensor.client.publishAsync('sensors/a', 'one', { qos: 1 });
        await sensor.client.publishAsync('secret/x', 'hidden', { qos: 1 });
        await sensor.client.publishAsync('sensors/b', Buffer.from([0xff, 0x00]), { qos: 1 });
        await sensor.end();
      };
      await streamed;
      const data = events
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map(
          (line) => JSON.parse(line.slice(6)) as { topic: string; text: string; binary: boolean },
        );
      assert.deepEqual(
        data.map((m) => [m.topic, m.text, m.binary]),
        [
          ['sensors/a', 'one', false],
          ['sensors/b', 'ff00', true],
        ],
      );
    } finally {
      await t.close();
    }
  });
});

describe('dashboard_users and http_dir', () => {
  test('with http_dir the files keep "/" and the page is at /dashboard/', async () => {
    const www = join(dir, 'www');
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), '<html>mine</html>');
    const { t, httpPort } = await start({ httpDir: www });
    try {
      // The files go through the listener's own Basic authentication and ACL.
      const basic = `Basic ${Buffer.from('sensor:pw').toString('base64')}`;
      const files = await http(httpPort, '/', { headers: { Authorization: basic } });
      assert.equal(files.body, '<html>mine</html>');
      assert.match((await http(httpPort, '/dashboard/')).body, /mosquitto-ts dashboard/);
    } finally {
      await t.close();
    }
  });

  test('dashboard_users is cumulative, and needs a name', () => {
    const { config } = parseConfigText(
      'dashboard_users alice bob\ndashboard_users carol\n',
      'test.conf',
    );
    assert.deepEqual(config.dashboardUsers, ['alice', 'bob', 'carol']);
    assert.equal(parseConfigText('listener 1883\n', 'test.conf').config.dashboardUsers, null);
    assert.throws(() => parseConfigText('dashboard_users\n', 'test.conf'), /Empty dashboard_users/);
  });
});
