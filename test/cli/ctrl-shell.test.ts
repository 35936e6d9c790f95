/**
 * mosquitto_ctrl's interactive shell (Mosquitto 2.1), driven through piped stdin
 * (`mosquitto_ctrl [options] shell`) against our broker with dynamic security. The
 * expected transcripts are what Mosquitto 2.1.2's shell prints for the same lines on a
 * terminal, colours and carriage returns taken out (checked with a pty driver, see README;
 * 2.1.2 itself cannot read commands from a pipe), except for the spurious "Timed out with
 * no response." lines its racy waits print.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Words } from '../../src/cli/ctrl-shell-module.ts';
import { trackTempDir } from '../helpers/children.ts';
import { ourBroker, startBrokerProcess, type RunningBroker } from '../helpers/process.ts';
import { referenceProgram, referenceSkipMessage } from '../helpers/real-db.ts';
import { runTool, type ToolResult } from './tool-process.ts';

const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-ctrl-shell-')));

function shell(args: readonly string[], lines: readonly string[]): Promise<ToolResult> {
  return runTool('ours', 'mosquitto_ctrl', [...args, 'shell'], {
    input: lines.map((line) => `${line}\n`).join(''),
    timeoutMs: 20_000,
    env: { ...process.env, XDG_CONFIG_HOME: dir },
  });
}

describe('shell words (strtok_r on spaces)', () => {
  test('runs of spaces separate words, tabs do not; rest() is the text after one space', () => {
    const words = new Words('  modifyClient  alice textName  Alice\tSmith ');
    assert.equal(words.next(), 'modifyClient');
    assert.equal(words.next(), 'alice');
    assert.equal(words.next(), 'textName');
    assert.equal(words.rest(), ' Alice\tSmith ');
    const last = new Words('a b');
    assert.equal(last.next(), 'a');
    assert.equal(last.next(), 'b');
    assert.equal(last.rest(), '');
    assert.equal(last.next(), null);
  });
});

describe('mosquitto_ctrl shell without a broker', () => {
  test('pre-connect help, unknown commands, usage of connect, end of input', async () => {
    const result = await shell(
      [],
      ['help auth', 'help exit', 'help nosuch', 'disconnect', 'return', 'connect mqtt://', ''],
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout.toString(),
      'mosquitto_ctrl shell v2.1.2\n' +
        '> help auth\nauth [username]\n\nSet a username and password prior to connecting to a broker.\n' +
        '> help exit\nexit\n\nQuit the program\n' +
        "> help nosuch\nUnknown command 'nosuch'\n" +
        "> disconnect\nUnknown command 'disconnect'\n" +
        "> return\nUnknown command 'return'\n" +
        '> connect mqtt://\nconnect mqtt[s]://<hostname>:port\n' +
        '> \n> \n',
    );
  });

  test('a refused connection: the 2.1 texts, and the shell stays before connection', async () => {
    const result = await shell([], ['connect mqtt://127.0.0.1:1', 'exit']);
    assert.equal(
      result.stdout.toString(),
      'mosquitto_ctrl shell v2.1.2\n> connect mqtt://127.0.0.1:1\n' +
        'Timed out with no response.\nUnable to connect: Unknown reason\n> exit\n\n',
    );
  });

  test('without a terminal and without `shell`, no module still prints the usage', async () => {
    const result = await runTool('ours', 'mosquitto_ctrl', ['-h', '127.0.0.1'], { input: '' });
    assert.equal(result.code, 1);
    assert.match(result.stdout.toString(), /^mosquitto_ctrl is a tool for administering/);
  });
});

describe('mosquitto_ctrl shell against our broker with dynamic security', () => {
  let broker: RunningBroker;
  const options = (password = 'adminpw'): string[] => [
    '-h',
    '127.0.0.1',
    '-p',
    String(broker.port),
    '-u',
    'admin',
    '-P',
    password,
  ];

  before(async () => {
    const file = join(dir, 'dynsec.json');
    const init = await runTool('ours', 'mosquitto_ctrl', [
      'dynsec',
      'init',
      file,
      'admin',
      'adminpw',
    ]);
    assert.equal(init.code, 0, init.stderr);
    broker = await ourBroker.start({
      allowAnonymous: false,
      config: [
        'plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
        'plugin_opt_config_file {dir}/dynsec.json',
      ],
      files: { 'dynsec.json': readFileSync(file, 'utf8') },
    });
  });
  after(async () => {
    await broker.stop();
  });

  test('options on the command line connect at once; a refusal ends the shell', async () => {
    const result = await shell(options('wrong'), ['help']);
    assert.equal(result.code, 0);
    assert.equal(
      result.stdout.toString(),
      'mosquitto_ctrl shell v2.1.2\nUnable to connect: Not authorized\n',
    );
  });

  test('auth, connect, dynsec commands, help, return, broker, disconnect', async () => {
    const port = String(broker.port);
    const url = `mqtt://127.0.0.1:${port}`;
    const result = await shell(
      [],
      [
        'auth',
        'admin',
        'adminpw',
        `connect ${url}`,
        'help return',
        'dynsec',
        'createClient alice alicepw',
        'createClient alice alicepw',
        'createClient bob',
        'bobpw',
        'bobpw',
        'createClient carol',
        'x',
        'y',
        'createGroup g1',
        'createRole r1',
        'addRoleACL r1 publishClientSend allow 5 a/b',
        'addRoleACL r1 subscribePattern deny c/#',
        'addRoleACL r1 bad allow t',
        'addRoleACL r1 publishClientSend maybe t',
        'addGroupRole g1 r1',
        'addGroupClient g1 alice',
        'addClientRole alice r1',
        'modifyClient alice textName Alice Smith',
        'modifyRole r1 allowWildcardSubs false',
        'modifyRole r1 allowWildcardSubs maybe',
        'modifyRole r1 nope x',
        'getClient alice',
        'getGroup g1',
        'getRole r1',
        'getDetails',
        'getDefaultACLAccess',
        'setDefaultACLAccess subscribe allow',
        'setDefaultACLAccess bogus allow',
        'getAnonymousGroup',
        'LISTCLIENTS',
        'listRoles 1 1',
        'deleteClient nosuch',
        'getClient',
        'setClientId alice',
        'help setClientId',
        'help nosuch',
        'return',
        'broker',
        'help listPlugins',
        'disconnect',
        'exit',
      ],
    );
    assert.equal(result.code, 0, result.stderr);
    const dynsec = `${url}|dynsec> `;
    const expected =
      'mosquitto_ctrl shell v2.1.2\n' +
      '> auth\nusername: admin\npassword:\n' +
      `> connect ${url}\n` +
      `${url}> help return\nUnknown command 'return'\n` +
      `${url}> dynsec\n` +
      `${dynsec}createClient alice alicepw\nOK\n` +
      `${dynsec}createClient alice alicepw\nClient already exists\n` +
      `${dynsec}createClient bob\npassword:\npassword:\nOK\n` +
      `${dynsec}createClient carol\npassword:\npassword:\nPasswords do not match.\n` +
      `${dynsec}createGroup g1\nOK\n` +
      `${dynsec}createRole r1\nOK\n` +
      `${dynsec}addRoleACL r1 publishClientSend allow 5 a/b\nOK\n` +
      `${dynsec}addRoleACL r1 subscribePattern deny c/#\nOK\n` +
      `${dynsec}addRoleACL r1 bad allow t\n` +
      "addRoleACL rolename acltype allow|deny [priority] topic\nInvalid acltype 'bad'\n" +
      `${dynsec}addRoleACL r1 publishClientSend maybe t\n` +
      "addRoleACL rolename acltype allow|deny [priority] topic\nInvalid allow/deny 'maybe'\n" +
      `${dynsec}addGroupRole g1 r1\nOK\n` +
      `${dynsec}addGroupClient g1 alice\nOK\n` +
      `${dynsec}addClientRole alice r1\nOK\n` +
      `${dynsec}modifyClient alice textName Alice Smith\nOK\n` +
      `${dynsec}modifyRole r1 allowWildcardSubs false\nOK\n` +
      `${dynsec}modifyRole r1 allowWildcardSubs maybe\n` +
      "modifyRole rolename <property> <value>\nInvalid value 'maybe'\n" +
      `${dynsec}modifyRole r1 nope x\n` +
      "modifyRole rolename <property> <value>\nUnknown property 'nope'\n" +
      `${dynsec}getClient alice\n` +
      'Username:\n  alice\nText name:\n  Alice Smith\nRoles:\n  r1 (priority: -1)\n' +
      'Groups:\n  g1 (priority: -1)\n' +
      `${dynsec}getGroup g1\n` +
      'Group name:\n  g1\nRoles:\n  r1 (priority: -1)\nClients:\n  alice\n' +
      `${dynsec}getRole r1\n` +
      'Role name:\n  r1\nAllow wildcard subscriptions:\n  false\nACLs:\n' +
      '  publishClientSend    allow a/b (priority 5)\n' +
      '  subscribePattern     deny c/# (priority -1)\n' +
      `${dynsec}getDetails\n` +
      'Client count:   3\nGroup count:    1\nRole count:     2\nChange index:   11\n' +
      `${dynsec}getDefaultACLAccess\n` +
      'publishClientSend    deny\npublishClientReceive allow\nsubscribe            deny\n' +
      'unsubscribe          allow\n' +
      `${dynsec}setDefaultACLAccess subscribe allow\nOK\n` +
      `${dynsec}setDefaultACLAccess bogus allow\nsetDefaultACLAccess acltype allow|deny\n` +
      `${dynsec}getAnonymousGroup\n\n` +
      `${dynsec}LISTCLIENTS\nadmin\nalice\nbob\n` +
      `${dynsec}listRoles 1 1\nr1\n` +
      `${dynsec}deleteClient nosuch\nClient not found\n` +
      `${dynsec}getClient\ngetClient username\n` +
      `${dynsec}setClientId alice\nsetClientId username clientid\n` +
      `${dynsec}help setClientId\nsetClientId <username>\nsetClientId <username> <clientid>\n\n` +
      'Sets or clears the clientid associated with a client. If a client has a clientid, all ' +
      'three of username, password, and clientid must match for a client to be able to authenticate.\n' +
      `${dynsec}help nosuch\nUnknown command 'nosuch'\n` +
      `${dynsec}return\n` +
      `${url}> broker\n` +
      // Our broker has no $CONTROL/broker/v1 (2.1's enable_control_api): admin may not publish.
      `${url}|broker> help listPlugins\nlistPlugins\n\nLists currently loaded plugins.\n` +
      `${url}|broker> disconnect\n` +
      '> exit\n\n';
    assert.equal(result.stdout.toString(), expected);
  });

  test('broker mode: a refused publish is reported', async () => {
    const result = await shell(options(), ['broker', 'listListeners', 'exit']);
    const url = `mqtt://127.0.0.1:${String(broker.port)}`;
    assert.equal(
      result.stdout.toString(),
      `mosquitto_ctrl shell v2.1.2\n${url}> broker\n${url}|broker> listListeners\n` +
        'Publish failed, check you have permission to access this module.\n' +
        `${url}|broker> exit\n\n`,
    );
  });
});

const broker212 = referenceProgram('2.1.2', 'mosquitto');

describe(
  'mosquitto_ctrl shell against Mosquitto 2.1.2 (broker mode)',
  broker212 === null ? { skip: referenceSkipMessage('2.1.2', 'mosquitto') } : {},
  () => {
    test('listPlugins and listListeners in the shell layout', async () => {
      const file = join(dir, 'dynsec-212.json');
      const init = await runTool('ours', 'mosquitto_ctrl', ['dynsec', 'init', file, 'admin', 'pw']);
      assert.equal(init.code, 0, init.stderr);
      const broker = await startBrokerProcess(
        {
          kind: 'mosquitto',
          label: 'mosquitto 2.1.2',
          command: broker212 ?? '',
          args: (configPath) => ['-c', configPath],
          preamble: process.getuid?.() === 0 ? ['user root'] : [],
        },
        {
          allowAnonymous: false,
          config: [
            'enable_control_api true',
            'plugin /work/ref/m212/so/mosquitto_dynamic_security.so',
            'plugin_opt_config_file {dir}/dynsec.json',
          ],
          files: { 'dynsec.json': readFileSync(file, 'utf8') },
        },
      );
      try {
        const url = `mqtt://127.0.0.1:${String(broker.port)}`;
        const args = ['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'admin', '-P', 'pw'];
        const grant = await shell(args, [
          'dynsec',
          'createRole brk',
          'addRoleACL brk publishClientSend allow $CONTROL/broker/#',
          'addRoleACL brk subscribePattern allow $CONTROL/broker/#',
          'addRoleACL brk publishClientReceive allow $CONTROL/broker/#',
          'addClientRole admin brk',
        ]);
        assert.equal(grant.stdout.toString().split('OK\n').length, 6, grant.stdout.toString());
        const result = await shell(args, ['broker', 'listPlugins', 'listListeners', 'exit']);
        assert.equal(
          result.stdout.toString(),
          `mosquitto_ctrl shell v2.1.2\n${url}> broker\n${url}|broker> listPlugins\n` +
            'Plugin:\n  dynamic-security\nControl endpoints:\n  $CONTROL/dynamic-security/v1\n\n' +
            `${url}|broker> listListeners\n` +
            `Listener:\n  Port:\n    ${String(broker.port)}\n  Protocol:\n    mqtt\n  TLS:\n    false\n\n` +
            `${url}|broker> exit\n\n`,
        );
      } finally {
        await broker.stop();
      }
    });
  },
);
