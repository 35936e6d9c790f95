/**
 * Message printing in isolation (the compatibility suite compares it with Debian's
 * tools; these pin the details that a live comparison cannot: time stamps, the 2.0.22
 * %j timestamp, cJSON's number and string forms, the parser's edge cases).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { ByteOutput } from '../../src/cli/byte-output.ts';
import { printMessage, type PrintSettings } from '../../src/cli/format.ts';
import { formatNumber, parseJsonPayload, printJson } from '../../src/cli/json.ts';
import { strftimeConversion } from '../../src/common/strftime.ts';
import { isoMicroseconds } from '../../src/cli/time-format.ts';
import { checkFormat } from '../../src/cli/args/format-check.ts';
import type { ReceivedMessage } from '../../src/client/message.ts';

const settings = (overrides: Partial<PrintSettings> = {}): PrintSettings => ({
  format: null,
  verbose: false,
  eol: true,
  pretty: false,
  randomFilter: 10_000,
  ...overrides,
});

const message = (overrides: Partial<ReceivedMessage> = {}): ReceivedMessage => ({
  topic: 'a/b',
  payload: Buffer.from('hello'),
  qos: 1,
  retain: false,
  dup: false,
  mid: 7,
  properties: {},
  ...overrides,
});

const printed = (s: PrintSettings, m: ReceivedMessage): string =>
  printMessage(s, m).stdout.toString('latin1');

describe('plain and -v output', () => {
  test('an empty payload prints nothing without -v, "(null)" with it', () => {
    const empty = message({ payload: Buffer.alloc(0) });
    assert.equal(printed(settings(), empty), '');
    assert.equal(printed(settings({ verbose: true }), empty), 'a/b (null)\n');
    assert.equal(printed(settings({ verbose: true, eol: false }), empty), '');
  });

  test('payload bytes are written as they are', () => {
    const bytes = Buffer.from([0, 0xff, 0x0a, 0x80]);
    assert.deepEqual(
      printMessage(settings(), message({ payload: bytes })).stdout,
      Buffer.from([0, 0xff, 0x0a, 0x80, 0x0a]),
    );
  });
});

describe('-F', () => {
  const f = (format: string, m: ReceivedMessage = message()): string =>
    printed(settings({ format, eol: false }), m);

  test('widths, precision and flags count bytes, as printf does', () => {
    assert.equal(f('[%10t][%-10t][%.1t][%5.2t]'), '[       a/b][a/b       ][a][   a/]');
    assert.equal(f('[%05l][%-05l][%5m]'), '[00005][5    ][    7]');
    assert.equal(f('[%-p]'), '[hello     ]');
    assert.equal(f('[%10x]'), '[      6865]');
    assert.equal(f('[%x][%X]', message({ payload: Buffer.from([0xab, 0x01]) })), '[ab01][AB01]');
  });

  test('absent MQTT 5 properties print blanks of the field width', () => {
    assert.equal(f('[%5A][%3C][%2E][%F][%S][%R][%D][%P]'), '[     ][   ][  ][][][][][]');
    const withProperties = message({
      properties: {
        contentType: 'ct',
        userProperties: [
          ['a', '1'],
          ['b', '2'],
        ],
        subscriptionIdentifiers: [3, 4],
        messageExpiryInterval: 4_294_967_295,
      },
    });
    assert.equal(f('%C|%P|%S|%E', withProperties), 'ct|a:1 b:2|3|-1');
  });

  test('escapes and @ codes', () => {
    assert.equal(f('\\t\\\\\\0\\e@@'), '\t\\\0\x1b@');
    assert.match(f('@Y-@m-@d @H:@M:@S @N'), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \d{9}$/);
  });

  test('%j: 2.0.22 timestamp without the stray Z of 2.0.11, QoS 0 without mid', () => {
    const out = f('%j', message({ qos: 0, mid: 0 }));
    assert.match(
      out,
      /^\{"tst":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d{4}","topic":"a\/b","qos":0,"retain":0,"payloadlen":5,"payload":"hello"\}$/,
    );
  });

  test('%J with a payload that is not JSON prints nothing and reports on stderr', () => {
    const result = printMessage(settings({ format: '%J' }), message({ payload: Buffer.from('{') }));
    assert.equal(result.stderr, 'Error: Message payload is not valid JSON on topic a/b.\n');
    assert.equal(result.stdout.toString(), '\n');
  });
});

describe('cJSON compatibility', () => {
  test('numbers: %d when integral, %1.15g otherwise, %1.17g if needed to round-trip', () => {
    assert.equal(formatNumber(1), '1');
    assert.equal(formatNumber(-0), '0');
    assert.equal(formatNumber(2.5), '2.5');
    assert.equal(formatNumber(1e20), '1e+20');
    assert.equal(formatNumber(3_000_000_000), '3000000000');
    assert.equal(formatNumber(0.1), '0.1');
    assert.equal(formatNumber(1 / 3), '0.33333333333333331');
    assert.equal(formatNumber(Infinity), 'null');
    assert.equal(formatNumber(1.5e-7), '1.5e-07');
  });

  test('the parser accepts what cJSON accepts and refuses what it refuses', () => {
    const ok = (text: string): string => {
      const value = parseJsonPayload(Buffer.from(text));
      assert.notEqual(value, null, text);
      const out = new ByteOutput();
      printJson(value!, false, out);
      return out.take().toString();
    };
    assert.equal(
      ok(' {"a" : [1, 01, -0.5e1, true, false, null]} \n'),
      '{"a":[1,1,-5,true,false,null]}',
    );
    assert.equal(ok('"\\u00e9\\ud83d\\ude00\\/"'), '"é😀/"');
    assert.equal(ok('"raw\ttab"'), '"raw\\ttab"');
    assert.equal(ok('{"k":1,"k":2}'), '{"k":1,"k":2}');
    for (const bad of [
      '',
      '1 2',
      '[1,]',
      '{"a"}',
      '"\\x"',
      '"\\udc00"',
      '.5',
      '+1',
      'nul',
      '{"a":1}\0',
    ]) {
      assert.equal(parseJsonPayload(Buffer.from(bad)), null, JSON.stringify(bad));
    }
  });

  test('pretty printing: tabs, objects on lines, arrays on one line', () => {
    const out = new ByteOutput();
    printJson(parseJsonPayload(Buffer.from('{"a":[1,{}],"b":{"c":null}}'))!, true, out);
    assert.equal(
      out.take().toString(),
      '{\n\t"a":\t[1, {\n\t\t}],\n\t"b":\t{\n\t\t"c":\tnull\n\t}\n}',
    );
  });
});

describe('time formats', () => {
  test('strftime conversions in the C locale', () => {
    const date = new Date(2024, 0, 7, 9, 5, 3);
    const seconds = Math.floor(date.getTime() / 1000);
    const conv = (c: string): string => strftimeConversion(c, date);
    assert.equal(`${conv('a')} ${conv('b')} ${conv('e')} ${conv('T')}`, 'Sun Jan  7 09:05:03');
    assert.equal(`${conv('j')} ${conv('I')}${conv('p')} ${conv('u')} ${conv('w')}`, '007 09AM 7 0');
    assert.equal(conv('s'), String(seconds));
    assert.equal(conv('q'), '%q');
  });

  test('the %j timestamp has microseconds and a numeric zone', () => {
    const date = new Date(2024, 0, 7, 9, 5, 3);
    const text = isoMicroseconds({
      seconds: Math.floor(date.getTime() / 1000),
      nanoseconds: 38_514_999,
      date,
    });
    assert.match(text, /^2024-01-07T09:05:03\.038514[+-]\d{4}$/);
  });
});

describe('format checking at start-up', () => {
  test('messages for bad formats', () => {
    assert.equal(checkFormat('%t %p @Y \\n'), null);
    assert.equal(checkFormat('%'), 'Error: Incomplete format specifier.\n');
    assert.equal(checkFormat('%-08.3'), 'Error: Incomplete format specifier.\n');
    assert.equal(checkFormat('%k'), "Error: Invalid format specifier 'k'.\n");
    assert.equal(checkFormat('\\k'), "Error: Invalid escape specifier 'k'.\n");
    assert.equal(checkFormat('a\\'), 'Error: Incomplete escape specifier.\n');
  });
});
