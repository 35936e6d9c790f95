/**
 * Our mosquitto_pub / mosquitto_sub / mosquitto_rr against Debian's, invocation by
 * invocation, on the same broker: each case runs both tools with the same arguments and
 * requires the same stdout bytes (debug lines included) and the same exit status, after
 * normalise() (the §3.17 differences, generated ids). The messages the tools receive are
 * published by the library as a neutral party; what mosquitto_pub sends is read back by
 * the library and compared too.
 *
 * Runs against Debian's mosquitto, then against our broker: the second pass shows that
 * both tool sets work against our broker as well.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttClient } from '../../src/client/client.ts';
import type { ReceivedMessage } from '../../src/client/message.ts';
import type { Properties } from '../../src/protocol/packets.ts';
import { trackTempDir } from '../helpers/children.ts';
import { startSocksProxy } from '../client/socks-proxy.ts';
import { mosquittoSkip, realMosquitto } from '../helpers/mosquitto.ts';
import { freePort, ourBroker, type BrokerTarget, type RunningBroker } from '../helpers/process.ts';
import {
  normalise,
  runTool,
  startTool,
  type Implementation,
  type ToolResult,
} from './tool-process.ts';

const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-cli-')));
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const binaryFile = join(dir, 'binary.bin');
writeFileSync(binaryFile, BINARY);
const emptyFile = join(dir, 'empty.bin');
writeFileSync(emptyFile, '');

interface Publication {
  readonly topic: string;
  readonly payload: string | Buffer;
  readonly qos?: 0 | 1 | 2;
  readonly retain?: boolean;
  readonly properties?: Properties;
}

interface SubCase {
  readonly name: string;
  /** `{t}` is replaced by a topic prefix unique to the run. */
  readonly args: readonly string[];
  readonly publish: readonly Publication[];
  /** Published (retained) before the subscribers start. */
  readonly before?: readonly Publication[];
  /** Wait for the SUBACK (-d output) before publishing; default true. */
  readonly waitSubscribed?: boolean;
}

const SUB_CASES: readonly SubCase[] = [
  {
    name: 'plain payloads; an empty one prints nothing',
    args: ['-t', '{t}/#', '-C', '3'],
    publish: [
      { topic: '{t}/a', payload: 'one' },
      { topic: '{t}/b', payload: '' },
      { topic: '{t}/c', payload: 'three', qos: 1 },
    ],
  },
  {
    name: '-v prints the topic; (null) for an empty payload',
    args: ['-t', '{t}/#', '-C', '2', '-v'],
    publish: [
      { topic: '{t}/a', payload: 'one' },
      { topic: '{t}/b', payload: '' },
    ],
  },
  {
    name: '-v -N',
    args: ['-t', '{t}/#', '-C', '2', '-v', '-N'],
    publish: [
      { topic: '{t}/a', payload: 'one' },
      { topic: '{t}/b', payload: '' },
    ],
  },
  {
    name: 'binary payload written raw, and as hex',
    args: ['-t', '{t}/#', '-C', '2', '-F', '%p|%x|%X|%l'],
    publish: [
      { topic: '{t}/bin', payload: BINARY },
      { topic: '{t}/bin', payload: BINARY.subarray(250) },
    ],
  },
  {
    name: 'raw binary payload without -F',
    args: ['-t', '{t}/#', '-C', '1'],
    publish: [{ topic: '{t}/bin', payload: BINARY }],
  },
  {
    name: '-F codes with flags, width and precision',
    args: [
      '-t',
      '{t}/#',
      '-C',
      '2',
      '-q',
      '1',
      '-F',
      '%t|%p|%l|%m|%q|%r|%%|%10t|%-10t|%.2t|%8.3t|%5p|%-5p|%-p|%05l|%-05l|%5m|%10x|%3x|%-3X|@@|\\t\\\\|\\0|\\e',
    ],
    publish: [
      { topic: '{t}/a', payload: 'hello', qos: 1 },
      { topic: '{t}/bb', payload: 'x', qos: 1, retain: true },
    ],
  },
  {
    name: '-F %j and %J, escaping and JSON payloads',
    args: ['-t', '{t}/#', '-C', '4', '-F', '%j %J'],
    publish: [
      { topic: '{t}/a', payload: '{"a":[1,2.50,1e2,true,null,{}],"s":"x\\u00e9\\n"}' },
      { topic: '{t}/b', payload: 'not json "quoted"\t\x01' },
      { topic: '{t}/c', payload: '' },
      { topic: '{t}/d', payload: '  [ 1 , "two" ]  ' },
    ],
  },
  {
    name: '%j --pretty with MQTT 5 properties',
    args: ['-t', '{t}/#', '-C', '1', '-V', '5', '-F', '%j', '--pretty'],
    publish: [
      {
        topic: '{t}/a',
        payload: '{"k":{"n":[1,{"m":2}]}}',
        properties: {
          contentType: 'application/json',
          responseTopic: 'r/t',
          correlationData: Buffer.from('cd'),
          payloadFormatIndicator: 1,
          userProperties: [
            ['a', '1'],
            ['a', '2'],
          ],
        },
      },
    ],
  },
  {
    name: 'MQTT 5 property codes %C %D %F %P %R %S %A',
    args: ['-t', '{t}/#', '-C', '2', '-V', '5', '-F', '[%C][%D][%F][%P][%R][%S][%A][%5A][%-3F]'],
    publish: [
      {
        topic: '{t}/a',
        payload: 'x',
        properties: {
          contentType: 'ct',
          correlationData: Buffer.from('cd'),
          payloadFormatIndicator: 0,
          userProperties: [
            ['k', 'v'],
            ['k2', 'v2'],
          ],
          responseTopic: 'rt',
        },
      },
      { topic: '{t}/b', payload: 'y' },
    ],
  },
  {
    name: 'QoS 2 subscription: acknowledgement lines in order',
    args: ['-t', '{t}/#', '-C', '3', '-q', '2'],
    publish: [
      { topic: '{t}/a', payload: 'zero' },
      { topic: '{t}/b', payload: 'one', qos: 1 },
      { topic: '{t}/c', payload: 'two', qos: 2 },
    ],
  },
  {
    name: 'several -t in one SUBSCRIBE, MQTT 3.1',
    args: ['-t', '{t}/x', '-t', '{t}/y', '-C', '2', '-V', '31', '-v'],
    publish: [
      { topic: '{t}/x', payload: '1' },
      { topic: '{t}/y', payload: '2' },
    ],
  },
  {
    name: '-T filters out, -R skips retained',
    args: ['-t', '{t}/#', '-T', '{t}/skip/#', '-R', '-C', '2', '-v'],
    before: [{ topic: '{t}/old', payload: 'stale', retain: true }],
    publish: [
      { topic: '{t}/skip/a', payload: 'no' },
      { topic: '{t}/a', payload: 'yes' },
      { topic: '{t}/b', payload: 'yes too' },
    ],
  },
  {
    name: '--retained-only stops at the first live message',
    args: ['-t', '{t}/#', '--retained-only', '-v'],
    before: [
      { topic: '{t}/r1', payload: 'kept 1', retain: true },
      { topic: '{t}/r2', payload: 'kept 2', retain: true },
    ],
    publish: [{ topic: '{t}/live', payload: 'live' }],
  },
  {
    name: '-E exits after the SUBACK, -U unsubscribes',
    args: ['-t', '{t}/a', '-U', '{t}/b', '-E', '-c', '-i', 'compat-E-{impl}'],
    publish: [],
    waitSubscribed: false,
  },
  {
    name: '-V 5 with -D subscribe properties and -x',
    args: [
      '-t',
      '{t}/#',
      '-C',
      '1',
      '-V',
      '5',
      '-x',
      '0x10',
      '-i',
      'compat-x-{impl}',
      '-D',
      'subscribe',
      'subscription-identifier',
      '7',
      '-F',
      '%S %t',
    ],
    publish: [{ topic: '{t}/a', payload: 'x' }],
  },
];

function expand(text: string, prefix: string, impl: Implementation): string {
  return text.replaceAll('{t}', prefix).replaceAll('{impl}', impl);
}

async function publishAll(
  url: string,
  list: readonly Publication[],
  prefix: string,
): Promise<void> {
  if (list.length === 0) return;
  const client = await MqttClient.connect({ url });
  for (const p of list) {
    await client.publish(expand(p.topic, prefix, 'ours'), p.payload, {
      qos: p.qos ?? 1,
      retain: p.retain ?? false,
      ...(p.properties === undefined ? {} : { properties: p.properties }),
    });
  }
  await client.end();
}

/** What a comparison compares: normalised stdout (as latin1, so bytes survive) and status. */
function comparable(result: ToolResult): { code: number | null; stdout: string } {
  const stdout = normalise(result.stdout.toString('latin1'))
    .replace(/-(real|ours)\b/g, '-<impl>')
    .replace(/\/(real|ours)\b/g, '/<impl>');
  return { code: result.code, stdout };
}

const targets: readonly BrokerTarget[] = [realMosquitto, ourBroker];
const skip = mosquittoSkip(['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_rr']);

for (const target of targets) {
  // Cases use their own topics and client ids, so they can run side by side.
  describe(
    `our tools and Debian's, same invocations, against ${target.label}`,
    { ...skip, concurrency: 4 },
    () => {
      let broker: RunningBroker | null = null;
      let url = '';
      let at: string[] = [];
      let counter = 0;
      before(async () => {
        broker = await target.start();
        url = `mqtt://${broker.host}:${broker.port}`;
        at = ['-h', broker.host, '-p', String(broker.port)];
      });
      after(() => broker?.stop());

      for (const c of SUB_CASES) {
        test(`mosquitto_sub ${c.name}`, async () => {
          const prefix = `compat/${target.kind}/${counter++}`;
          await publishAll(url, c.before ?? [], prefix);
          const run = (impl: Implementation) =>
            startTool(impl, 'mosquitto_sub', [
              ...at,
              '-d',
              ...c.args.map((a) => expand(a, prefix, impl)),
            ]);
          const real = run('real');
          const ours = run('ours');
          try {
            if (c.waitSubscribed !== false) {
              await Promise.all([
                real.waitForStdout(/Subscribed \(mid/),
                ours.waitForStdout(/Subscribed \(mid/),
              ]);
            }
            await publishAll(url, c.publish, prefix);
            const [theirs, mine] = await Promise.all([real.finished(), ours.finished()]);
            assert.deepEqual(comparable(mine), comparable(theirs));
            assert.equal(mine.stderr, theirs.stderr);
          } finally {
            await Promise.all([real.stop(), ours.stop()]);
            await publishAll(
              url,
              (c.before ?? []).map((p) => ({ ...p, payload: '' })),
              prefix,
            );
          }
        });
      }

      test('mosquitto_sub -W: "Timed out" and status 27', async () => {
        const args = [...at, '-t', 'compat/nothing', '-W', '1'];
        const [theirs, mine] = await Promise.all([
          runTool('real', 'mosquitto_sub', args),
          runTool('ours', 'mosquitto_sub', args),
        ]);
        assert.deepEqual(comparable(mine), comparable(theirs));
        assert.equal(mine.code, 27);
        assert.equal(mine.stderr, theirs.stderr);
      });

      interface PubCase {
        readonly name: string;
        readonly args: readonly string[];
        readonly input?: string;
        /** Messages a listener must see (topic relative to the prefix), from each tool. */
        readonly expect: number;
        /**
         * Compare debug lines as a set: with -l, libmosquitto's network thread handles
         * PUBACKs while the main thread still reads stdin, so how they interleave with the
         * PUBLISH lines depends on timing in Debian's tool too.
         */
        readonly unordered?: boolean;
      }
      const PUB_CASES: readonly PubCase[] = [
        { name: '-m, QoS 0', args: ['-t', '{t}', '-m', 'hello'], expect: 1 },
        { name: '-m, QoS 1', args: ['-t', '{t}', '-m', 'hello', '-q', '1'], expect: 1 },
        {
          name: '-m, QoS 2, MQTT 5',
          args: ['-t', '{t}', '-m', 'hello', '-q', '2', '-V', '5'],
          expect: 1,
        },
        {
          name: '-n -r, MQTT 3.1',
          args: ['-t', '{t}', '-n', '-r', '-q', '1', '-V', '31'],
          expect: 1,
        },
        { name: '-f binary file', args: ['-t', '{t}', '-f', binaryFile, '-q', '1'], expect: 1 },
        { name: '-f empty file', args: ['-t', '{t}', '-f', emptyFile], expect: 1 },
        { name: '-s stdin', args: ['-t', '{t}', '-s'], input: 'from\nstdin', expect: 1 },
        {
          name: '-l lines, QoS 1',
          args: ['-t', '{t}', '-l', '-q', '1'],
          input: 'a\nb\n\nlast',
          expect: 4,
          unordered: true,
        },
        { name: '-l empty input', args: ['-t', '{t}', '-l'], input: '', expect: 0 },
        {
          name: '--repeat 3',
          args: ['-t', '{t}', '-m', 'r', '--repeat', '3', '-q', '1'],
          expect: 3,
        },
        {
          name: 'PUBLISH topic alias with --repeat',
          args: ['-t', '{t}', '-m', 'a', '--repeat', '2', '-D', 'publish', 'topic-alias', '1'],
          expect: 2,
        },
        {
          name: 'MQTT 5 properties',
          args: [
            '-t',
            '{t}',
            '-m',
            'p',
            '-q',
            '1',
            '-D',
            'publish',
            'user-property',
            'k',
            'v',
            '-D',
            'publish',
            'content-type',
            'text/plain',
            '-D',
            'connect',
            'session-expiry-interval',
            '5',
          ],
          expect: 1,
        },
        {
          name: 'persistent session with -c -i',
          args: ['-t', '{t}', '-m', 'c', '-c', '-i', 'compat-c-{impl}', '-q', '1'],
          expect: 1,
        },
        {
          name: '-L URL with the topic',
          args: ['-L', 'mqtt://{host}:{port}/{t}', '-m', 'via url'],
          expect: 1,
        },
      ];

      for (const c of PUB_CASES) {
        test(`mosquitto_pub ${c.name}`, async () => {
          const listener = await MqttClient.connect({ url });
          const prefix = `compat/pub/${target.kind}/${counter++}`;
          const sub = await listener.subscribe(`${prefix}/#`, { qos: 2 });
          const received: ReceivedMessage[] = [];
          const reading = (async () => {
            for await (const m of sub) received.push(m);
          })();
          try {
            const results: Record<Implementation, ToolResult | null> = { real: null, ours: null };
            for (const impl of ['real', 'ours'] as const) {
              const args = c.args.map((a) =>
                expand(a, `${prefix}/${impl}`, impl)
                  .replace('{host}', broker?.host ?? '')
                  .replace('{port}', String(broker?.port ?? 0)),
              );
              const hasL = args.includes('-L');
              results[impl] = await runTool(
                impl,
                'mosquitto_pub',
                [...(hasL ? [] : at), '-d', ...args],
                {
                  ...(c.input === undefined ? {} : { input: c.input }),
                },
              );
            }
            const theirs = results.real as ToolResult;
            const mine = results.ours as ToolResult;
            const view = (r: ToolResult) => {
              const v = comparable(r);
              return c.unordered === true
                ? { ...v, stdout: v.stdout.split('\n').sort().join('\n') }
                : v;
            };
            assert.deepEqual(view(mine), view(theirs));
            assert.equal(mine.stderr, theirs.stderr);
            const deadline = Date.now() + 3000;
            while (received.length < c.expect * 2 && Date.now() < deadline) {
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            const summary = (impl: Implementation) =>
              received
                .filter((m) => m.topic.startsWith(`${prefix}/${impl}`))
                .map((m) => ({
                  payload: m.payload.toString('hex'),
                  qos: m.qos,
                  retain: m.retain,
                  user: m.properties.userProperties,
                  contentType: m.properties.contentType,
                }));
            assert.equal(summary('ours').length, c.expect);
            assert.deepEqual(summary('ours'), summary('real'));
          } finally {
            await listener.end();
            await reading.catch(() => undefined);
            await publishAll(
              url,
              [
                { topic: `${prefix}/real`, payload: '', retain: true },
                { topic: `${prefix}/ours`, payload: '', retain: true },
              ],
              '',
            );
          }
        });
      }

      test('mosquitto_rr: request, response printed with -v, status 0', async () => {
        const responder = await MqttClient.connect({ url });
        const requests = await responder.subscribe('compat/rr/request/#');
        const serving = (async () => {
          for await (const request of requests) {
            const reply = request.properties.responseTopic;
            if (reply !== undefined) {
              await responder.publish(reply, `answer to ${request.payload.toString()}`, {
                properties: {
                  ...(request.properties.correlationData === undefined
                    ? {}
                    : { correlationData: request.properties.correlationData }),
                },
              });
            }
          }
        })();
        try {
          const args = (impl: Implementation) => [
            ...at,
            '-d',
            '-t',
            `compat/rr/request/${impl}`,
            '-e',
            `compat/rr/response/${impl}`,
            '-m',
            'question',
            '-v',
            '-D',
            'publish',
            'correlation-data',
            'c1',
          ];
          const theirs = await runTool('real', 'mosquitto_rr', args('real'));
          const mine = await runTool('ours', 'mosquitto_rr', args('ours'));
          assert.deepEqual(comparable(mine), comparable(theirs));
          assert.equal(mine.code, 0);
        } finally {
          await responder.end();
          await serving.catch(() => undefined);
        }
      });

      test('mosquitto_rr -W without a responder: "Timed out", status 27', async () => {
        const args = [
          ...at,
          '-t',
          'compat/rr/nobody',
          '-e',
          'compat/rr/none',
          '-m',
          'x',
          '-W',
          '1',
        ];
        const [theirs, mine] = await Promise.all([
          runTool('real', 'mosquitto_rr', args),
          runTool('ours', 'mosquitto_rr', args),
        ]);
        assert.deepEqual(comparable(mine), comparable(theirs));
        assert.equal(mine.stderr, theirs.stderr);
      });
    },
  );
}

describe('connection failures, as Debian reports them', skip, () => {
  test('nothing listening: "Error: Connection refused", status 1', async () => {
    const port = String(await freePort());
    for (const [tool, extra] of [
      ['mosquitto_pub', ['-m', 'x']],
      ['mosquitto_sub', []],
      ['mosquitto_rr', ['-m', 'x', '-e', 'r']],
    ] as const) {
      const args = ['-h', '127.0.0.1', '-p', port, '-t', 't', ...extra];
      const [theirs, mine] = await Promise.all([
        runTool('real', tool, args),
        runTool('ours', tool, args),
      ]);
      assert.deepEqual(
        { code: mine.code, stderr: mine.stderr, stdout: mine.stdout.toString() },
        { code: theirs.code, stderr: theirs.stderr, stdout: theirs.stdout.toString() },
        tool,
      );
    }
  });

  test('CONNACK refusals: messages and status are the CONNACK code', async () => {
    const broker = await realMosquitto.start({
      allowAnonymous: false,
      config: ['password_file {dir}/passwd'],
      files: { passwd: '' },
    });
    try {
      const at = ['-h', broker.host, '-p', String(broker.port)];
      for (const version of ['311', '5']) {
        for (const [tool, extra] of [
          ['mosquitto_pub', ['-m', 'x']],
          // -l's own loop reports every refusal as "The connection was refused."
          ['mosquitto_pub', ['-l']],
          ['mosquitto_sub', []],
          ['mosquitto_rr', ['-m', 'x', '-e', 'r']],
        ] as const) {
          const args = [...at, '-d', '-V', version, '-t', 't', ...extra];
          const [theirs, mine] = await Promise.all([
            runTool('real', tool, args),
            runTool('ours', tool, args),
          ]);
          assert.deepEqual(comparable(mine), comparable(theirs), `${tool} -V ${version}`);
          assert.equal(mine.stderr, theirs.stderr, `${tool} -V ${version}`);
        }
      }
    } finally {
      await broker.stop();
    }
  });
});

describe('connection paths and defaults files, our tools and Debian', skip, () => {
  let broker: RunningBroker | null = null;
  before(async () => {
    broker = await realMosquitto.start({
      config: ['acl_file {dir}/acl', 'listener 0 {dir}/mqtt.sock'],
      files: { acl: 'topic deny denied/#\ntopic readwrite #\n' },
    });
  });
  after(() => broker?.stop());

  const same = async (
    args: (impl: Implementation) => readonly string[],
    options: { env?: NodeJS.ProcessEnv } = {},
  ): Promise<ToolResult> => {
    const [theirs, mine] = await Promise.all([
      runTool('real', 'mosquitto_pub', args('real'), options),
      runTool('ours', 'mosquitto_pub', args('ours'), options),
    ]);
    assert.deepEqual(comparable(mine), comparable(theirs));
    assert.equal(mine.stderr, theirs.stderr);
    return mine;
  };

  test('mosquitto_rr: a refused request still waits for its response, until -W', async () => {
    for (const qos of ['1', '2']) {
      const args = [
        ...['-h', broker?.host ?? '', '-p', String(broker?.port ?? 0), '-d', '-W', '1'],
        ...['-q', qos, '-t', 'denied/rr', '-e', 'rr/response', '-m', 'x'],
      ];
      const [theirs, mine] = await Promise.all([
        runTool('real', 'mosquitto_rr', args),
        runTool('ours', 'mosquitto_rr', args),
      ]);
      assert.deepEqual(comparable(mine), comparable(theirs));
      assert.equal(mine.stderr, theirs.stderr);
      assert.equal(mine.stderr, 'Timed out\n');
      assert.equal(mine.code, 27);
    }
  });

  test('MQTT 5 PUBACK/PUBREC refusals: a warning, and still status 0', async () => {
    for (const qos of ['1', '2']) {
      const mine = await same((impl) => [
        '-h',
        broker?.host ?? '',
        '-p',
        String(broker?.port ?? 0),
        '-d',
        '-V',
        '5',
        '-q',
        qos,
        '-t',
        `denied/${impl}`,
        '-m',
        'x',
      ]);
      assert.equal(mine.code, 0);
      assert.equal(mine.stderr, 'Warning: Publish 1 failed: Not authorized.\n');
    }
  });

  test('--unix: a unix socket path', async () => {
    const path = join(broker?.dir ?? '', 'mqtt.sock');
    const mine = await same((impl) => [
      '--unix',
      path,
      '-d',
      '-t',
      `unix/${impl}`,
      '-m',
      'x',
      '-q',
      '1',
    ]);
    assert.equal(mine.code, 0);
  });

  test('-L mqtt://user:pass@host:port/topic', async () => {
    const mine = await same((impl) => [
      '-L',
      `mqtt://someone:secret@${broker?.host ?? ''}:${broker?.port ?? 0}/url/${impl}`,
      '-d',
      '-m',
      'x',
    ]);
    assert.equal(mine.code, 0);
  });

  test('--proxy socks5h://user:pass@host:port', async () => {
    const proxy = await startSocksProxy();
    try {
      const mine = await same((impl) => [
        '--proxy',
        `socks5h://u:p@127.0.0.1:${proxy.port}`,
        '-h',
        'localhost',
        '-p',
        String(broker?.port ?? 0),
        '-d',
        '-t',
        `proxy/${impl}`,
        '-m',
        'x',
      ]);
      assert.equal(mine.code, 0);
      assert.equal(proxy.credentials.length, 2);
    } finally {
      await proxy.close();
    }
  });

  test('defaults from $XDG_CONFIG_HOME/mosquitto_pub, overridden by argv', async () => {
    const home = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-xdg-')));
    writeFileSync(
      join(home, 'mosquitto_pub'),
      `# defaults\n-h ${broker?.host ?? ''}\n-p ${String(broker?.port ?? 0)}\n-q 2\n-d\n-m from the file\n`,
    );
    const env = { ...process.env, XDG_CONFIG_HOME: home };
    const mine = await same((impl) => ['-t', `defaults/${impl}`, '-q', '1'], { env });
    assert.match(
      mine.stdout.toString(),
      /sending PUBLISH \(d0, q1, r0, m1, 'defaults\/ours', \.\.\. \(13 bytes\)\)/,
    );
    writeFileSync(join(home, 'mosquitto_pub'), '-q 7\n');
    await same(() => ['-t', 'x', '-m', 'y'], { env });
  });
});

describe('a PUBACK/PUBREC reason code libmosquitto 2.0.22 rejects', skip, () => {
  // Both brokers answer a PUBLISH over message_size_limit with 0x95 (Packet too large) in
  // PUBACK/PUBREC, a code not allowed there: libmosquitto 2.0.22 ends the loop with a
  // protocol error (handle_pubackcomp.c, handle_pubrec.c). Debian's 2.0.11 tool predates
  // that check and prints "Warning: Publish 1 failed: Packet too large." instead, so ours
  // is held to 2.0.22's answer alone.
  for (const target of targets) {
    test(`mosquitto_pub -V 5 against ${target.label}: protocol error, status 2`, async () => {
      const broker = await target.start({ config: ['message_size_limit 5'] });
      try {
        for (const qos of ['1', '2']) {
          const args = ['-h', broker.host, '-p', String(broker.port), '-d', '-V', '5'];
          const mine = await runTool('ours', 'mosquitto_pub', [
            ...args,
            ...['-q', qos, '-t', 't', '-m', '0123456789'],
          ]);
          assert.equal(mine.code, 2, mine.stderr);
          assert.equal(
            mine.stderr,
            'Error: A network protocol error occurred when communicating with the broker.\n',
          );
          const lines = mine.stdout.toString('utf8').split('\n');
          assert.match(
            lines.at(-2) ?? '',
            /sending PUBLISH \(d0, q[12], r0, m1, 't', \.\.\. \(10 bytes\)\)$/,
          );
        }
      } finally {
        await broker.stop();
      }
    });
  }
});
