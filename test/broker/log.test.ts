/**
 * The Mosquitto-format logger: line format, timestamps (strftime compared with GNU date),
 * type masks, destinations, buffering per event-loop turn, file reopening.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/common/clock.ts';
import type { LogConfig, LogDestination, LogType } from '../../src/broker/config/types.ts';
import { ALL_LOG_TYPES, DEFAULT_LOG_TYPES } from '../../src/broker/config/types.ts';
import { Logger } from '../../src/broker/log.ts';
import { strftime } from '../../src/common/strftime.ts';
import type { LoggerOptions } from '../../src/broker/log.ts';

const savedTz = process.env.TZ;
process.env.TZ = 'UTC';
after(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

const NOW = 1_700_000_000; // 2023-11-14 22:13:20 UTC, a Tuesday

function config(overrides: Partial<LogConfig> = {}): LogConfig {
  return {
    destinations: [{ kind: 'stderr' }],
    types: DEFAULT_LOG_TYPES,
    connectionMessages: true,
    timestamp: true,
    timestampFormat: null,
    ...overrides,
  };
}

/** A logger writing into arrays, flushed only when the test says so. */
function capture(
  overrides: Partial<LogConfig> = {},
  options: LoggerOptions = {},
): {
  logger: Logger;
  stdout: string[];
  stderr: string[];
  scheduled: (() => void)[];
  clock: ManualClock;
} {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const scheduled: (() => void)[] = [];
  const clock = new ManualClock(0, NOW);
  const logger = new Logger(config(overrides), {
    clock,
    stdout: { write: (text) => stdout.push(text) },
    stderr: { write: (text) => stderr.push(text) },
    schedule: (flush) => scheduled.push(flush),
    ...options,
  });
  return { logger, stdout, stderr, scheduled, clock };
}

describe('line format', () => {
  test('<unix seconds>: <text>', () => {
    const { logger, stderr } = capture();
    logger.info('mosquitto version 2.0.22 starting');
    logger.flush();
    assert.deepEqual(stderr, ['1700000000: mosquitto version 2.0.22 starting\n']);
  });

  test('the timestamp follows the clock', () => {
    const { logger, stderr, clock } = capture();
    logger.error('a');
    clock.advance(2500);
    logger.error('b');
    logger.flush();
    assert.deepEqual(stderr, ['1700000000: a\n1700000002: b\n']);
  });

  test('log_timestamp false: the text alone', () => {
    const { logger, stderr } = capture({ timestamp: false });
    logger.warning('Warning: x');
    logger.flush();
    assert.deepEqual(stderr, ['Warning: x\n']);
  });

  test('log_timestamp_format through strftime (local time)', () => {
    const { logger, stderr } = capture({ timestampFormat: '%Y-%m-%dT%H:%M:%S' });
    logger.notice('n');
    logger.flush();
    assert.deepEqual(stderr, ['2023-11-14T22:13:20: n\n']);
  });

  test('an empty strftime result prints "Time error"', () => {
    const { logger, stderr } = capture({ timestampFormat: '' });
    logger.notice('n');
    logger.flush();
    assert.deepEqual(stderr, ['Time error: n\n']);
  });

  test('lines are cut at 999 bytes, never inside a character', () => {
    const { logger, stderr } = capture({ timestamp: false });
    logger.error('x'.repeat(2000));
    logger.error(`${'x'.repeat(997)}éé`);
    logger.flush();
    const lines = (stderr[0] ?? '').split('\n');
    assert.equal(lines[0], 'x'.repeat(999));
    assert.equal(lines[1], `${'x'.repeat(997)}é`);
  });
});

describe('strftime', () => {
  const date = new Date(NOW * 1000);

  test('the common conversions', () => {
    assert.equal(strftime('%Y %m %d %H %M %S', date), '2023 11 14 22 13 20');
    assert.equal(strftime('%s %z %Z %j', date), '1700000000 +0000 UTC 318');
    assert.equal(strftime('%a %b %e|%T|%F|%%', date), 'Tue Nov 14|22:13:20|2023-11-14|%');
  });

  test('unknown conversions are copied', () => {
    assert.equal(strftime('%Q %', date), '%Q %');
  });

  const formats = [
    '%a %A %b %B %C %d %D %e %F %g %G %h %H %I %j %k %l %m %M %p %P',
    '%r %R %s %S %T %u %U %V %w %W %x %X %y %Y %z %%',
    '%c',
  ];
  const moments = [NOW, 1_704_067_199, 1_704_153_600, 1_709_164_800, 1_230_768_000];

  for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
    test(`matches GNU date in ${zone}`, () => {
      process.env.TZ = zone;
      try {
        for (const seconds of moments) {
          for (const format of formats) {
            const expected = execFileSync('date', ['-d', `@${seconds}`, `+${format}`], {
              encoding: 'utf8',
              env: { ...process.env, TZ: zone, LC_ALL: 'C' },
            }).replace(/\n$/, '');
            assert.equal(
              strftime(format, new Date(seconds * 1000)),
              expected,
              `${format} @${seconds}`,
            );
          }
        }
      } finally {
        process.env.TZ = 'UTC';
      }
    });
  }
});

describe('log_type mask', () => {
  test('only the configured types are written; enabled() says so', () => {
    const { logger, stderr } = capture({ types: new Set<LogType>(['error', 'subscribe']) });
    logger.error('e');
    logger.info('i');
    logger.debug('d');
    logger.subscribe('s');
    logger.flush();
    assert.deepEqual(stderr, ['1700000000: e\n1700000000: s\n']);
    assert.equal(logger.enabled('error'), true);
    assert.equal(logger.enabled('debug'), false);
    assert.equal(logger.enabled('information'), false);
  });

  test('all types with -v', () => {
    const { logger, stderr } = capture({ types: ALL_LOG_TYPES });
    for (const method of ['error', 'warning', 'notice', 'info', 'debug', 'subscribe'] as const) {
      logger[method](method);
    }
    logger.unsubscribe('u');
    logger.websockets('w');
    logger.internal('x');
    logger.flush();
    assert.equal((stderr[0] ?? '').split('\n').length - 1, 9);
  });
});

describe('destinations', () => {
  test('stdout and stderr together; none writes nothing', () => {
    const both = capture({ destinations: [{ kind: 'stdout' }, { kind: 'stderr' }] });
    both.logger.error('e');
    both.logger.flush();
    assert.deepEqual(both.stdout, ['1700000000: e\n']);
    assert.deepEqual(both.stderr, ['1700000000: e\n']);
    const none = capture({ destinations: [] });
    none.logger.error('e');
    none.logger.flush();
    assert.deepEqual([...none.stdout, ...none.stderr], []);
  });

  test('topic: $SYS/broker/log/<type>, never debug or internal lines', () => {
    const published: [string, string][] = [];
    const { logger } = capture({ destinations: [{ kind: 'topic' }], types: ALL_LOG_TYPES });
    logger.setTopicPublisher((topic, line) => published.push([topic, line]));
    logger.error('e');
    logger.warning('w');
    logger.notice('n');
    logger.info('i');
    logger.subscribe('s');
    logger.unsubscribe('u');
    logger.websockets('ws');
    logger.debug('d');
    logger.internal('x');
    assert.deepEqual(published, [], 'published when flushed, not from inside the caller');
    logger.flush();
    assert.deepEqual(published, [
      ['$SYS/broker/log/E', '1700000000: e'],
      ['$SYS/broker/log/W', '1700000000: w'],
      ['$SYS/broker/log/N', '1700000000: n'],
      ['$SYS/broker/log/I', '1700000000: i'],
      ['$SYS/broker/log/M/subscribe', '1700000000: s'],
      ['$SYS/broker/log/M/unsubscribe', '1700000000: u'],
      ['$SYS/broker/log/WS', '1700000000: ws'],
    ]);
  });

  test('syslog is not supported yet: a warning, and stderr instead', () => {
    const { logger, stderr } = capture({
      destinations: [{ kind: 'syslog' }],
      types: new Set(['error']),
    });
    logger.error('e');
    logger.flush();
    assert.deepEqual(stderr, [
      '1700000000: Warning: log_dest syslog is not supported by mosquitto-ts yet; logging to stderr instead.\n1700000000: e\n',
    ]);
  });

  test('file: appended, created with mode 0600, reopened for rotation', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mosquitto-ts-log-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const path = join(dir, 'mosquitto.log');
    const file: LogDestination = { kind: 'file', path };
    const { logger } = capture({ destinations: [file] });
    logger.error('one');
    logger.flush();
    assert.equal(readFileSync(path, 'utf8'), '1700000000: one\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    renameSync(path, `${path}.1`);
    logger.error('two');
    logger.reopen();
    logger.error('three');
    logger.close();
    assert.equal(readFileSync(`${path}.1`, 'utf8'), '1700000000: one\n1700000000: two\n');
    assert.equal(readFileSync(path, 'utf8'), '1700000000: three\n');
  });

  test('a log file that cannot be opened: an error on stderr, then errors only', () => {
    const { logger, stderr } = capture({
      destinations: [{ kind: 'file', path: '/does/not/exist/m.log' }, { kind: 'stdout' }],
    });
    logger.info('dropped');
    logger.error('kept');
    logger.flush();
    assert.deepEqual(stderr, [
      '1700000000: Error: Unable to open log file /does/not/exist/m.log for writing.\n1700000000: kept\n',
    ]);
  });

  test('reconfigure applies new settings (SIGHUP)', () => {
    const { logger, stderr, stdout } = capture();
    logger.info('before');
    logger.reconfigure(config({ destinations: [{ kind: 'stdout' }], timestamp: false }));
    logger.info('after');
    logger.flush();
    assert.deepEqual(stderr, ['1700000000: before\n']);
    assert.deepEqual(stdout, ['after\n']);
  });
});

describe('buffering', () => {
  test('one scheduled flush per turn, one write per destination', () => {
    const { logger, stderr, scheduled } = capture();
    logger.error('a');
    logger.error('b');
    logger.error('c');
    assert.equal(scheduled.length, 1);
    assert.deepEqual(stderr, []);
    scheduled[0]?.();
    assert.deepEqual(stderr, ['1700000000: a\n1700000000: b\n1700000000: c\n']);
    logger.error('d');
    assert.equal(scheduled.length, 2);
  });

  test('by default the lines are written at the end of the event-loop turn', async () => {
    const stderr: string[] = [];
    const logger = new Logger(config(), {
      clock: new ManualClock(0, NOW),
      stderr: { write: (text) => stderr.push(text) },
    });
    logger.error('x');
    assert.deepEqual(stderr, []);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(stderr, ['1700000000: x\n']);
  });

  test('close() flushes synchronously and drops later lines', () => {
    const { logger, stderr } = capture();
    logger.error('last');
    logger.close();
    assert.deepEqual(stderr, ['1700000000: last\n']);
    logger.error('too late');
    logger.flush();
    assert.deepEqual(stderr, ['1700000000: last\n']);
  });
});

describe('log_dest_json (ours)', () => {
  test('one JSON object per line with time, level, message and the fields; log_dest unchanged', () => {
    const { logger, stdout, stderr } = capture({
      destinations: [{ kind: 'stderr' }],
      jsonDestinations: [{ kind: 'stdout' }],
    });
    logger.notice('New connection from 127.0.0.1:5000 on port 1883.', {
      event: 'connection',
      address: '127.0.0.1',
      port: 5000,
    });
    logger.debug('not logged: debug is off');
    logger.flush();
    assert.deepEqual(stderr, ['1700000000: New connection from 127.0.0.1:5000 on port 1883.\n']);
    assert.equal(stdout.length, 1);
    const lines = (stdout[0] ?? '').split('\n');
    assert.equal(lines.length, 2);
    assert.deepEqual(JSON.parse(lines[0] ?? ''), {
      time: '2023-11-14T22:13:20.000Z',
      level: 'notice',
      message: 'New connection from 127.0.0.1:5000 on port 1883.',
      event: 'connection',
      address: '127.0.0.1',
      port: 5000,
    });
  });

  test('parsed from the configuration: stdout, stderr, file; none clears', async () => {
    const { parseConfigText } = await import('../../src/broker/config/parse.ts');
    const parsed = parseConfigText(
      'log_dest_json stdout\nlog_dest_json none\nlog_dest_json stderr\nlog_dest_json file /tmp/x.jsonl\n',
      'test.conf',
    );
    assert.deepEqual(parsed.config.log.jsonDestinations, [
      { kind: 'stderr' },
      { kind: 'file', path: '/tmp/x.jsonl' },
    ]);
    assert.deepEqual(parsed.config.log.destinations, [{ kind: 'stderr' }]);
    assert.throws(
      () => parseConfigText('log_dest_json syslog\n', 'test.conf'),
      /Invalid log_dest_json value/,
    );
  });
});
