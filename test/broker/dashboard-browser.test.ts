/**
 * The web dashboard in a real headless browser (Debian's Chromium, driven by
 * playwright-core): it loads, refuses a wrong password, logs in with a user of the
 * password file named in dashboard_users, shows a client that connects and a message
 * that is published (and not one the user's ACL hides), and disconnects the client.
 * Screenshots go to test-artifacts/ (gitignored); docs/dashboard-*.png are copies.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { startBroker } from '../../src/broker/start-broker.ts';
import type { Broker } from '../../src/broker/broker.ts';
import { defaultListener, defaultSecurity } from '../../src/broker/config/types.ts';
import type { ListenerConfig } from '../../src/broker/config/types.ts';
import { formatPasswordHash, hashPassword } from '../../src/common/password.ts';
import { mqttConnect } from '../helpers/broker.ts';
import { CHROMIUM_PATH, requireChromium } from '../helpers/chromium.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-dashboard-'));
const artifacts = join(process.cwd(), 'test-artifacts');
let broker: Broker | null = null;
let browser: Browser | null = null;

before(() => {
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

function passwordLine(user: string, password: string): string {
  return `${user}:${formatPasswordHash(hashPassword(password))}\n`;
}

test(
  'the dashboard in Chromium: login, a client, a live message, disconnect',
  { timeout: 60_000 },
  async (t) => {
    if (!requireChromium(t)) return;
    const passwordFile = join(dir, 'passwd');
    writeFileSync(passwordFile, passwordLine('alice', 'secret') + passwordLine('sensor', 'pw'));
    const aclFile = join(dir, 'acl');
    // alice may read sensors/# only; the live view must hide what she may not read.
    writeFileSync(aclFile, 'user alice\ntopic read sensors/#\n\nuser sensor\ntopic readwrite #\n');
    const security = { ...defaultSecurity(false), passwordFile, aclFile };
    const mqtt: ListenerConfig = { ...defaultListener(0, security), bindAddress: '127.0.0.1' };
    const http: ListenerConfig = { ...mqtt, protocol: 'http_api' };
    broker = await startBroker({
      config: { listeners: [mqtt, http], security, sysInterval: 0, dashboardUsers: ['alice'] },
    });
    const [mqttPort, httpPort] = broker.ports;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    page.on('dialog', (dialog) => void dialog.accept());
    const shot = (name: string) =>
      page.screenshot({ path: join(artifacts, `dashboard-${name}.png`) });

    await page.goto(`http://127.0.0.1:${httpPort}/`);
    await page.locator('#login-form').waitFor();
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong');
    await page.click('#login-form button[type=submit]');
    await page.getByText('Wrong username or password.').waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);
    await shot('login-refused');

    await page.fill('#password', 'secret');
    await page.click('#login-form button[type=submit]');
    await page.locator('#nav').waitFor();
    assert.equal(await page.locator('#who').textContent(), 'aliceLog out');

    const sensor = await mqttConnect(`mqtt://127.0.0.1:${mqttPort}`, {
      clientId: 'sensor-1',
      username: 'sensor',
      password: 'pw',
      keepalive: 30,
    });
    const closed = new Promise<void>((resolve) =>
      sensor.client.once('close', () => {
        resolve();
      }),
    );

    await page.click('a[href="#messages"]');
    await page.fill('#watch-filter', '#');
    await page.click('#watch-form button[type=submit]');
    await page.getByText('Watching #…').waitFor();
    await sensor.client.publishAsync('secret/door', 'hidden from alice');
    await sensor.client.publishAsync('sensors/temperature', '21.5', { qos: 1 });
    const row = page.locator('#messages-body tr', { hasText: 'sensors/temperature' });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /21\.5/);
    assert.equal(await page.locator('#messages-body tr', { hasText: 'secret/door' }).count(), 0);
    await shot('messages');

    await page.click('a[href="#overview"]');
    await page.locator('#ov-clients', { hasText: /^1$/ }).waitFor();
    await page.locator('#chart-rates polyline').first().waitFor({ state: 'attached' });
    await shot('overview');

    await page.click('a[href="#clients"]');
    const clientRow = page.locator('#clients-body tr', { hasText: 'sensor-1' });
    await clientRow.waitFor();
    assert.match((await clientRow.textContent()) ?? '', /MQTT 3\.1\.1.*sensor.*30 s/);
    await shot('clients');
    await clientRow.getByRole('button', { name: 'Disconnect' }).click();
    await closed;
    await page.getByText('Disconnected sensor-1.').waitFor();
    await clientRow.waitFor({ state: 'detached' });
  },
);
