/**
 * Debian's real mosquitto_pub and mosquitto_sub (2.0.11) against a broker started as a
 * process: every test runs first against Debian's mosquitto, which proves the expectation,
 * then against ours (bin/mosquitto), where a failure therefore means our broker differs.
 *
 * The tools' own output is compared exactly (their `-d` debug lines show the broker's
 * acknowledgements and reason codes), with only the random client ids normalised.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { runCommand, startCommand, type RunningCommand } from '../helpers/command.ts';
import { mosquittoSkip, realMosquitto, requiredPath } from '../helpers/mosquitto.ts';
import { ourBroker, type BrokerTarget, type RunningBroker } from '../helpers/process.ts';

/** Generated client ids: the broker's 'auto-<UUID>' and the v3.1 tool's 'mosq-<18 chars>'. */
function normaliseIds(text: string): string {
  return text
    .replace(/auto-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}/g, 'auto-<id>')
    .replace(/mosq-[A-Za-z0-9]{18}/g, 'mosq-<id>');
}

const lines = (text: string): string[] =>
  normaliseIds(text)
    .split('\n')
    .filter((l) => l !== '');

/** Lines of a `-d` run that are not debug lines: what the tool printed for messages. */
const messageLines = (text: string): string[] =>
  lines(text).filter(
    (l) => !/^Client \S+ (sending|received) /.test(l) && !/^Subscribed \(mid/.test(l),
  );

const targets: readonly BrokerTarget[] = [realMosquitto, ourBroker];

for (const target of targets) {
  const programs = target.kind === 'mosquitto' ? (['mosquitto'] as const) : ([] as const);
  const skip = mosquittoSkip([...programs, 'mosquitto_pub', 'mosquitto_sub']);

  describe(`Debian's mosquitto_pub / mosquitto_sub against ${target.label}`, skip, () => {
    let broker: RunningBroker | null = null;
    let startError: unknown = null;
    before(async () => {
      try {
        broker = await target.start();
      } catch (error) {
        startError = error;
      }
    });
    after(() => broker?.stop());

    /** -h/-p of the running broker; fails the test clearly when it did not start. */
    const at = (): string[] => {
      if (broker === null) {
        const why = startError instanceof Error ? startError.message : inspect(startError);
        assert.fail(`${target.label} broker is not running: ${why}`);
      }
      return ['-h', broker.host, '-p', String(broker.port)];
    };
    const pub = (args: readonly string[], input?: string): ReturnType<typeof runCommand> =>
      runCommand(
        requiredPath('mosquitto_pub'),
        [...at(), ...args],
        input === undefined ? {} : { input },
      );
    const sub = (args: readonly string[]): ReturnType<typeof runCommand> =>
      runCommand(requiredPath('mosquitto_sub'), [...at(), ...args]);

    /** A mosquitto_sub (-d) that has its SUBACK; stopped when the test ends. */
    async function subscribed(t: TestContext, args: readonly string[]): Promise<RunningCommand> {
      const command = startCommand(requiredPath('mosquitto_sub'), [...at(), '-d', ...args], {
        lineBuffered: true,
      });
      t.after(() => command.stop());
      await command.waitForStdout(/received SUBACK/);
      return command;
    }

    test('the broker starts', () => {
      at();
    });

    const ackLines: Record<0 | 1 | 2, { pub: string[]; sub: string[] }> = {
      0: { pub: [], sub: [] },
      1: {
        pub: ['Client (null) received PUBACK (Mid: 1, RC:0)'],
        sub: ['Client (null) sending PUBACK (m1, rc0)'],
      },
      2: {
        pub: [
          'Client (null) received PUBREC (Mid: 1)',
          'Client (null) sending PUBREL (m1)',
          'Client (null) received PUBCOMP (Mid: 1, RC:0)',
        ],
        sub: [
          'Client (null) sending PUBREC (m1, rc0)',
          'Client (null) received PUBREL (Mid: 1)',
          'Client (null) sending PUBCOMP (m1)',
        ],
      },
    };

    for (const qos of [0, 1, 2] as const) {
      test(`QoS ${qos}: mosquitto_pub -q ${qos} reaches mosquitto_sub -q ${qos} with the full handshake`, async (t) => {
        const topic = `tools/qos${qos}`;
        const receiver = await subscribed(t, ['-q', String(qos), '-t', topic, '-C', '1', '-v']);
        const sent = await pub(['-d', '-q', String(qos), '-t', topic, '-m', `message ${qos}`]);
        assert.equal(sent.code, 0, sent.stderr);
        assert.deepEqual(lines(sent.stdout), [
          'Client (null) sending CONNECT',
          'Client (null) received CONNACK (0)',
          `Client (null) sending PUBLISH (d0, q${qos}, r0, m1, '${topic}', ... (9 bytes))`,
          ...ackLines[qos].pub,
          'Client (null) sending DISCONNECT',
        ]);
        const received = await receiver.finished();
        assert.equal(received.code, 0, received.stderr);
        assert.deepEqual(lines(received.stdout), [
          'Client (null) sending CONNECT',
          'Client (null) received CONNACK (0)',
          `Client (null) sending SUBSCRIBE (Mid: 1, Topic: ${topic}, QoS: ${qos}, Options: 0x00)`,
          'Client (null) received SUBACK',
          `Subscribed (mid: 1): ${qos}`,
          `Client (null) received PUBLISH (d0, q${qos}, r0, m${qos === 0 ? 0 : 1}, '${topic}', ... (9 bytes))`,
          ...ackLines[qos].sub,
          `${topic} message ${qos}`,
          'Client (null) sending DISCONNECT',
        ]);
      });
    }

    test('retained: a late mosquitto_sub -C 1 gets it with RETAIN=1; -r -n deletes it', async () => {
      const topic = 'tools/retained';
      const stored = await pub(['-r', '-q', '1', '-t', topic, '-m', 'kept']);
      assert.equal(stored.code, 0, stored.stderr);
      const late = await sub(['-C', '1', '-q', '1', '-t', topic, '-F', '%r %q %t %p']);
      assert.deepEqual([late.code, late.stdout, late.stderr], [0, `1 1 ${topic} kept\n`, '']);
      const deleted = await pub(['-r', '-n', '-t', topic]);
      assert.equal(deleted.code, 0, deleted.stderr);
      const none = await sub(['-W', '1', '-t', topic]);
      // 27 is mosquitto_sub's exit code for -W running out (features §4.2).
      assert.deepEqual([none.code, none.stdout, none.stderr], [27, '', 'Timed out\n']);
    });

    test('MQTT 5 properties from mosquitto_pub -D reach mosquitto_sub -F', async (t) => {
      const topic = 'tools/props';
      const format = '%t|%p|%P|%C|%F|%R|%D|%E|%q|%r|%l|%x';
      const receiver = await subscribed(t, [
        '-V',
        'mqttv5',
        '-q',
        '1',
        '-t',
        topic,
        '-C',
        '1',
        '-F',
        format,
      ]);
      const sent = await pub([
        '-V',
        'mqttv5',
        '-q',
        '1',
        '-t',
        topic,
        '-m',
        'hello',
        '-D',
        'publish',
        'user-property',
        'k',
        'v',
        '-D',
        'publish',
        'user-property',
        'k2',
        'v2',
        '-D',
        'publish',
        'content-type',
        'text/plain',
        '-D',
        'publish',
        'payload-format-indicator',
        '1',
        '-D',
        'publish',
        'response-topic',
        'tools/reply',
        '-D',
        'publish',
        'correlation-data',
        'abc',
        '-D',
        'publish',
        'message-expiry-interval',
        '60',
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      const received = await receiver.finished();
      assert.equal(received.code, 0, received.stderr);
      const [line, ...rest] = messageLines(received.stdout);
      assert.deepEqual(rest, []);
      // %E is the remaining expiry: 60, or 59 if a second boundary passed in between.
      assert.match(
        line ?? '',
        /^tools\/props\|hello\|k:v k2:v2\|text\/plain\|1\|tools\/reply\|abc\|(60|59)\|1\|0\|5\|68656c6c6f$/,
      );
    });

    test('a will is published when its client is killed, not when it disconnects', async (t) => {
      const watcher = await subscribed(t, ['-t', 'tools/will/#', '-v', '-C', '1']);
      // A client that disconnects properly: -E sends DISCONNECT once subscribed. (Not SIGINT:
      // mosquitto_sub 2.0.11 disconnects from inside its signal handler and now and then
      // deadlocks there.)
      const polite = await sub([
        '-E',
        '-t',
        'tools/idle',
        '--will-topic',
        'tools/will/polite',
        '--will-payload',
        'not sent',
      ]);
      assert.equal(polite.code, 0, polite.stderr);
      // A client that vanishes: its will must come.
      const rude = await subscribed(t, [
        '-t',
        'tools/idle',
        '--will-topic',
        'tools/will/rude',
        '--will-payload',
        'gone',
        '--will-qos',
        '1',
      ]);
      rude.kill('SIGKILL');
      const seen = await watcher.finished();
      assert.equal(seen.code, 0, seen.stderr);
      assert.deepEqual(messageLines(seen.stdout), ['tools/will/rude gone']);
    });

    test('-C 3 prints three of five messages and exits 0', async (t) => {
      const receiver = await subscribed(t, ['-t', 'tools/count', '-C', '3']);
      const sent = await pub(['-t', 'tools/count', '-l'], '1\n2\n3\n4\n5\n');
      assert.equal(sent.code, 0, sent.stderr);
      const received = await receiver.finished();
      assert.equal(received.code, 0, received.stderr);
      assert.deepEqual(messageLines(received.stdout), ['1', '2', '3']);
    });

    test('-W 1 gives up with exit code 27 when nothing arrives', async () => {
      const started = Date.now();
      const result = await sub(['-t', 'tools/silence', '-W', '1']);
      assert.deepEqual([result.code, result.stdout, result.stderr], [27, '', 'Timed out\n']);
      assert.ok(Date.now() - started >= 900, 'returned before the -W time');
    });

    test('MQTT 5 reason codes show in mosquitto_pub -d: 0x10 no subscribers, 0x87 on $SYS', async () => {
      const nobody = await pub(['-d', '-V', 'mqttv5', '-q', '1', '-t', 'tools/nobody', '-m', 'x']);
      assert.equal(nobody.code, 0, nobody.stderr);
      assert.deepEqual(lines(nobody.stdout), [
        'Client (null) sending CONNECT',
        'Client auto-<id> received CONNACK (0)',
        "Client auto-<id> sending PUBLISH (d0, q1, r0, m1, 'tools/nobody', ... (1 bytes))",
        'Client auto-<id> received PUBACK (Mid: 1, RC:16)',
        'Client auto-<id> sending DISCONNECT',
      ]);
      const denied = await pub(['-d', '-V', 'mqttv5', '-q', '1', '-t', '$SYS/tools', '-m', 'x']);
      assert.equal(denied.code, 0);
      assert.ok(
        lines(denied.stdout).includes('Client auto-<id> received PUBACK (Mid: 1, RC:135)'),
        denied.stdout,
      );
      assert.equal(denied.stderr, 'Warning: Publish 1 failed: Not authorized.\n');
    });

    for (const version of ['mqttv31', 'mqttv311', 'mqttv5'] as const) {
      test(`mosquitto_sub -V ${version} -E: two subscriptions acknowledged, then exit 0`, async () => {
        const result = await sub([
          '-d',
          '-V',
          version,
          '-q',
          '1',
          '-t',
          'tools/e/a',
          '-t',
          'tools/e/b',
          '-E',
        ]);
        assert.equal(result.code, 0, result.stderr);
        const id = { mqttv31: 'mosq-<id>', mqttv311: '(null)', mqttv5: 'auto-<id>' }[version];
        assert.deepEqual(lines(result.stdout), [
          `Client ${version === 'mqttv5' ? '(null)' : id} sending CONNECT`,
          `Client ${id} received CONNACK (0)`,
          `Client ${id} sending SUBSCRIBE (Mid: 1, Topic: tools/e/a, QoS: 1, Options: 0x00)`,
          `Client ${id} sending SUBSCRIBE (Mid: 1, Topic: tools/e/b, QoS: 1, Options: 0x00)`,
          `Client ${id} received SUBACK`,
          'Subscribed (mid: 1): 1, 1',
          `Client ${id} sending DISCONNECT`,
        ]);
      });
    }
  });
}
