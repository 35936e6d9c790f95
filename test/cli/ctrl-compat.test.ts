/**
 * Our mosquitto_ctrl against Debian's, byte for byte: two Debian brokers, each loading
 * the real dynamic security plugin (one from our `dynsec init` file, one from Debian's),
 * receive the same sequence of commands, ours driving one and Debian's the other; every
 * step must give the same stdout, stderr and exit status. Then the cases that need no
 * broker (usage, help, bad arguments, init), and brokers that refuse or never answer.
 *
 * Known 2.0.11 → 2.0.22 differences are avoided or erased (normaliseCtrl): the version in
 * the usage text, mosquitto_strerror's "Invalid function arguments provided." (now
 * "Invalid arguments provided."), createClient's `-i` (2.0.11 knows only `-c`), the
 * setDefaultACLAccess request (2.0.11 sends `"access":"allow"`, which its plugin silently
 * reads as deny; 2.0.22 sends `"allow":true`: compared with 2.0.22 in ctrl.test.ts) and
 * init's message for an existing file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { opensslPath, testCertificates } from '../client/certs.ts';
import { trackTempDir } from '../helpers/children.ts';
import { isCi, mosquittoSkip, startRealBroker } from '../helpers/mosquitto.ts';
import { freePort, ourBroker, type RunningBroker } from '../helpers/process.ts';
import { normalise, runTool, type Implementation, type ToolResult } from './tool-process.ts';

const PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
const SKIP = mosquittoSkip(['mosquitto', 'mosquitto_ctrl']);
const pluginSkip =
  SKIP.skip === undefined && !existsSync(PLUGIN) && !isCi()
    ? { skip: `needs ${PLUGIN}: apt-get install -y mosquitto` }
    : SKIP;

const tlsSkip =
  opensslPath === null ? { skip: 'needs openssl (apt-get install -y openssl)' } : pluginSkip;

const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-ctrl-')));

function normaliseCtrl(text: string): string {
  return normalise(text)
    .replace(/Invalid function arguments provided\./g, 'Invalid arguments provided.')
    .replace(
      'createClient      <username> [-c clientid]',
      'createClient      <username> [-i clientid]',
    )
    .replace(
      'Error: -c argument given, but no clientid',
      'Error: -i argument given, but no clientid',
    )
    .replace(/mosquitto_ctrl version 2\.0\.\d+ running on libmosquitto 2\.0\.\d+/g, 'version');
}

function ctrl(impl: Implementation, args: readonly string[], input = ''): Promise<ToolResult> {
  return runTool(impl, 'mosquitto_ctrl', args, { input, timeoutMs: 15_000 });
}

function assertSame(ours: ToolResult, real: ToolResult, what: string): void {
  assert.equal(
    normaliseCtrl(ours.stdout.toString('utf8')),
    normaliseCtrl(real.stdout.toString('utf8')),
    `${what}: stdout`,
  );
  assert.equal(normaliseCtrl(ours.stderr), normaliseCtrl(real.stderr), `${what}: stderr`);
  assert.equal(ours.code, real.code, `${what}: exit status`);
}

async function compare(args: readonly string[], input = ''): Promise<void> {
  const [ours, real] = await Promise.all([ctrl('ours', args, input), ctrl('real', args, input)]);
  assertSame(ours, real, args.join(' '));
}

/** Every dynsec command, in an order that exercises each on existing and missing objects. */
const STEPS: readonly (readonly string[])[] = [
  ['createClient', 'alice', '-p', 'pw1', '-c', 'aliceid'],
  ['createClient', 'bob', '-p', 'pw2'],
  ['createClient', 'alice', '-p', 'again'],
  ['createClient', 'carol'],
  ['listClients'],
  ['listClients', '2'],
  ['listClients', '1', '1'],
  ['getClient', 'alice'],
  ['getClient', 'nobody'],
  ['setClientId', 'alice', 'newid'],
  ['getClient', 'alice'],
  ['setClientId', 'alice'],
  ['setClientPassword', 'bob', 'newpw'],
  ['setClientPassword', 'nobody', 'x'],
  ['disableClient', 'bob'],
  ['getClient', 'bob'],
  ['enableClient', 'bob'],
  ['enableClient', 'nobody'],
  ['createRole', 'r1'],
  ['createRole', 'r2'],
  ['createRole', 'r1'],
  ['addRoleACL', 'r1', 'publishClientSend', 'a/b', 'allow', '5'],
  ['addRoleACL', 'r1', 'subscribeLiteral', 'a/#', 'deny'],
  ['addRoleACL', 'r1', 'subscribePattern', 'c/+', 'allow', '-1'],
  ['addRoleACL', 'r1', 'badtype', 'x', 'allow'],
  ['addRoleACL', 'r1', 'publishClientSend', 'x', 'maybe'],
  ['getRole', 'r1'],
  ['removeRoleACL', 'r1', 'publishClientSend', 'a/b'],
  ['removeRoleACL', 'r1', 'publishClientSend', 'a/b'],
  ['getRole', 'r1'],
  ['getRole', 'nothing'],
  ['listRoles'],
  ['listRoles', '1', '1'],
  ['addClientRole', 'alice', 'r1', '3'],
  ['addClientRole', 'alice', 'r2'],
  ['addClientRole', 'alice', 'nothing'],
  ['getClient', 'alice'],
  ['removeClientRole', 'alice', 'r2'],
  ['removeClientRole', 'alice', 'r2'],
  ['createGroup', 'g1'],
  ['createGroup', 'g2'],
  ['createGroup', 'g1'],
  ['addGroupRole', 'g1', 'r1', '7'],
  ['addGroupRole', 'g2', 'r2'],
  ['addGroupClient', 'g1', 'alice', '2'],
  ['addGroupClient', 'g2', 'alice'],
  ['addGroupClient', 'g2', 'bob'],
  ['getGroup', 'g1'],
  ['getGroup', 'g2'],
  ['getGroup', 'nothing'],
  ['getClient', 'alice'],
  ['listGroups'],
  ['removeGroupClient', 'g2', 'alice'],
  ['removeGroupRole', 'g1', 'r1'],
  ['removeGroupRole', 'g1', 'r1'],
  ['getAnonymousGroup'],
  ['setAnonymousGroup', 'g1'],
  ['setAnonymousGroup', 'nothing'],
  ['getAnonymousGroup'],
  ['getDefaultACLAccess'],
  ['setDefaultACLAccess', 'subscribe', 'maybe'],
  ['setDefaultACLAccess', 'nothing', 'allow'],
  ['deleteGroup', 'g2'],
  ['deleteGroup', 'g2'],
  ['deleteRole', 'r2'],
  ['deleteRole', 'r2'],
  ['deleteClient', 'bob'],
  ['deleteClient', 'bob'],
  ['getClient', 'bob'],
  ['listClients'],
  ['LISTCLIENTS'],
  ['nonsense'],
  ['deleteClient'],
  ['getClient', 'a', 'b'],
  ['listGroups', '1', '2', '3'],
  ['setClientId'],
  ['addClientRole', 'alice'],
];

describe(
  'mosquitto_ctrl compared with Debian mosquitto_ctrl (real dynsec plugin)',
  pluginSkip,
  () => {
    const brokers: Partial<Record<Implementation, RunningBroker>> = {};
    const files: Partial<Record<Implementation, string>> = {};

    before(async () => {
      for (const impl of ['ours', 'real'] as const) {
        const file = join(dir, `init-${impl}.json`);
        const result = await ctrl(impl, ['dynsec', 'init', file, 'admin', 'adminpw']);
        assert.equal(result.code, 0, result.stderr);
        files[impl] = readFileSync(file, 'utf8');
      }
      // Ours drives the broker loaded from Debian's file and the other way round: each
      // broker proves the other tool's init file loads.
      const started = await Promise.all(
        (['ours', 'real'] as const).map((impl) =>
          startRealBroker({
            allowAnonymous: false,
            config: [`plugin ${PLUGIN}`, 'plugin_opt_config_file {dir}/dynsec.json'],
            files: { 'dynsec.json': files[impl === 'ours' ? 'real' : 'ours'] ?? '' },
          }),
        ),
      );
      const [forOurs, forReal] = started;
      if (forOurs !== undefined) brokers.ours = forOurs;
      if (forReal !== undefined) brokers.real = forReal;
    });

    after(async () => {
      await Promise.all(Object.values(brokers).map((broker) => broker.stop()));
    });

    const connection = (impl: Implementation): string[] => [
      '-h',
      '127.0.0.1',
      '-p',
      String(brokers[impl]?.port ?? 0),
      '-u',
      'admin',
      '-P',
      'adminpw',
    ];

    test('dynsec init: the same JSON layout, with fresh salts and hashes', () => {
      const mask = (text: string): string =>
        text.replace(/"(password|salt)":\t"[^"]*"/g, '"$1":\t"<masked>"');
      assert.equal(mask(files.ours ?? ''), mask(files.real ?? ''));
      const ours = JSON.parse(files.ours ?? '{}') as {
        clients: { salt: string; password: string }[];
      };
      const salt = Buffer.from(ours.clients[0]?.salt ?? '', 'base64');
      const hash = Buffer.from(ours.clients[0]?.password ?? '', 'base64');
      assert.equal(salt.length, 12);
      assert.equal(hash.length, 64);
    });

    test('every dynsec command, step by step', async () => {
      for (const step of STEPS) {
        const [ours, real] = await Promise.all([
          ctrl('ours', [...connection('ours'), 'dynsec', ...step], 'secret\nsecret\n'),
          ctrl('real', [...connection('real'), 'dynsec', ...step], 'secret\nsecret\n'),
        ]);
        assertSame(ours, real, step.join(' '));
      }
    });

    test('MQTT v3.1.1, and a wrong password', async () => {
      for (const extra of [
        ['-V', '311'],
        ['-V', 'mqttv31'],
      ]) {
        const [ours, real] = await Promise.all([
          ctrl('ours', [...connection('ours'), ...extra, 'dynsec', 'listRoles']),
          ctrl('real', [...connection('real'), ...extra, 'dynsec', 'listRoles']),
        ]);
        assertSame(ours, real, extra.join(' '));
      }
      for (const version of ['5', '311']) {
        const args = (impl: Implementation): string[] => [
          ...connection(impl).slice(0, 6),
          '-P',
          'wrong',
          '-V',
          version,
          'dynsec',
          'listClients',
        ];
        const [ours, real] = await Promise.all([
          ctrl('ours', args('ours')),
          ctrl('real', args('real')),
        ]);
        assertSame(ours, real, `wrong password, -V ${version}`);
      }
    });

    test('the broker password from the prompt', async () => {
      const prompted = (impl: Implementation): string[] => [
        ...connection(impl).slice(0, 6),
        'dynsec',
        'listRoles',
      ];
      const [ours, real] = await Promise.all([
        ctrl('ours', prompted('ours'), 'adminpw\n'),
        ctrl('real', prompted('real'), 'adminpw\n'),
      ]);
      assertSame(ours, real, 'password prompt');
      const [oursEmpty, realEmpty] = await Promise.all([
        ctrl('ours', prompted('ours'), ''),
        ctrl('real', prompted('real'), ''),
      ]);
      assertSame(oursEmpty, realEmpty, 'password prompt, no answer');
      // Options files (-o): 2.0.11 read the file before -o was known (fixed in 2.0.12), so
      // they are compared with 2.0.22 in ctrl.test.ts.
    });

    test('a client whose role forbids the control topic', async () => {
      const setup = async (impl: Implementation): Promise<void> => {
        const run = (args: string[]): Promise<ToolResult> =>
          ctrl(impl, [...connection(impl), 'dynsec', ...args]);
        await run(['createClient', 'eve', '-p', 'evepw']);
      };
      await Promise.all([setup('ours'), setup('real')]);
      const args = (impl: Implementation): string[] => [
        '-p',
        String(brokers[impl]?.port ?? 0),
        '-u',
        'eve',
        '-P',
        'evepw',
        'dynsec',
        'listClients',
      ];
      const [ours, real] = await Promise.all([
        ctrl('ours', args('ours')),
        ctrl('real', args('real')),
      ]);
      assertSame(ours, real, 'eve listClients');
    });
  },
);

describe(
  "Debian's mosquitto_ctrl against our broker's dynamic security and against Debian's plugin",
  pluginSkip,
  () => {
    const brokers: Partial<Record<Implementation, RunningBroker>> = {};

    before(async () => {
      const file = join(dir, 'init-for-both.json');
      const result = await ctrl('real', ['dynsec', 'init', file, 'admin', 'adminpw']);
      assert.equal(result.code, 0, result.stderr);
      const json = readFileSync(file, 'utf8');
      const options = {
        allowAnonymous: false,
        config: [`plugin ${PLUGIN}`, 'plugin_opt_config_file {dir}/dynsec.json'],
        files: { 'dynsec.json': json },
      };
      // "ours" here is the broker (ours, with the built-in plugin); the tool is Debian's.
      const [ours, real] = await Promise.all([ourBroker.start(options), startRealBroker(options)]);
      brokers.ours = ours;
      brokers.real = real;
    });

    after(async () => {
      await Promise.all(Object.values(brokers).map((broker) => broker.stop()));
    });

    test('every dynsec command, step by step: the same output from both brokers', async () => {
      for (const step of STEPS) {
        const [ours, real] = await Promise.all(
          (['ours', 'real'] as const).map((impl) =>
            ctrl(
              'real',
              [
                '-h',
                '127.0.0.1',
                '-p',
                String(brokers[impl]?.port ?? 0),
                '-u',
                'admin',
                '-P',
                'adminpw',
                'dynsec',
                ...step,
              ],
              'secret\nsecret\n',
            ),
          ),
        );
        assert.ok(ours !== undefined && real !== undefined);
        assertSame(ours, real, `our broker: ${step.join(' ')}`);
      }
    });
  },
);

describe('mosquitto_ctrl over TLS, compared with Debian', tlsSkip, () => {
  let broker: RunningBroker | undefined;

  before(async () => {
    const certs = testCertificates();
    const file = join(dir, 'tls-init.json');
    const made = await ctrl('ours', ['dynsec', 'init', file, 'admin', 'adminpw']);
    assert.equal(made.code, 0, made.stderr);
    broker = await startRealBroker({
      allowAnonymous: false,
      config: [
        `cafile ${certs.caCert}`,
        `certfile ${certs.serverCert}`,
        `keyfile ${certs.serverKey}`,
        `plugin ${PLUGIN}`,
        'plugin_opt_config_file {dir}/dynsec.json',
      ],
      files: { 'dynsec.json': readFileSync(file, 'utf8') },
    });
  });

  after(() => broker?.stop());

  for (const [name, command] of [
    ['no warning, the same answers', ['getClient', 'admin']],
    ['the same answers, role listing', ['listRoles']],
  ] as const) {
    test(name, async () => {
      const certs = testCertificates();
      await compare([
        '-h',
        'localhost',
        '-p',
        String(broker?.port ?? 0),
        '--cafile',
        certs.caCert,
        '-u',
        'admin',
        '-P',
        'adminpw',
        'dynsec',
        ...command,
      ]);
    });
  }
});

describe('mosquitto_ctrl over TLS, an untrusted server certificate', tlsSkip, () => {
  let broker: RunningBroker | undefined;
  before(async () => {
    const certs = testCertificates();
    broker = await startRealBroker({
      config: [
        `cafile ${certs.caCert}`,
        `certfile ${certs.serverCert}`,
        `keyfile ${certs.serverKey}`,
      ],
    });
  });
  after(() => broker?.stop());

  // Debian's tool is not deterministic here: the handshake fails either inside
  // mosquitto_connect() ("Unable to connect (A TLS error occurred.).", status 8) or in the
  // loop, which mosquitto_ctrl does not report (silence for 10 s, status 0). Ours always
  // gives the first, informative outcome.
  test('"Unable to connect (A TLS error occurred.)." and status 8, one of Debian\'s outcomes', async () => {
    const args = [
      '-h',
      'localhost',
      '-p',
      String(broker?.port ?? 0),
      '--cafile',
      testCertificates().otherCaCert,
      'dynsec',
      'listRoles',
    ];
    const [ours, real] = await Promise.all([ctrl('ours', args), ctrl('real', args)]);
    const failed = ['', 'Unable to connect (A TLS error occurred.).\n', 8];
    assert.deepEqual([ours.stdout.toString(), ours.stderr, ours.code], failed);
    assert.ok(
      [JSON.stringify(failed), JSON.stringify(['', '', 0])].includes(
        JSON.stringify([real.stdout.toString(), real.stderr, real.code]),
      ),
      `Debian: ${real.stderr} ${String(real.code)}`,
    );
  });
});

describe('mosquitto_ctrl without a broker, compared with Debian', SKIP, () => {
  const cases: readonly (readonly string[])[] = [
    [],
    ['--help'],
    ['--version'],
    ['dynsec'],
    ['dynsec', 'help'],
    ['DYNSEC', 'HELP'],
    ['nomodule', 'help'],
    ['-x', 'dynsec', 'help'],
    ['-p'],
    ['-p', '70000', 'dynsec', 'help'],
    ['-q', '3', 'dynsec', 'help'],
    ['-V', '6', 'dynsec', 'help'],
    ['-h', 'localhost', '-x', 'dynsec', 'help'],
    ['-L', 'http://x/y', 'dynsec', 'help'],
    ['-L', 'mqtt://x', 'dynsec', 'help'],
    ['--proxy', 'x', 'dynsec', 'help'],
    ['dynsec', 'init'],
    ['dynsec', 'init', 'a'],
    ['dynsec', 'init', 'a', 'b', 'c', 'd'],
    ['dynsec', 'nonsense'],
    ['dynsec', 'deleteClient'],
    ['dynsec', 'setDefaultACLAccess', 'subscribe', 'maybe'],
    ['dynsec', 'addRoleACL', 'r', 'nope', 't', 'allow'],
    ['dynsec', 'createClient', 'u', '-p'],
    ['dynsec', 'createClient', 'u', '-c'],
    ['-p', '1', '--cert', 'c', 'dynsec', 'listClients'],
    ['-p', '1', '--keyform', 'pem', 'dynsec', 'listClients'],
  ];
  for (const args of cases) {
    test(`mosquitto_ctrl ${args.join(' ')}`, async () => {
      await compare(args);
    });
  }

  test('dynsec init: an existing file is left alone', async () => {
    const file = join(dir, 'exists.json');
    const first = await ctrl('ours', ['dynsec', 'init', file, 'admin', 'pw']);
    assert.equal(first.code, 0);
    const before = readFileSync(file, 'utf8');
    const again = await ctrl('ours', ['dynsec', 'init', file, 'admin', 'pw']);
    // 2.0.22's text (2.0.11 printed "'<file>' already exists"): status 0 in both.
    assert.equal(
      again.stderr,
      `dynsec init: Unable to open '${file}' for writing (File exists).\n`,
    );
    assert.equal(again.code, 0);
    assert.equal(readFileSync(file, 'utf8'), before);
    rmSync(file);
  });

  test('dynsec init with the password from the prompt', async () => {
    const files = { ours: join(dir, 'prompt-ours.json'), real: join(dir, 'prompt-real.json') };
    const [ours, real] = await Promise.all([
      ctrl('ours', ['dynsec', 'init', files.ours, 'admin'], 'pw\npw\n'),
      ctrl('real', ['dynsec', 'init', files.real, 'admin'], 'pw\npw\n'),
    ]);
    assert.equal(
      ours.stdout.toString().replaceAll(files.ours, 'F'),
      real.stdout.toString().replaceAll(files.real, 'F'),
    );
    assert.equal(ours.code, real.code);
    const [mismatchOurs, mismatchReal] = await Promise.all([
      ctrl('ours', ['dynsec', 'init', join(dir, 'mm-ours.json'), 'admin'], 'pw\nother\n'),
      ctrl('real', ['dynsec', 'init', join(dir, 'mm-real.json'), 'admin'], 'pw\nother\n'),
    ]);
    assertSame(mismatchOurs, mismatchReal, 'init, passwords differ');
    assert.equal(existsSync(join(dir, 'mm-ours.json')), false);
  });

  test('a closed port: "Error: Connection refused", status 14', async () => {
    const port = await freePort();
    await compare(['-h', '127.0.0.1', '-p', String(port), 'dynsec', 'listClients']);
    const ours = await ctrl('ours', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      'dynsec',
      'listClients',
    ]);
    assert.equal(ours.code, 14);
  });

  test('a broker that never answers: silence after 10 seconds, status 0', async () => {
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const started = Date.now();
      await compare(['-h', '127.0.0.1', '-p', String(port), 'dynsec', 'listClients']);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 8000 && elapsed < 14_000, `took ${elapsed} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
