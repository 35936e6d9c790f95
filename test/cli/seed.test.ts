/**
 * The seed scenario (mosquitto-on-a-shared-host.rst): a broker with TLS on a custom port
 * and password authentication, and the guide's two commands, word for word except for
 * the host, port, CA file and credentials:
 *
 *   mosquitto_sub --host H --port P --topic isabellstesttopic --tls-version tlsv1.2
 *     --cafile CA --username isabell --pw yoursecretpassword --debug
 *   mosquitto_pub --message "Hello world" --host H --port P --topic isabellstesttopic
 *     --tls-version tlsv1.2 --cafile CA --username isabell --pw yoursecretpassword --debug
 *
 * Each runs with our tools and with Debian's, against Debian's mosquitto and against our
 * broker; the output must be the same (the guide shows 1.6's "Client mosq-XXX" ids; 2.0 prints "null").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mosquittoSkip, realMosquitto, requiredPath } from '../helpers/mosquitto.ts';
import { ourBroker, type BrokerTarget, type RunningBroker } from '../helpers/process.ts';
import { opensslPath, testCertificates } from '../client/certs.ts';
import { normalise, runTool, startTool, type Implementation } from './tool-process.ts';

const skip =
  opensslPath === null
    ? { skip: 'needs openssl (apt-get install -y openssl)' }
    : mosquittoSkip(['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd']);

for (const target of [realMosquitto, ourBroker] as const satisfies readonly BrokerTarget[]) {
  describe(
    `seed scenario: TLS on a custom port with a password file, ${target.label}`,
    skip,
    () => {
      let broker: RunningBroker | null = null;
      before(async () => {
        const certs = testCertificates();
        const passwd = join(certs.dir, 'passwd');
        writeFileSync(passwd, '');
        execFileSync(requiredPath('mosquitto_passwd'), [
          '-b',
          passwd,
          'isabell',
          'yoursecretpassword',
        ]);
        broker = await target.start({
          allowAnonymous: false,
          config: [
            `cafile ${certs.caCert}`,
            `certfile ${certs.serverCert}`,
            `keyfile ${certs.serverKey}`,
            `password_file ${passwd}`,
          ],
        });
      });
      after(() => broker?.stop());

      const common = (): string[] => [
        '--host',
        'localhost',
        '--port',
        String(broker?.port ?? 0),
        '--topic',
        'isabellstesttopic',
        '--tls-version',
        'tlsv1.2',
        '--cafile',
        testCertificates().caCert,
        '--username',
        'isabell',
        '--pw',
        'yoursecretpassword',
        '--debug',
      ];

      test('mosquitto_sub receives what mosquitto_pub sends, with the same debug lines', async () => {
        const expectedSub = [
          'Client null sending CONNECT',
          'Client null received CONNACK (0)',
          'Client null sending SUBSCRIBE (Mid: 1, Topic: isabellstesttopic, QoS: 0, Options: 0x00)',
          'Client null received SUBACK',
          'Subscribed (mid: 1): 0',
          "Client null received PUBLISH (d0, q0, r0, m0, 'isabellstesttopic', ... (11 bytes))",
          'Hello world',
        ];
        const expectedPub = [
          'Client null sending CONNECT',
          'Client null received CONNACK (0)',
          "Client null sending PUBLISH (d0, q0, r0, m1, 'isabellstesttopic', ... (11 bytes))",
          'Client null sending DISCONNECT',
        ];
        for (const subscriber of ['ours', 'real'] as const satisfies readonly Implementation[]) {
          const sub = startTool(subscriber, 'mosquitto_sub', common());
          try {
            await sub.waitForStdout(/Subscribed \(mid: 1\)/);
            for (const publisher of ['ours', 'real'] as const) {
              const pub = await runTool(publisher, 'mosquitto_pub', [
                '--message',
                'Hello world',
                ...common(),
              ]);
              assert.equal(pub.code, 0, pub.stderr);
              assert.deepEqual(normalise(pub.stdout.toString()).split('\n'), [...expectedPub, '']);
            }
            await sub.waitForStdout(/Hello world\n[^]*Hello world\n/);
            const lines = normalise(sub.stdout.toString()).split('\n');
            assert.deepEqual(lines.slice(0, expectedSub.length), expectedSub, subscriber);
            // Ctrl-C after CONNACK: DISCONNECT, exit status 0 (the guide ends with ^C).
            sub.kill('SIGINT');
            const result = await sub.finished();
            assert.equal(result.code, 0, `${subscriber}: ${result.stderr}`);
            assert.match(normalise(result.stdout.toString()), /Client null sending DISCONNECT\n$/);
          } finally {
            await sub.stop();
          }
        }
      });

      test('a wrong password: the same refusal from both tools', async () => {
        const args = [
          '--message',
          'x',
          ...common().map((a) => (a === 'yoursecretpassword' ? 'wrong' : a)),
        ];
        const [mine, theirs] = await Promise.all([
          runTool('ours', 'mosquitto_pub', args),
          runTool('real', 'mosquitto_pub', args),
        ]);
        assert.deepEqual(
          { code: mine.code, stdout: normalise(mine.stdout.toString()), stderr: mine.stderr },
          { code: theirs.code, stdout: normalise(theirs.stdout.toString()), stderr: theirs.stderr },
        );
        assert.equal(mine.code, 5);
      });

      // Debian's tool reports these from client_connect (status 1) when the handshake fails
      // during its blocking connect, and from the loop ("Error: A TLS error occurred.", status
      // 8) when it fails a moment later; the first is the usual case and is what we print.
      test('TLS failures: untrusted CA, host name mismatch, unknown ciphers (-d lines)', async () => {
        const certs = testCertificates();
        const port = String(broker?.port ?? 0);
        const cases = [
          {
            args: ['-h', 'localhost', '--cafile', certs.otherCaCert],
            lines: ['OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed'],
          },
          {
            args: ['-h', '127.0.0.1', '--cafile', certs.caCert],
            lines: [
              'Error: host name verification failed.',
              'OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed',
            ],
          },
          {
            args: ['-h', 'localhost', '--cafile', certs.caCert, '--ciphers', 'BOGUS'],
            lines: [
              'Error: Unable to set TLS ciphers. Check cipher list "BOGUS".',
              'OpenSSL Error[0]: error:0A0000B9:SSL routines::no cipher match',
            ],
          },
        ];
        for (const c of cases) {
          const result = await runTool('ours', 'mosquitto_pub', [
            ...c.args,
            '-p',
            port,
            '-t',
            't',
            '-m',
            'x',
            '-d',
          ]);
          assert.equal(result.code, 1);
          assert.equal(result.stdout.toString(), c.lines.map((l) => `${l}\n`).join(''));
          assert.equal(result.stderr, 'Unable to connect (A TLS error occurred.).\n');
        }
        const insecure = await runTool('ours', 'mosquitto_pub', [
          '-h',
          '127.0.0.1',
          '-p',
          port,
          '--cafile',
          certs.caCert,
          '--insecure',
          '-u',
          'isabell',
          '-P',
          'yoursecretpassword',
          '-t',
          't',
          '-m',
          'x',
        ]);
        assert.equal(insecure.code, 0, insecure.stderr);
      });
    },
  );
}
