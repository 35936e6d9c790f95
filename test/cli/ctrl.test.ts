/**
 * mosquitto_ctrl on its own, and against the reference builds of 2.0.22 and 2.1.2 where
 * this machine has them (/work/ref; skipped elsewhere, CI included):
 * - cJSON's output formats (the file `dynsec init` writes);
 * - 2.0.22's tool and broker with its dynsec plugin: every dynsec command byte for byte,
 *   with the commands whose 2.0.11 form differs (setDefaultACLAccess, createClient -i);
 * - 2.1.2: `broker listPlugins` / `listListeners` byte for byte against its tool and
 *   broker, and offline `-f <file> dynsec setClientPassword`, whose file its plugin loads.
 * The comparison with Debian's 2.0.11 is in ctrl-compat.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cjsonPrint, cjsonPrintUnformatted, RawNumber } from '../../src/common/cjson.ts';
import { brokerMain, dynsecMain, DYNSEC_COMMANDS } from '../../src/cli/ctrl-dynsec.ts';
import { runCtrl } from '../../src/cli/ctrl.ts';
import { recordingIo } from './fake-io.ts';
import { trackTempDir } from '../helpers/children.ts';
import { startBrokerProcess, type RunningBroker } from '../helpers/process.ts';
import { referenceProgram, referenceSkipMessage } from '../helpers/real-db.ts';
import { runTool, type ToolResult } from './tool-process.ts';

const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-ctrl-own-')));
const REF_SO = { '2.0.22': '/work/ref/m2022/so', '2.1.2': '/work/ref/m212/so' } as const;

function ours(args: readonly string[], input = ''): Promise<ToolResult> {
  return runTool('ours', 'mosquitto_ctrl', args, { input, timeoutMs: 15_000 });
}

function reference(
  version: '2.0.22' | '2.1.2',
  args: readonly string[],
  input = '',
): Promise<ToolResult> {
  const path = referenceProgram(version, 'mosquitto_ctrl') ?? '';
  return runTool('real', 'mosquitto_ctrl', args, { input, path, timeoutMs: 15_000 });
}

function assertSame(a: ToolResult, b: ToolResult, what: string): void {
  assert.equal(a.stdout.toString('utf8'), b.stdout.toString('utf8'), `${what}: stdout`);
  assert.equal(a.stderr, b.stderr, `${what}: stderr`);
  assert.equal(a.code, b.code, `${what}: exit status`);
}

function referenceSkip(version: '2.0.22' | '2.1.2'): { skip?: string } {
  for (const program of ['mosquitto', 'mosquitto_ctrl']) {
    if (referenceProgram(version, program) === null) {
      return { skip: referenceSkipMessage(version, program) };
    }
  }
  return {};
}

function startReferenceBroker(
  version: '2.0.22' | '2.1.2',
  dynsecFile: string,
): Promise<RunningBroker> {
  return startBrokerProcess(
    {
      kind: 'mosquitto',
      label: `mosquitto ${version}`,
      command: referenceProgram(version, 'mosquitto') ?? '',
      args: (configPath) => ['-c', configPath],
      preamble: process.getuid?.() === 0 ? ['user root'] : [],
    },
    {
      allowAnonymous: false,
      config: [
        `plugin ${REF_SO[version]}/mosquitto_dynamic_security.so`,
        'plugin_opt_config_file {dir}/dynsec.json',
      ],
      files: { 'dynsec.json': dynsecFile },
    },
  );
}

const connection = (broker: RunningBroker | undefined, password = 'adminpw'): string[] => [
  '-h',
  '127.0.0.1',
  '-p',
  String(broker?.port ?? 0),
  '-u',
  'admin',
  '-P',
  password,
];

async function initFile(name: string, password = 'adminpw'): Promise<string> {
  const file = join(dir, name);
  const result = await ours(['dynsec', 'init', file, 'admin', password]);
  assert.equal(result.code, 0, result.stderr);
  return file;
}

describe('cJSON output', () => {
  test('cJSON_Print: tabs, "key":<tab>value, arrays on one line, nesting depth', () => {
    const value = {
      a: [{ b: 'x', c: true }, { d: new RawNumber('101') }],
      e: {},
      f: [],
      g: { h: false },
    };
    assert.equal(
      cjsonPrint(value),
      '{\n\t"a":\t[{\n\t\t\t"b":\t"x",\n\t\t\t"c":\ttrue\n\t\t}, {\n\t\t\t"d":\t101\n\t\t}],\n' +
        '\t"e":\t{\n\t},\n\t"f":\t[],\n\t"g":\t{\n\t\t"h":\tfalse\n\t}\n}',
    );
    assert.equal(
      cjsonPrintUnformatted(value),
      '{"a":[{"b":"x","c":true},{"d":101}],"e":{},"f":[],"g":{"h":false}}',
    );
    assert.equal(cjsonPrintUnformatted({ s: 'a"\\\n\u0001/é' }), '{"s":"a\\"\\\\\\n\\u0001/é"}');
  });

  test('every dynsec command of Mosquitto 2.0 is known', () => {
    assert.deepEqual([...DYNSEC_COMMANDS].sort(), [
      'addClientRole',
      'addGroupClient',
      'addGroupRole',
      'addRoleACL',
      'createClient',
      'createGroup',
      'createRole',
      'deleteClient',
      'deleteGroup',
      'deleteRole',
      'disableClient',
      'enableClient',
      'getAnonymousGroup',
      'getClient',
      'getDefaultACLAccess',
      'getGroup',
      'getRole',
      'listClients',
      'listGroups',
      'listRoles',
      'removeClientRole',
      'removeGroupClient',
      'removeGroupRole',
      'removeRoleACL',
      'setAnonymousGroup',
      'setClientId',
      'setClientPassword',
      'setDefaultACLAccess',
    ]);
  });
});

describe('requests and responses, in-process', () => {
  async function request(args: readonly string[]) {
    const result = await dynsecMain(args, recordingIo(), null);
    assert.equal(result.kind, 'request');
    return result;
  }

  async function printed(command: string, response: unknown): Promise<[string, string]> {
    const io = recordingIo();
    const { onResponse } = await request([command, 'x']);
    onResponse(Buffer.from(typeof response === 'string' ? response : JSON.stringify(response)), io);
    return [io.stdout().toString(), io.stderr()];
  }

  test('the JSON commands sent', async () => {
    const cases: readonly (readonly [readonly string[], string])[] = [
      [['listClients', '0', '5'], '{"command":"listClients","offset":5}'],
      [
        ['ADDCLIENTROLE', 'u', 'r', '-1'],
        '{"command":"ADDCLIENTROLE","username":"u","rolename":"r"}',
      ],
      [
        ['addGroupClient', 'g', 'u', '3x'],
        '{"command":"addGroupClient","username":"u","groupname":"g","priority":3}',
      ],
      [
        ['setDefaultACLAccess', 'Subscribe', 'ALLOW'],
        '{"command":"setDefaultACLAccess","acls":[{"acltype":"Subscribe","allow":true}]}',
      ],
      [
        ['addRoleACL', 'r', 'publishClientSend', 't/#', 'deny', '2'],
        '{"command":"addRoleACL","rolename":"r","acltype":"publishClientSend","topic":"t/#","allow":false,"priority":2}',
      ],
      [
        ['createClient', 'u', '-p', 'pw', '-i', 'id'],
        '{"command":"createClient","username":"u","clientid":"id","password":"pw"}',
      ],
    ];
    for (const [args, json] of cases) {
      const { payload, requestTopic, responseTopic } = await request(args);
      assert.equal(payload, `{"commands":[${json}]}`, args.join(' '));
      assert.equal(requestTopic, '$CONTROL/dynamic-security/v1');
      assert.equal(responseTopic, '$CONTROL/dynamic-security/v1/response');
    }
  });

  test('malformed responses', async () => {
    assert.deepEqual(await printed('getClient', 'nope'), ['', 'Error: Payload not JSON.\n']);
    assert.deepEqual(await printed('getClient', {}), ['', 'Error: Payload missing data.\n']);
    assert.deepEqual(await printed('getClient', { responses: [] }), [
      '',
      'Error: Payload missing data.\n',
    ]);
    assert.deepEqual(await printed('getClient', { responses: [{ command: 'getClient' }] }), [
      '',
      'Error: Invalid response from server.\n',
    ]);
    assert.deepEqual(
      await printed('getClient', { responses: [{ command: 'getClient', error: 'Nope' }] }),
      ['', 'getClient: Error: Nope\n'],
    );
    assert.deepEqual(
      await printed('listClients', {
        responses: [{ command: 'listClients', data: { clients: ['a', { username: 'b' }, 3] } }],
      }),
      ['a\nb\n', ''],
    );
  });

  test('a client with every field, a role with every kind of ACL', async () => {
    const client = {
      username: 'u',
      clientid: 'c',
      disabled: true,
      roles: [{ rolename: 'r1', priority: 2.7 }, { rolename: 'r2' }],
      groups: [{ groupname: 'g1' }, { groupname: 'g2', priority: -3 }],
    };
    assert.deepEqual(
      await printed('getClient', { responses: [{ command: 'getClient', data: { client } }] }),
      [
        'Username: u\nClientid: c\nDisabled: true\nRoles:    r1 (priority: 2)\n          r2 (priority: -1)\n' +
          'Groups:   g1 (priority: -1)\n          g2 (priority: -3)\n',
        '',
      ],
    );
    const role = {
      rolename: 'r',
      acls: [{ acltype: 'subscribeLiteral', allow: false, topic: 't' }, { acltype: 'x' }],
    };
    assert.deepEqual(
      await printed('getRole', { responses: [{ command: 'getRole', data: { role } }] }),
      [
        'Rolename: r\nACLs:     subscribeLiteral     : deny  : t (priority: -1)\n          x                    (priority: -1)\n',
        '',
      ],
    );
  });

  test('broker listPlugins and listListeners (2.1)', () => {
    const io = recordingIo();
    const plugins = brokerMain(['listPlugins'], io);
    assert.equal(plugins.kind, 'request');
    assert.equal(plugins.payload, '{"commands":[{"command":"listPlugins"}]}');
    assert.equal(plugins.requestTopic, '$CONTROL/broker/v1');
    plugins.onResponse(
      Buffer.from(
        JSON.stringify({
          responses: [
            {
              command: 'listPlugins',
              data: {
                plugins: [
                  {
                    name: 'dynsec',
                    version: '1.0',
                    'control-endpoints': ['$CONTROL/a', '$CONTROL/b'],
                  },
                  { name: 'other' },
                ],
              },
            },
          ],
        }),
      ),
      io,
    );
    assert.equal(
      io.stdout().toString(),
      'Plugin:            dynsec\nVersion:           1.0\nControl endpoints: $CONTROL/a\n' +
        '                   $CONTROL/b\nPlugin:            other\n',
    );
    const io2 = recordingIo();
    const listeners = brokerMain(['listlisteners'], io2);
    assert.equal(listeners.kind, 'request');
    listeners.onResponse(
      Buffer.from(
        JSON.stringify({
          responses: [
            {
              command: 'listListeners',
              data: {
                listeners: [{ port: 1883, protocol: 'mqtt', tls: true }, { 'socket-path': '/s' }],
              },
            },
          ],
        }),
      ),
      io2,
    );
    assert.equal(
      io2.stdout().toString(),
      'Listener 1:\n  Port:              1883\n  Protocol:          mqtt\n  TLS:               true\n\n' +
        'Listener 2:\n  Socket path:       /s\n  TLS:               false\n\n',
    );
    const io3 = recordingIo();
    listeners.onResponse(
      Buffer.from('{"responses":[{"command":"listListeners","error":"Denied"}]}'),
      io3,
    );
    assert.equal(io3.stderr(), 'listListeners: Error: Denied.\n');
  });

  test('argument errors never connect', async () => {
    const cases: readonly (readonly [readonly string[], string, number])[] = [
      [
        ['-p', '1', '--cert', 'c', 'dynsec', 'listClients'],
        'Error: Both certfile and keyfile must be provided if one of them is set.\n',
        3,
      ],
      [
        ['--psk', 'aa', 'dynsec', 'listClients'],
        'Error: --psk-identity required if --psk used.\n',
        1,
      ],
      [['dynsec', 'getClient'], 'Error: Invalid arguments provided.\n', 3],
      [['broker', 'nonsense'], "Command 'nonsense' not recognised.\n", 13],
    ];
    for (const [args, stderr, code] of cases) {
      const io = recordingIo();
      const status = await runCtrl(args, io);
      assert.ok(io.stderr().startsWith(stderr), `${args.join(' ')}: ${io.stderr()}`);
      assert.equal(status, code, args.join(' '));
    }
  });
});

describe('offline mode: -f <file> (Mosquitto 2.1)', () => {
  test('setClientPassword replaces password/salt/iterations by encoded_password', async () => {
    const file = await initFile('offline.json');
    const result = await ours(['-f', file, 'dynsec', 'setClientPassword', 'admin', 'newpw']);
    assert.deepEqual([result.stdout.toString(), result.stderr, result.code], ['', '', 0]);
    const tree = JSON.parse(readFileSync(file, 'utf8')) as {
      clients: Record<string, unknown>[];
    };
    const client = tree.clients[0] ?? {};
    assert.deepEqual(Object.keys(client), ['username', 'textName', 'roles', 'encoded_password']);
    const [, type, iterations, salt64, hash64] = String(client.encoded_password).split('$');
    assert.equal(type, '7');
    assert.equal(iterations, '1000');
    const salt = Buffer.from(salt64 ?? '', 'base64');
    assert.equal(salt.length, 64);
    const hash = pbkdf2Sync('newpw', salt, 1000, 64, 'sha512');
    assert.equal(hash.toString('base64'), hash64);

    const again = await ours(['-f', file, 'dynsec', 'setClientPassword', 'admin', 'pw', '-i', '7']);
    assert.equal(again.code, 0);
    const tree2 = JSON.parse(readFileSync(file, 'utf8')) as {
      clients: { encoded_password: string }[];
    };
    assert.match(tree2.clients[0]?.encoded_password ?? '', /^\$7\$7\$/);
  });

  test('errors: unknown client, missing file, not JSON, not a dynsec file, bad arguments', async () => {
    const file = await initFile('offline-errors.json');
    const cases: readonly (readonly [readonly string[], string, number])[] = [
      [
        ['-f', file, 'dynsec', 'setClientPassword', 'nobody', 'x'],
        'Error: Client nobody not found.\n',
        0,
      ],
      [
        ['-f', join(dir, 'missing.json'), 'dynsec', 'setClientPassword', 'a', 'b'],
        `Error: Unable to open ${join(dir, 'missing.json')}.\nError: Invalid arguments provided.\n`,
        3,
      ],
      [
        ['-f', file, 'dynsec', 'setClientPassword', 'admin', 'x', '-i'],
        'Error: -i argument given, but no iterations provided.\nError: Invalid arguments provided.\n',
        3,
      ],
      [
        ['-f', file, 'dynsec', 'setClientPassword', 'admin', 'x', '-z'],
        'Error: Unknown argument: -z\nError: Invalid arguments provided.\n',
        3,
      ],
      [
        ['-f', file, 'dynsec', 'setClientPassword', 'admin'],
        'Error: Invalid arguments provided.\n',
        3,
      ],
      // As in 2.1.2: other commands have no offline form and do nothing.
      [['-f', file, 'dynsec', 'listClients'], '', 0],
      [['-f'], 'Error: -f argument given but no data file specified.\n\n', 1],
    ];
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{nope');
    const notDynsec = join(dir, 'other.json');
    writeFileSync(notDynsec, '{"clients":3}');
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, '');
    const more: readonly (readonly [readonly string[], string, number])[] = [
      [
        ['-f', notJson, 'dynsec', 'setClientPassword', 'a', 'b'],
        `Error: ${notJson} is not valid JSON.\nError: Invalid arguments provided.\n`,
        3,
      ],
      [
        ['-f', notDynsec, 'dynsec', 'setClientPassword', 'a', 'b'],
        `Error: ${notDynsec} is not a valid dynamic-security config file.\nError: Invalid arguments provided.\n`,
        3,
      ],
      [
        ['-f', empty, 'dynsec', 'setClientPassword', 'a', 'b'],
        `Error: ${empty} is empty.\nError: Invalid arguments provided.\n`,
        3,
      ],
    ];
    const before = readFileSync(file, 'utf8');
    for (const [args, stderr, code] of [...cases, ...more]) {
      const result = await ours(args);
      assert.equal(result.stderr, stderr, args.join(' '));
      assert.equal(result.code, code, args.join(' '));
    }
    assert.equal(readFileSync(file, 'utf8'), before);
  });
});

describe('against Mosquitto 2.1.2: broker module, offline file', referenceSkip('2.1.2'), () => {
  let broker: RunningBroker | undefined;
  let file = '';

  before(async () => {
    file = await initFile('for-212.json', 'first');
    const edited = await ours(['-f', file, 'dynsec', 'setClientPassword', 'admin', 'adminpw']);
    assert.equal(edited.code, 0, edited.stderr);
    broker = await startReferenceBroker('2.1.2', readFileSync(file, 'utf8'));
  });

  after(async () => {
    await broker?.stop();
  });

  test('its plugin loads our offline-edited file and accepts the new password', async () => {
    const result = await ours([...connection(broker), 'dynsec', 'listClients']);
    assert.equal(result.stdout.toString(), 'admin\n');
    assert.equal(result.code, 0);
  });

  test('the same file as its own -f edit, apart from the hash', async () => {
    const theirs = join(dir, 'for-212-theirs.json');
    writeFileSync(theirs, readFileSync(await initFile('for-212-base.json'), 'utf8'));
    const ourCopy = join(dir, 'for-212-ours.json');
    writeFileSync(ourCopy, readFileSync(theirs));
    const [a, b] = await Promise.all([
      ours(['-f', ourCopy, 'dynsec', 'setClientPassword', 'admin', 'x']),
      reference('2.1.2', ['-f', theirs, 'dynsec', 'setClientPassword', 'admin', 'x']),
    ]);
    assertSame(a, b, 'setClientPassword -f');
    const mask = (text: string): string => text.replace(/\$7\$1000\$[^"]*/, '<hash>');
    assert.equal(mask(readFileSync(ourCopy, 'utf8')), mask(readFileSync(theirs, 'utf8')));
  });

  for (const command of ['listPlugins', 'listListeners', 'help', 'nonsense']) {
    test(`broker ${command}: the same output as its mosquitto_ctrl`, async () => {
      const args = [...connection(broker), 'broker', command];
      const [a, b] = await Promise.all([ours(args), reference('2.1.2', args)]);
      if (command === 'nonsense') {
        // 2.1's main no longer prints "Error: ..." for MOSQ_ERR_UNKNOWN either: same text.
        assert.equal(a.stderr, b.stderr);
        assert.equal(a.code, b.code);
        return;
      }
      assertSame(a, b, `broker ${command}`);
    });
  }
});

describe('against Mosquitto 2.0.22: every dynsec command', referenceSkip('2.0.22'), () => {
  const brokers: { ours?: RunningBroker; ref?: RunningBroker } = {};

  before(async () => {
    const text = readFileSync(await initFile('for-2022.json'), 'utf8');
    const [a, b] = await Promise.all([
      startReferenceBroker('2.0.22', text),
      startReferenceBroker('2.0.22', text),
    ]);
    brokers.ours = a;
    brokers.ref = b;
  });

  after(async () => {
    await Promise.all([brokers.ours?.stop(), brokers.ref?.stop()]);
  });

  const steps: readonly (readonly string[])[] = [
    ['help'],
    ['createClient', 'alice', '-i', 'aliceid', '-p', 'pw'],
    ['createClient', 'bob', '-c', 'bobid'],
    ['createClient', 'carol', '-i'],
    ['getClient', 'alice'],
    ['getClient', 'bob'],
    ['setDefaultACLAccess', 'publishClientSend', 'allow'],
    ['setDefaultACLAccess', 'SUBSCRIBE', 'Deny'],
    ['setDefaultACLAccess', 'unsubscribe', 'never'],
    ['getDefaultACLAccess'],
    ['createRole', 'r'],
    ['addRoleACL', 'r', 'unsubscribeLiteral', 'x/y', 'allow', '4'],
    ['addRoleACL', 'r', 'unsubscribePattern', 'x/#', 'deny'],
    ['removeRoleACL', 'r', 'unsubscribeLiteral', 'x/y'],
    ['getRole', 'r'],
    ['createGroup', 'g'],
    ['addGroupClient', 'g', 'alice', '9'],
    ['addgroupclient', 'g', 'bob'],
    ['addGroupRole', 'g', 'r'],
    ['getGroup', 'g'],
    ['listGroups'],
    ['listClients'],
    ['setAnonymousGroup', 'g'],
    ['getAnonymousGroup'],
    ['removeGroupClient', 'g', 'alice'],
    ['deleteGroup', 'g'],
    ['deleteRole', 'r'],
    ['disableClient', 'alice'],
    ['getClient', 'alice'],
    ['deleteClient', 'alice'],
    ['setClientPassword', 'bob'],
    ['nothing'],
  ];

  test('step by step, byte for byte', async () => {
    for (const step of steps) {
      const [a, b] = await Promise.all([
        ours([...connection(brokers.ours), 'dynsec', ...step], 'secret\nsecret\n'),
        reference('2.0.22', [...connection(brokers.ref), 'dynsec', ...step], 'secret\nsecret\n'),
      ]);
      // The reference build runs on Debian's libmosquitto 2.0.11: its strerror texts.
      const version = (text: string): string =>
        text
          .replace(/libmosquitto 2\.0\.\d+/, 'libmosquitto 2.0.x')
          .replace('Invalid function arguments provided.', 'Invalid arguments provided.');
      assert.equal(
        version(a.stdout.toString()),
        version(b.stdout.toString()),
        `${step.join(' ')}: stdout`,
      );
      assert.equal(version(a.stderr), version(b.stderr), `${step.join(' ')}: stderr`);
      assert.equal(a.code, b.code, `${step.join(' ')}: exit status`);
    }
  });

  test('options file (-o): one "-option value" per line, the value one word', async () => {
    const run = async (which: 'ours' | 'ref', broker: RunningBroker | undefined) => {
      const file = join(dir, `options-${which}`);
      writeFileSync(
        file,
        `# comment\n-h 127.0.0.1\n-p  ${String(broker?.port ?? 0)} ignored\n-u admin\n-P adminpw\n`,
      );
      const args = ['-o', file, 'dynsec', 'getClient', 'admin'];
      return which === 'ours' ? ours(args) : reference('2.0.22', args);
    };
    const [a, b] = await Promise.all([run('ours', brokers.ours), run('ref', brokers.ref)]);
    assertSame(a, b, 'options file');
    assert.match(a.stdout.toString(), /^Username: admin\n/);
  });

  test('a client created with a prompted password can log in', async () => {
    for (const [impl, broker] of [
      ['ours', brokers.ours],
      ['ref', brokers.ref],
    ] as const) {
      const run =
        impl === 'ours' ? ours : (a: readonly string[], i?: string) => reference('2.0.22', a, i);
      const created = await run(
        [...connection(broker), 'dynsec', 'createClient', 'dan'],
        'dpw\ndpw\n',
      );
      assert.equal(created.code, 0, created.stderr);
      await run([...connection(broker), 'dynsec', 'addClientRole', 'dan', 'admin']);
      const login = await run([
        '-p',
        String(broker?.port ?? 0),
        '-u',
        'dan',
        '-P',
        'dpw',
        'dynsec',
        'listRoles',
      ]);
      assert.equal(login.stdout.toString(), 'admin\n', `${impl}: ${login.stderr}`);
    }
  });
});
