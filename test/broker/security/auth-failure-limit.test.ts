/**
 * `max_auth_failures`, `auth_failure_window`, `auth_block_period` (our extension,
 * DEVIATIONS "Extensions"): after too many refused logins from one address, its CONNECTs
 * are refused (5 / 0x87) without hashing for a while; other addresses are served as
 * before; the table of addresses stays bounded in entries, memory and time per CONNECT.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ManualClock } from '../../../src/common/clock.ts';
import {
  AuthFailureLimiter,
  MAX_TRACKED_ADDRESSES,
  addressKey,
} from '../../../src/broker/security/auth-failure-limiter.ts';
import { ConfigError } from '../../../src/broker/config/errors.ts';
import { parseConfigText } from '../../../src/broker/config/parse.ts';
import type { AuthFailureLimitConfig } from '../../../src/broker/config/types.ts';
import { RawClient } from '../../helpers/raw-client.ts';
import { toHex } from '../../helpers/packet-bytes.ts';
import * as wire from '../../helpers/packet-bytes.ts';
import type { TestBroker } from '../../helpers/broker.ts';
import { passwordEntry, startSecureBroker, tempDir } from './fixtures.ts';

const LIMIT: AuthFailureLimitConfig = { maxFailures: 3, windowSeconds: 60, blockSeconds: 120 };

describe('the limiter on its own', () => {
  test('blocks after N failures within the window, for the block period', () => {
    const clock = new ManualClock();
    const limiter = new AuthFailureLimiter(clock, LIMIT);
    assert.deepEqual(limiter.recordFailure('10.0.0.1'), { blocked: false, evicted: false });
    assert.equal(limiter.recordFailure('10.0.0.1').blocked, false);
    assert.equal(limiter.blockedFor('10.0.0.1'), 0);
    assert.equal(limiter.recordFailure('10.0.0.1').blocked, true);
    assert.equal(limiter.blockedFor('10.0.0.1'), 120_000);
    assert.equal(limiter.blockedFor('10.0.0.2'), 0, 'another address is not blocked');
    clock.advance(119_999);
    assert.equal(limiter.blockedFor('10.0.0.1'), 1);
    clock.advance(1);
    assert.equal(limiter.blockedFor('10.0.0.1'), 0);
    // Counting starts anew after a block.
    limiter.recordFailure('10.0.0.1');
    assert.equal(limiter.blockedFor('10.0.0.1'), 0);
  });

  test('failures spread over more than the window never block', () => {
    const clock = new ManualClock();
    const limiter = new AuthFailureLimiter(clock, LIMIT);
    for (let i = 0; i < 20; i++) {
      assert.equal(limiter.recordFailure('10.0.0.1').blocked, false);
      if (i % 2 === 1) clock.advance(60_000);
    }
    assert.equal(limiter.blockedFor('10.0.0.1'), 0);
  });

  test('off (max_auth_failures 0): nothing is counted or blocked', () => {
    const limiter = new AuthFailureLimiter(new ManualClock(), { ...LIMIT, maxFailures: 0 });
    for (let i = 0; i < 100; i++) limiter.recordFailure('10.0.0.1');
    assert.equal(limiter.blockedFor('10.0.0.1'), 0);
    assert.equal(limiter.size, 0);
  });

  test('turning it off on reload forgets every address', () => {
    const limiter = new AuthFailureLimiter(new ManualClock(), LIMIT);
    for (let i = 0; i < 3; i++) limiter.recordFailure('10.0.0.1');
    assert.ok(limiter.blockedFor('10.0.0.1') > 0);
    limiter.reconfigure({ ...LIMIT, maxFailures: 0 });
    assert.equal(limiter.size, 0);
    limiter.reconfigure(LIMIT);
    assert.equal(limiter.blockedFor('10.0.0.1'), 0);
  });

  test('bounded: a full table forgets the least recently updated address', () => {
    const clock = new ManualClock();
    const limiter = new AuthFailureLimiter(clock, LIMIT, 1000);
    for (let i = 0; i < 3; i++) limiter.recordFailure('192.168.0.1');
    let evictions = 0;
    for (let i = 0; i < 5000; i++) {
      if (limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`).evicted) evictions++;
    }
    assert.equal(limiter.size, 1000);
    assert.equal(evictions, 4001);
    assert.equal(limiter.blockedFor('192.168.0.1'), 0, 'the oldest entry went first');
  });

  test('expired entries are dropped as the clock moves on, without a timer', () => {
    const clock = new ManualClock();
    const limiter = new AuthFailureLimiter(clock, LIMIT);
    for (let i = 0; i < 500; i++) limiter.recordFailure(`10.1.${i >> 8}.${i & 255}`);
    clock.advance(30_000);
    for (let i = 0; i < 3; i++) limiter.recordFailure('10.9.9.9');
    assert.equal(limiter.size, 501);
    // An entry goes at most max(window, block) = 120 s after its last update.
    clock.advance(89_999);
    assert.equal(limiter.blockedFor('10.2.2.2'), 0);
    assert.equal(limiter.size, 501);
    clock.advance(1);
    assert.equal(limiter.blockedFor('10.2.2.2'), 0);
    assert.equal(limiter.size, 1);
    clock.advance(30_000); // and the blocked one with its block
    assert.equal(limiter.blockedFor('10.9.9.9'), 0);
    assert.equal(limiter.size, 0);
  });

  test('a full table of 100,000 addresses: bounded memory, microseconds per call', () => {
    const gc = loadGc();
    const heap = (): number => {
      gc?.();
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    const clock = new ManualClock();
    const limiter = new AuthFailureLimiter(clock, LIMIT);
    const before = heap();
    const started = performance.now();
    for (let i = 0; i < MAX_TRACKED_ADDRESSES; i++) {
      limiter.recordFailure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    }
    const full = heap();
    // Twice as many again: the table stays at its cap, memory stays where it was.
    for (let i = 0; i < 2 * MAX_TRACKED_ADDRESSES; i++) {
      limiter.recordFailure(`11.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
      limiter.blockedFor(`12.0.0.${i & 255}`);
    }
    const elapsed = performance.now() - started;
    const after = heap();
    assert.equal(limiter.size, MAX_TRACKED_ADDRESSES);
    if (gc !== null) {
      assert.ok(full - before < 40 * 1024 * 1024, `100,000 entries took ${full - before} bytes`);
      assert.ok(after - full < 8 * 1024 * 1024, `grew by ${after - full} bytes past the cap`);
    }
    // 500,000 calls; generous for a loaded CI machine, still microseconds each.
    assert.ok(elapsed < 5000, `${elapsed} ms`);
  });

  test('IPv6 addresses count per /64; IPv4-mapped ones as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002::9%eth0'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('/run/mosquitto.sock'), '/run/mosquitto.sock');
    const limiter = new AuthFailureLimiter(new ManualClock(), LIMIT);
    limiter.recordFailure('2001:db8::1');
    limiter.recordFailure('2001:db8::2');
    limiter.recordFailure('2001:db8::3');
    assert.ok(limiter.blockedFor('2001:db8::ffff') > 0);
    assert.equal(limiter.blockedFor('2001:db8:0:1::1'), 0);
  });
});

describe('configuration', () => {
  const parse = (text: string): AuthFailureLimitConfig | undefined =>
    parseConfigText(text, 'lim.conf', [], { hostname: 'host' }).config.authFailureLimit;
  const error = (text: string): string => {
    try {
      parse(text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      assert.match(e.errorLines.at(-1) ?? '', /^Error found at lim\.conf:\d+\.$/);
      return e.errorLines[0] ?? '';
    }
    return assert.fail(`no error for ${text}`);
  };

  test('off by default; the three options', () => {
    assert.deepEqual(parse('listener 1883\n'), {
      maxFailures: 0,
      windowSeconds: 60,
      blockSeconds: 60,
    });
    assert.deepEqual(
      parse('max_auth_failures 10\nauth_failure_window 300\nauth_block_period 900\n'),
      { maxFailures: 10, windowSeconds: 300, blockSeconds: 900 },
    );
  });

  test('bad values are errors with the file and line', () => {
    assert.equal(error('max_auth_failures -1\n'), 'Error: Invalid max_auth_failures value (-1).');
    assert.equal(error('max_auth_failures ten\n'), 'Error: max_auth_failures value not a number.');
    assert.equal(
      error('max_auth_failures\n'),
      'Error: Empty max_auth_failures value in configuration.',
    );
    assert.equal(error('auth_failure_window 0\n'), 'Error: Invalid auth_failure_window value (0).');
    assert.equal(
      error('auth_block_period 604801\n'),
      'Error: Invalid auth_block_period value (604801).',
    );
  });
});

describe('over real sockets', () => {
  async function limitedBroker(): Promise<{ t: TestBroker; hashes: () => number }> {
    const dir = tempDir();
    const passwordFile = dir.write('pw', `${passwordEntry('alice', 'secret')}\n`);
    const t = await startSecureBroker({
      security: { passwordFile },
      config: { authFailureLimit: LIMIT },
      manualClock: true,
    });
    // Counts the password checks, to show that a blocked address costs no hash.
    let checks = 0;
    const security = t.broker.security;
    const authenticate = security.authenticate.bind(security);
    security.authenticate = (...args) => {
      checks++;
      return authenticate(...args);
    };
    return { t, hashes: () => checks };
  }

  async function connackFrom(
    t: TestBroker,
    source: string,
    options: wire.ConnectOptions,
  ): Promise<string> {
    const client = await RawClient.open(t.port, '127.0.0.1', undefined, source);
    try {
      client.send(wire.connect(options));
      return toHex(await client.expectPacket());
    } finally {
      client.destroy();
    }
  }

  test('an address that keeps failing is refused, even with the right password; others are not', async () => {
    const { t, hashes } = await limitedBroker();
    try {
      const bad = { username: 'alice', password: 'guess' };
      const good = { username: 'alice', password: 'secret' };
      // A client of the attacker's address that was connected before stays connected.
      const early = await RawClient.open(t.port, '127.0.0.1', undefined, '127.0.0.2');
      early.send(wire.connect({ clientId: 'early', ...good }));
      assert.equal(toHex(await early.expectPacket()), '20 02 00 00');

      for (let i = 0; i < 3; i++) {
        assert.equal(
          await connackFrom(t, '127.0.0.2', { clientId: `g${i}`, ...bad }),
          '20 02 00 05',
        );
      }
      assert.ok(
        t.log.lines.some(
          (l) =>
            l.type === 'notice' &&
            l.message ===
              'Too many failed logins from 127.0.0.2 (3 within 60 s): refusing its connections for 120 s.',
        ),
      );
      const checksBefore = hashes();
      assert.equal(
        await connackFrom(t, '127.0.0.2', { clientId: 'right', ...good }),
        '20 02 00 05',
      );
      assert.equal(
        await connackFrom(t, '127.0.0.2', { version: 5, clientId: 'right5', ...good }),
        '20 03 00 87 00',
      );
      assert.equal(hashes(), checksBefore, 'no password was checked for the blocked address');
      assert.ok(
        t.log.lines.some(
          (l) =>
            l.message ===
            'Client right from 127.0.0.2 refused: too many failed logins, blocked for another 120 s.',
        ),
      );

      // Other addresses: served, and their own failures counted on their own.
      assert.equal(await connackFrom(t, '127.0.0.3', { clientId: 'o1', ...good }), '20 02 00 00');
      assert.equal(await connackFrom(t, '127.0.0.3', { clientId: 'o2', ...bad }), '20 02 00 05');
      assert.equal(await connackFrom(t, '127.0.0.3', { clientId: 'o3', ...good }), '20 02 00 00');
      // The connected client of the blocked address still works.
      early.send(wire.pingreq());
      assert.equal(toHex(await early.expectPacket()), 'd0 00');

      t.clock.advance(120_000);
      assert.equal(
        await connackFrom(t, '127.0.0.2', { clientId: 'later', ...good }),
        '20 02 00 00',
      );
      early.destroy();
    } finally {
      await t.close();
    }
  });

  test('a success does not clear the count (an attacker with one account cannot reset it)', async () => {
    const { t } = await limitedBroker();
    try {
      const source = '127.0.0.4';
      for (let i = 0; i < 2; i++) {
        await connackFrom(t, source, { clientId: `b${i}`, username: 'alice', password: 'x' });
        assert.equal(
          await connackFrom(t, source, {
            clientId: `s${i}`,
            username: 'alice',
            password: 'secret',
          }),
          '20 02 00 00',
        );
      }
      await connackFrom(t, source, { clientId: 'b3', username: 'alice', password: 'x' });
      assert.equal(
        await connackFrom(t, source, { clientId: 's3', username: 'alice', password: 'secret' }),
        '20 02 00 05',
      );
    } finally {
      await t.close();
    }
  });

  test('a flood of CONNECTs from a blocked address leaves the event loop free for others', async () => {
    const { t } = await limitedBroker();
    try {
      for (let i = 0; i < 3; i++) {
        await connackFrom(t, '127.0.0.5', { clientId: `g${i}`, username: 'alice', password: 'x' });
      }
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const flood = Array.from({ length: 300 }, (_, i) =>
        connackFrom(t, '127.0.0.5', { clientId: `f${i}`, username: 'alice', password: 'secret' }),
      );
      // Meanwhile a client of another address logs in and gets its PINGRESP.
      const other = await RawClient.open(t.port, '127.0.0.1', undefined, '127.0.0.6');
      other.send(wire.connect({ clientId: 'other', username: 'alice', password: 'secret' }));
      assert.equal(toHex(await other.expectPacket()), '20 02 00 00');
      other.send(wire.pingreq());
      assert.equal(toHex(await other.expectPacket()), 'd0 00');
      const answers = await Promise.all(flood);
      delay.disable();
      other.destroy();
      assert.ok(answers.every((a) => a === '20 02 00 05'));
      // One table entry; the loop never stalled (a hash per CONNECT would have).
      assert.equal(t.broker.authFailures.size, 1);
      const maxMs = delay.max / 1e6;
      assert.ok(maxMs < 200, `event loop stalled ${maxMs} ms`);
    } finally {
      await t.close();
    }
  });
});

function loadGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
