/**
 * The seed guide (/work/shared/seed/mosquitto-on-a-shared-host.rst) as a test: a broker
 * on a TLS port with a password file, exactly as the guide configures it, and Debian's
 * mosquitto_sub / mosquitto_pub with the guide's options. It runs against Debian's
 * mosquitto first (which proves the expectations), then against ours.
 *
 * The guide restarts the broker every month so that renewed certificates are used; the
 * tests show SIGHUP doing it without dropping the running subscriber, and, for ours,
 * `tls_reload_on_change true` doing it with no signal at all.
 *
 * Also what a supervisor (the guide's supervisord block, or systemd: docs/supervisor.md)
 * relies on: the broker stays in the foreground, SIGTERM stops it with exit code 0, a
 * configuration error exits with 3 and a listener that cannot open with 1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { CertificatePair } from '../helpers/certs.ts';
import { TestPki, opensslSkip } from '../helpers/certs.ts';
import { findOnPath, removeTempDir, trackTempDir } from '../helpers/children.ts';
import type { RunningCommand } from '../helpers/command.ts';
import { runCommand, startCommand } from '../helpers/command.ts';
import { mosquittoPath, mosquittoSkip, requiredPath } from '../helpers/mosquitto.ts';
import { freePort, repoRoot } from '../helpers/process.ts';

const TOPIC = 'isabellstesttopic';
const USER = 'isabell';
const PASSWORD = 'yoursecretpassword';

interface Target {
  readonly kind: 'mosquitto' | 'ours';
  readonly label: string;
  readonly preamble: readonly string[];
  start(configPath: string): RunningCommand;
}

const ours: Target = {
  kind: 'ours',
  label: 'ours',
  preamble: [],
  start: (configPath) => startCommand(join(repoRoot, 'bin', 'mosquitto'), ['-c', configPath]),
};

const debian: Target = {
  kind: 'mosquitto',
  label: "Debian's mosquitto",
  // As root, mosquitto would switch to the 'mosquitto' user, who cannot read the test's
  // temporary files.
  preamble: process.getuid?.() === 0 ? ['user root'] : [],
  start: (configPath) => startCommand(requiredPath('mosquitto'), ['-c', configPath]),
};

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => {
      resolve(false);
    });
  });
}

/** Waits until the broker accepts connections; fails with its output if it exits. */
async function waitUntilListening(broker: RunningCommand, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (broker.exited || Date.now() > deadline) {
      await broker.stop();
      assert.fail(`the broker did not start:\n${broker.stdout}${broker.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitForStderr(command: RunningCommand, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pattern.test(command.stderr)) {
    assert.ok(Date.now() < deadline, `no ${String(pattern)} in:\n${command.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The certificate the broker presents to a new connection. */
function presentedCertificate(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

/** Polls until the broker presents `expected` (a reload is asynchronous to the test). */
async function waitForCertificate(port: number, ca: string, expected: string): Promise<void> {
  const deadline = Date.now() + 8000;
  while ((await presentedCertificate(port, ca)) !== expected) {
    assert.ok(Date.now() < deadline, 'the renewed certificate was not picked up');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The guide's `mosquitto_passwd -c <file> isabell`, answering its two prompts. */
async function createPasswordFile(path: string): Promise<void> {
  const input = `${PASSWORD}\n${PASSWORD}\n`;
  const ourTool = await runCommand(join(repoRoot, 'bin', 'mosquitto_passwd'), ['-c', path, USER], {
    input,
  });
  if (ourTool.code === 0) return;
  // Ours not built yet: Debian's, in batch mode.
  const debianTool = await runCommand(requiredPath('mosquitto_passwd'), [
    '-c',
    '-b',
    path,
    USER,
    PASSWORD,
  ]);
  assert.equal(debianTool.code, 0, debianTool.stderr);
}

/** A broker set up as the guide says, on a free port, with its own CA and certificate. */
class GuideSetup {
  readonly pki: TestPki;
  readonly port: number;
  readonly certfile: string;
  readonly keyfile: string;
  readonly configPath: string;
  broker: RunningCommand | null = null;

  private constructor(pki: TestPki, port: number) {
    this.pki = pki;
    this.port = port;
    this.certfile = join(pki.dir, 'isabell.uber.space.crt');
    this.keyfile = join(pki.dir, 'isabell.uber.space.key');
    this.configPath = join(pki.dir, 'mosquitto.conf');
  }

  static async create(target: Target, extraLines: readonly string[] = []): Promise<GuideSetup> {
    const setup = new GuideSetup(TestPki.create(), await freePort());
    setup.install(setup.pki.server('first'));
    const passwd = join(setup.pki.dir, 'passwd');
    await createPasswordFile(passwd);
    const lines = [
      ...target.preamble,
      `cafile ${setup.pki.caCert}`,
      `certfile ${setup.certfile}`,
      `keyfile ${setup.keyfile}`,
      `port ${setup.port}`,
      'allow_anonymous false',
      `password_file ${passwd}`,
      ...extraLines,
    ];
    writeFileSync(setup.configPath, lines.join('\n') + '\n');
    setup.broker = target.start(setup.configPath);
    await waitUntilListening(setup.broker, setup.port);
    return setup;
  }

  /** Puts a certificate and key where certfile/keyfile point (as a renewal does). */
  install(pair: CertificatePair): string {
    copyFileSync(pair.cert, this.certfile);
    copyFileSync(pair.key, this.keyfile);
    return new X509Certificate(this.pki.read(pair.cert)).fingerprint256;
  }

  /** The options every tool invocation of the guide has. */
  toolArgs(credentials: readonly string[] = ['--username', USER, '--pw', PASSWORD]): string[] {
    return [
      ...['--host', 'localhost', '--port', String(this.port), '--topic', TOPIC],
      ...['--tls-version', 'tlsv1.2', '--cafile', this.pki.caCert, ...credentials, '--debug'],
    ];
  }

  publish(message: string, credentials?: readonly string[]): ReturnType<typeof runCommand> {
    return runCommand(requiredPath('mosquitto_pub'), [
      '--message',
      message,
      ...this.toolArgs(credentials),
    ]);
  }

  async stop(): Promise<void> {
    await this.broker?.stop();
    this.pki.remove();
  }
}

/** A temporary directory for one test's files. */
function tempDir(): { readonly path: string } {
  return { path: trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-seed-'))) };
}

const toolLines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

for (const target of [debian, ours]) {
  const programs =
    target.kind === 'mosquitto'
      ? (['mosquitto', 'mosquitto_pub', 'mosquitto_sub'] as const)
      : (['mosquitto_pub', 'mosquitto_sub'] as const);
  const skip = opensslSkip().skip ?? mosquittoSkip([...programs]).skip;

  describe(`the seed guide's setup on ${target.label}`, skip === undefined ? {} : { skip }, () => {
    let setup: GuideSetup;
    let subscriber: RunningCommand;

    before(async () => {
      setup = await GuideSetup.create(target);
      subscriber = startCommand(requiredPath('mosquitto_sub'), setup.toolArgs(), {
        lineBuffered: true,
      });
      await subscriber.waitForStdout(/Subscribed \(mid: 1\): 0/);
    });
    after(async () => {
      await subscriber.stop();
      await setup.stop();
    });

    test("mosquitto_pub's message reaches mosquitto_sub, with the guide's output", async () => {
      const sent = await setup.publish('Hello world');
      assert.equal(sent.code, 0, sent.stderr);
      assert.deepEqual(toolLines(sent.stdout), [
        'Client (null) sending CONNECT',
        'Client (null) received CONNACK (0)',
        `Client (null) sending PUBLISH (d0, q0, r0, m1, '${TOPIC}', ... (11 bytes))`,
        'Client (null) sending DISCONNECT',
      ]);
      await subscriber.waitForStdout(/^Hello world$/m);
      assert.deepEqual(toolLines(subscriber.stdout).slice(0, 5), [
        'Client (null) sending CONNECT',
        'Client (null) received CONNACK (0)',
        `Client (null) sending SUBSCRIBE (Mid: 1, Topic: ${TOPIC}, QoS: 0, Options: 0x00)`,
        'Client (null) received SUBACK',
        'Subscribed (mid: 1): 0',
      ]);
    });

    test('a wrong password is refused: CONNACK 5, "not authorised"', async () => {
      const refused = await setup.publish('x', ['--username', USER, '--pw', 'wrong']);
      assert.equal(refused.code, 5);
      assert.deepEqual(toolLines(refused.stdout), [
        'Client (null) sending CONNECT',
        'Client (null) received CONNACK (5)',
      ]);
      assert.match(refused.stderr, /Connection Refused: not authorised\./);
    });

    test('an anonymous client is refused: CONNACK 5', async () => {
      const refused = await setup.publish('x', []);
      assert.equal(refused.code, 5);
      assert.match(refused.stdout, /received CONNACK \(5\)/);
    });

    test('renewed certificates: SIGHUP serves them to new connections, the subscriber stays', async () => {
      const ca = setup.pki.read(setup.pki.caCert);
      const renewed = setup.install(setup.pki.server('renewed'));
      assert.notEqual(await presentedCertificate(setup.port, ca), renewed);
      setup.broker?.kill('SIGHUP');
      await waitForCertificate(setup.port, ca, renewed);
      const sent = await setup.publish('after renewal');
      assert.equal(sent.code, 0, sent.stderr);
      await subscriber.waitForStdout(/^after renewal$/m);
      assert.equal(subscriber.exited, false);
    });
  });
}

describe(
  'ours without the monthly restart: tls_reload_on_change',
  mosquittoSkip(['mosquitto_pub', 'mosquitto_sub']),
  () => {
    test(
      'renewed files on disk are used by new connections; the subscriber stays',
      opensslSkip(),
      async () => {
        const setup = await GuideSetup.create(ours, ['tls_reload_on_change true']);
        const subscriber = startCommand(requiredPath('mosquitto_sub'), setup.toolArgs(), {
          lineBuffered: true,
        });
        try {
          await subscriber.waitForStdout(/Subscribed \(mid: 1\): 0/);
          const ca = setup.pki.read(setup.pki.caCert);
          const renewed = setup.install(setup.pki.server('renewed'));
          await waitForCertificate(setup.port, ca, renewed);
          const sent = await setup.publish('renewed by itself');
          assert.equal(sent.code, 0, sent.stderr);
          await subscriber.waitForStdout(/^renewed by itself$/m);
        } finally {
          await subscriber.stop();
          await setup.stop();
        }
      },
    );
  },
);

describe('under a supervisor (docs/supervisor.md)', () => {
  test('runs in the foreground; SIGHUP keeps it running; SIGTERM stops it with exit 0', async () => {
    const port = await freePort();
    const dir = tempDir();
    try {
      const configPath = join(dir.path, 'mosquitto.conf');
      writeFileSync(configPath, `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
      const broker = ours.start(configPath);
      await waitUntilListening(broker, port);
      // Signal handlers are installed once the listeners are open: wait for "running".
      await waitForStderr(broker, /mosquitto version .+ running/);
      broker.kill('SIGHUP');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await canConnect(port), true);
      broker.kill('SIGTERM');
      const result = await broker.finished();
      assert.equal(result.code, 0);
      assert.match(result.stderr, /Reloading config\./);
      assert.match(result.stderr, /mosquitto version .+ terminating/);
    } finally {
      removeTempDir(dir.path);
    }
  });

  test('a configuration error exits with 3 (not worth restarting)', async () => {
    const dir = tempDir();
    try {
      const configPath = join(dir.path, 'bad.conf');
      writeFileSync(configPath, 'listener 1883\nno_such_option true\n');
      const result = await ours.start(configPath).finished();
      assert.equal(result.code, 3);
      assert.match(result.stderr, /Error: Unknown configuration variable "no_such_option"\./);
    } finally {
      removeTempDir(dir.path);
    }
  });

  test('a port that is taken exits with 1 (worth retrying)', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const address = holder.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const dir = tempDir();
    try {
      const configPath = join(dir.path, 'taken.conf');
      writeFileSync(configPath, `listener ${port} 127.0.0.1\n`);
      const result = await ours.start(configPath).finished();
      assert.equal(result.code, 1);
      assert.match(result.stderr, /Error: Address already in use/);
    } finally {
      holder.close();
      removeTempDir(dir.path);
    }
  });

  test('a certificate that cannot be loaded exits with 1', opensslSkip(), async () => {
    const dir = tempDir();
    try {
      const configPath = join(dir.path, 'tls.conf');
      const port = await freePort();
      writeFileSync(
        configPath,
        `listener ${port} 127.0.0.1\ncertfile ${join(dir.path, 'missing.crt')}\nkeyfile ${join(dir.path, 'missing.key')}\n`,
      );
      const result = await ours.start(configPath).finished();
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /Error: Unable to load server certificate ".*missing\.crt"\. Check certfile\./,
      );
    } finally {
      removeTempDir(dir.path);
    }
  });

  test('docs/mosquitto.service: systemd accepts it; reload is SIGHUP; no restart loop on 3', async (t) => {
    const unit = readFileSync(join(repoRoot, 'docs', 'mosquitto.service'), 'utf8');
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(unit, /^RestartPreventExitStatus=3 13$/m);
    assert.match(unit, /^Type=simple$/m);
    const analyze = findOnPath('systemd-analyze');
    if (analyze === null) {
      t.skip('systemd-analyze is not installed');
      return;
    }
    const dir = tempDir();
    try {
      const path = join(dir.path, 'mosquitto.service');
      const bin = join(repoRoot, 'bin', 'mosquitto');
      writeFileSync(path, unit.replace('/usr/local/bin/mosquitto', bin));
      const result = await runCommand(analyze, ['verify', path]);
      assert.equal(result.stderr.trim(), '', result.stderr);
    } finally {
      removeTempDir(dir.path);
    }
  });

  test(
    "Debian's mosquitto also exits with 3 for a configuration error",
    mosquittoSkip(['mosquitto']),
    async () => {
      assert.ok(mosquittoPath('mosquitto') !== null);
      const dir = tempDir();
      try {
        const configPath = join(dir.path, 'bad.conf');
        writeFileSync(configPath, 'listener 1883\nno_such_option true\n');
        const real = await debian.start(configPath).finished();
        assert.equal(real.code, 3);
      } finally {
        removeTempDir(dir.path);
      }
    },
  );
});
