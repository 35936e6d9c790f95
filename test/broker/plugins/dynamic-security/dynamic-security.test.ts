/**
 * Unit tests of the dynamic security module: every command's answers and errors (the texts
 * of Mosquitto 2.0.22's plugin), ACL evaluation order, authentication, the file, reload,
 * 2.1's additions and robustness against malformed requests.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pbkdf2Sync } from 'node:crypto';
import fc from 'fast-check';
import {
  DynamicSecurity,
  DynsecConfigError,
} from '../../../../src/broker/plugins/dynamic-security/index.ts';
import {
  aclMatchesFilter,
  aclMatchesTopic,
} from '../../../../src/broker/plugins/dynamic-security/acl-match.ts';

interface Logged {
  info: string[];
  warning: string[];
  error: string[];
}
function logger(): Logged & {
  info: string[];
} {
  return { info: [], warning: [], error: [] };
}
function sink(l: Logged): {
  info(s: string): void;
  warning(s: string): void;
  error(s: string): void;
} {
  return {
    info: (s) => l.info.push(s),
    warning: (s) => l.warning.push(s),
    error: (s) => l.error.push(s),
  };
}

const EMPTY = JSON.stringify({ clients: [], groups: [], roles: [] });

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dynsec-unit-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function open(text: string = EMPTY): { ds: DynamicSecurity; file: string; log: Logged } {
  const file = join(dir, 'dynsec.json');
  writeFileSync(file, text);
  const log = logger();
  return { ds: DynamicSecurity.open({ configFile: file }, sink(log)), file, log };
}

type Resp = Record<string, unknown>;
function run(ds: DynamicSecurity, ...commands: unknown[]): Resp[] {
  const out = ds.handleControl('admin-c', 'admin', Buffer.from(JSON.stringify({ commands })));
  return (JSON.parse(out.response.toString()) as { responses: Resp[] }).responses;
}
function errors(ds: DynamicSecurity, ...commands: unknown[]): (string | undefined)[] {
  return run(ds, ...commands).map((r) => r.error as string | undefined);
}

describe('request framing', () => {
  test('malformed payloads get Mosquitto’s error responses', () => {
    const { ds } = open();
    const raw = (p: string): string =>
      ds.handleControl('c', 'u', Buffer.from(p)).response.toString();
    assert.equal(
      raw('nope'),
      '{"responses":[{"command":"Unknown command","error":"Payload not valid JSON"}]}',
    );
    assert.equal(
      raw('{}'),
      '{"responses":[{"command":"Unknown command","error":"Invalid/missing commands"}]}',
    );
    assert.equal(
      raw('[1]'),
      '{"responses":[{"command":"Unknown command","error":"Invalid/missing commands"}]}',
    );
    assert.equal(
      raw('{"commands":[1,{},{"command":"x","correlationData":"k"}]}'),
      '{"responses":[{"command":"Unknown command","error":"Command not an object"},{"command":"Unknown command","error":"Missing command"},{"command":"x","error":"Unknown command","correlationData":"k"}]}',
    );
  });

  test('a non-string correlationData stops the batch', () => {
    const { ds } = open();
    assert.deepEqual(
      run(ds, { command: 'listRoles', correlationData: 3 }, { command: 'listRoles' }),
      [{ command: 'listRoles', error: 'Invalid correlationData data type.' }],
    );
  });

  test('keys are matched ignoring case, as cJSON_GetObjectItem does', () => {
    const { ds } = open();
    assert.deepEqual(errors(ds, { Command: 'createRole', RoleName: 'r', TextName: 't' }), [
      undefined,
    ]);
    assert.deepEqual(run(ds, { command: 'getRole', rolename: 'r' })[0]?.data, {
      role: { rolename: 'r', textname: 't', acls: [] },
    });
  });

  test('command names are matched ignoring case; replies use the plugin’s spelling', () => {
    const { ds } = open();
    assert.deepEqual(
      run(ds, { command: 'CREATEROLE', rolename: 'r' }, { command: 'getrole', rolename: 'x' }),
      [{ command: 'createRole' }, { command: 'getRole', error: 'Role not found' }],
    );
  });

  test('2.1: getDetails counts and the change index', () => {
    const { ds } = open(JSON.stringify({ changeIndex: 40, roles: [{ rolename: 'r' }] }));
    run(ds, { command: 'createClient', username: 'u' }, { command: 'getClient', username: 'u' });
    assert.deepEqual(run(ds, { command: 'getDetails' })[0]?.data, {
      clientCount: 1,
      groupCount: 0,
      roleCount: 1,
      changeIndex: 41,
    });
  });

  test('strings that are not UTF-8: the plugin’s "... not valid UTF-8" errors', () => {
    const { ds } = open();
    const payload = Buffer.concat([
      Buffer.from('{"commands":[{"command":"createClient","username":"a'),
      Buffer.from([0xff]),
      Buffer.from('"},{"command":"createRole","rolename":"'),
      Buffer.from([0xc3]),
      Buffer.from('"},{"command":"createClient","username":"ok","clientid":"'),
      Buffer.from([0xfe]),
      Buffer.from('"},{"command":"deleteClient","username":"'),
      Buffer.from([0xff]),
      Buffer.from('"},{"command":"createRole","rolename":"r"},'),
      Buffer.from('{"command":"addRoleACL","rolename":"r","acltype":"publishClientSend","topic":"'),
      Buffer.from([0xff]),
      Buffer.from('"}]}'),
    ]);
    const out = JSON.parse(ds.handleControl('c', 'u', payload).response.toString()) as {
      responses: Resp[];
    };
    assert.deepEqual(
      out.responses.map((r) => r.error),
      [
        'Username not valid UTF-8',
        'Role name not valid UTF-8',
        'Client ID not valid UTF-8',
        'Client not found', // deleteClient does not check
        undefined,
        'Topic not valid UTF-8',
      ],
    );
  });

  test('random and huge payloads never throw and always answer JSON', () => {
    const { ds } = open();
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string(), fc.uint8Array()), (p) => {
        const payload = typeof p === 'string' ? Buffer.from(p) : Buffer.from(p);
        const out = ds.handleControl('c', 'u', payload);
        assert.ok(Array.isArray((JSON.parse(out.response.toString()) as Resp).responses));
      }),
      { numRuns: 300 },
    );
    const commands = Array.from({ length: 20000 }, (_, i) => ({
      command: i % 2 === 0 ? 'createRole' : 'getRole',
      rolename: 5,
      acls: { x: i },
    }));
    const out = ds.handleControl('c', 'u', Buffer.from(JSON.stringify({ commands })));
    assert.equal(
      (JSON.parse(out.response.toString()) as { responses: Resp[] }).responses.length,
      20000,
    );
    const deep = '{"commands":' + '['.repeat(100000) + ']'.repeat(100000) + '}';
    assert.ok(ds.handleControl('c', 'u', Buffer.from(deep)).response.length > 0);
  });
});

describe('commands', () => {
  test('clients: create, get, list, modify, password, id, enable/disable, delete', async () => {
    const { ds } = open();
    assert.deepEqual(
      errors(
        ds,
        { command: 'createRole', rolename: 'r' },
        { command: 'createGroup', groupname: 'g' },
        {
          command: 'createClient',
          username: 'u',
          password: 'p',
          clientid: 'cid',
          textname: 'T',
          textdescription: 'D',
          roles: [{ rolename: 'r', priority: 2 }],
          groups: [{ groupname: 'g', priority: 1 }],
        },
        { command: 'createClient', username: 'u' },
        { command: 'createClient' },
        { command: 'createClient', username: 'v', password: 1 },
        { command: 'createClient', username: 'v', clientid: 1 },
        { command: 'createClient', username: 'v', textname: 1 },
        { command: 'createClient', username: 'v', textdescription: 1 },
        { command: 'createClient', username: 'v', roles: [{ rolename: 'nx' }] },
        { command: 'createClient', username: 'v', roles: 1 },
        { command: 'createClient', username: 'v', groups: [{ groupname: 'nx' }] },
      ),
      [
        undefined,
        undefined,
        undefined,
        'Client already exists',
        'Invalid/missing username',
        'Invalid/missing password',
        'Invalid/missing client id',
        'Invalid/missing textname',
        'Invalid/missing textdescription',
        'Role not found',
        "'roles' not an array or missing/invalid rolename",
        'Group not found',
      ],
    );
    assert.deepEqual(run(ds, { command: 'getClient', username: 'u', correlationData: 'x' })[0], {
      command: 'getClient',
      data: {
        client: {
          username: 'u',
          clientid: 'cid',
          textname: 'T',
          textdescription: 'D',
          roles: [{ rolename: 'r', priority: 2 }],
          groups: [{ groupname: 'g', priority: 1 }],
        },
      },
      correlationData: 'x',
    });
    assert.equal(await ds.authenticate('cid', 'u', Buffer.from('p')), 'allow');
    assert.equal(await ds.authenticate('other', 'u', Buffer.from('p')), 'deny');
    assert.equal(await ds.authenticate('cid', 'u', Buffer.from('q')), 'deny');
    const r = ds.handleControl(
      'c',
      'a',
      Buffer.from(
        JSON.stringify({
          commands: [
            { command: 'setClientId', username: 'u' },
            { command: 'setClientPassword', username: 'u', password: 'p2' },
            { command: 'setClientPassword', username: 'u', password: '' },
            { command: 'setClientPassword', username: 'nx', password: 'x' },
            { command: 'disableClient', username: 'u' },
          ],
        }),
      ),
    );
    assert.deepEqual(
      (JSON.parse(r.response.toString()) as { responses: Resp[] }).responses.map((x) => x.error),
      [undefined, undefined, 'Empty password is not allowed', 'Client not found', undefined],
    );
    assert.deepEqual(r.kick, [{ username: 'u' }, { username: 'u' }, { username: 'u' }]);
    assert.equal(await ds.authenticate('any', 'u', Buffer.from('p2')), 'deny');
    run(ds, { command: 'enableClient', username: 'u' });
    assert.equal(await ds.authenticate('any', 'u', Buffer.from('p2')), 'allow');
    assert.deepEqual(run(ds, { command: 'listClients' })[0]?.data, {
      totalCount: 1,
      clients: ['u'],
    });
    assert.deepEqual(
      errors(
        ds,
        {
          command: 'modifyClient',
          username: 'u',
          groups: [{ groupname: 'nx' }],
          textname: 'changed',
        },
        { command: 'modifyClient', username: 'u', groups: [{}] },
        { command: 'modifyClient', username: 'nx' },
        { command: 'modifyClient', username: 'u', textname: 'N', roles: [], groups: [] },
      ),
      [
        "'groups' contains an object with a 'groupname' that does not exist",
        "'groups' contains an object with an invalid 'groupname'",
        'Client not found',
        undefined,
      ],
    );
    assert.deepEqual(run(ds, { command: 'getClient', username: 'u' })[0]?.data, {
      client: { username: 'u', textname: 'N', textdescription: 'D', roles: [], groups: [] },
    });
    const del = ds.handleControl(
      'c',
      'a',
      Buffer.from(
        '{"commands":[{"command":"deleteClient","username":"u"},{"command":"deleteClient","username":"u"}]}',
      ),
    );
    assert.equal(
      del.response.toString(),
      '{"responses":[{"command":"deleteClient"},{"command":"deleteClient","error":"Client not found"}]}',
    );
    assert.deepEqual(del.kick, [{ username: 'u' }]);
    assert.equal(await ds.authenticate('any', 'u', Buffer.from('p2')), 'defer');
  });

  test('client roles: add/remove, duplicate add is an internal error as in the plugin', () => {
    const { ds } = open();
    run(ds, { command: 'createRole', rolename: 'r' }, { command: 'createClient', username: 'u' });
    assert.deepEqual(
      errors(
        ds,
        { command: 'addClientRole', username: 'u', rolename: 'r', priority: 3 },
        { command: 'addClientRole', username: 'u', rolename: 'r' },
        { command: 'addClientRole', username: 'u', rolename: 'nx' },
        { command: 'addClientRole', username: 'nx', rolename: 'r' },
        { command: 'addClientRole', username: 'u' },
        { command: 'removeClientRole', username: 'u', rolename: 'r' },
        { command: 'removeClientRole', username: 'u', rolename: 'nx' },
        { command: 'removeClientRole', username: 'nx', rolename: 'r' },
      ),
      [
        undefined,
        'Internal error',
        'Role not found',
        'Client not found',
        'Invalid/missing rolename',
        undefined,
        'Role not found',
        'Client not found',
      ],
    );
  });

  test('groups: create, members, roles, modify, anonymous group, delete', () => {
    const { ds } = open();
    run(
      ds,
      { command: 'createRole', rolename: 'r' },
      { command: 'createClient', username: 'u' },
      { command: 'createClient', username: 'w' },
    );
    assert.deepEqual(
      errors(
        ds,
        {
          command: 'createGroup',
          groupname: 'g',
          textname: 'G',
          roles: [{ rolename: 'r', priority: 1 }],
        },
        { command: 'createGroup', groupname: 'g' },
        { command: 'createGroup', groupname: 'h', roles: [{ rolename: 'nx' }] },
        { command: 'addGroupClient', groupname: 'g', username: 'u', priority: 4 },
        { command: 'addGroupClient', groupname: 'g', username: 'u' },
        { command: 'addGroupClient', groupname: 'nx', username: 'u' },
        { command: 'addGroupClient', groupname: 'g', username: 'nx' },
        { command: 'addGroupRole', groupname: 'g', rolename: 'r' },
        { command: 'removeGroupRole', groupname: 'g', rolename: 'r' },
        { command: 'removeGroupRole', groupname: 'g', rolename: 'nx' },
        { command: 'modifyGroup', groupname: 'g', clients: [{ username: 'nx' }] },
        { command: 'modifyGroup', groupname: 'g', clients: [{ priority: 1 }] },
        { command: 'modifyGroup', groupname: 'nx' },
      ),
      [
        undefined,
        'Group already exists',
        'Role not found',
        undefined,
        'Client is already in this group',
        'Group not found',
        'Client not found',
        'Group is already in this role',
        undefined,
        'Role not found',
        "'clients' contains an object with a 'username' that does not exist",
        "'clients' contains an object with an invalid 'username'",
        'Group not found',
      ],
    );
    const mod = ds.handleControl(
      'c',
      'a',
      Buffer.from(
        JSON.stringify({
          commands: [
            {
              command: 'modifyGroup',
              groupname: 'g',
              textdescription: 'D',
              clients: [{ username: 'w', priority: 2 }],
            },
          ],
        }),
      ),
    );
    // The old members, then the new ones, are kicked.
    assert.deepEqual(mod.kick, [{ username: 'u' }, { username: 'w' }]);
    assert.deepEqual(run(ds, { command: 'getGroup', groupname: 'g' })[0]?.data, {
      group: {
        groupname: 'g',
        textname: 'G',
        textdescription: 'D',
        clients: [{ username: 'w' }],
        roles: [],
      },
    });
    assert.deepEqual(run(ds, { command: 'getAnonymousGroup' })[0]?.data, {
      group: { groupname: '' },
    });
    const anon = ds.handleControl(
      'c',
      'a',
      Buffer.from('{"commands":[{"command":"setAnonymousGroup","groupname":"g"}]}'),
    );
    assert.deepEqual(anon.kick, [{}]);
    assert.deepEqual(
      errors(
        ds,
        { command: 'setAnonymousGroup', groupname: 'nx' },
        { command: 'deleteGroup', groupname: 'g' },
        { command: 'removeGroupClient', groupname: 'g', username: 'w' },
        { command: 'removeGroupClient', groupname: 'g', username: 'nx' },
        { command: 'removeGroupClient', groupname: 'nx', username: 'w' },
        { command: 'deleteGroup', groupname: 'nx' },
      ),
      [
        'Group not found',
        'Deleting the anonymous group is forbidden',
        undefined,
        'Client not found',
        'Group not found',
        'Group not found',
      ],
    );
    assert.deepEqual(run(ds, { command: 'listGroups', verbose: false })[0]?.data, {
      totalCount: 1,
      groups: ['g'],
    });
  });

  test('roles: create with ACLs, add/remove ACL, modify, list with count/offset, delete', () => {
    const { ds } = open();
    assert.deepEqual(
      errors(
        ds,
        {
          command: 'createRole',
          rolename: 'a',
          acls: [{ acltype: 'subscribePattern', topic: 'x/#', allow: true }],
        },
        { command: 'createRole', rolename: 'b' },
        { command: 'createRole', rolename: 'a' },
        {
          command: 'addRoleACL',
          rolename: 'a',
          acltype: 'publishClientSend',
          topic: 't/#',
          priority: 2,
          allow: true,
        },
        { command: 'addRoleACL', rolename: 'a', acltype: 'publishClientSend', topic: 't/#' },
        { command: 'addRoleACL', rolename: 'a', acltype: 'publishClientSend', topic: 't/#/x' },
        { command: 'addRoleACL', rolename: 'a', acltype: 'publishClientSend' },
        { command: 'addRoleACL', rolename: 'a', acltype: 'subscribe', topic: 't' },
        { command: 'addRoleACL', rolename: 'a' },
        { command: 'addRoleACL', rolename: 'nx', acltype: 'publishClientSend', topic: 't' },
        { command: 'removeRoleACL', rolename: 'a', acltype: 'publishClientSend', topic: 'zz' },
        { command: 'modifyRole', rolename: 'nx' },
        { command: 'modifyRole', rolename: 'b', textname: 'B', textdescription: 'BD' },
      ),
      [
        undefined,
        undefined,
        'Role already exists',
        undefined,
        'ACL with this topic already exists',
        'Invalid ACL topic',
        'Invalid/missing topic',
        'Unknown acltype',
        'Invalid/missing acltype',
        'Role not found',
        'ACL not found',
        'Role does not exist',
        undefined,
      ],
    );
    assert.deepEqual(
      run(ds, { command: 'listRoles', verbose: true, count: 1, offset: 1 })[0]?.data,
      {
        totalCount: 2,
        roles: [{ rolename: 'b', textname: 'B', textdescription: 'BD', acls: [] }],
      },
    );
    assert.deepEqual(run(ds, { command: 'getRole', rolename: 'a' })[0]?.data, {
      role: {
        rolename: 'a',
        acls: [
          { acltype: 'publishClientSend', topic: 't/#', priority: 2, allow: true },
          { acltype: 'subscribePattern', topic: 'x/#', priority: 0, allow: true },
        ],
      },
    });
    run(ds, { command: 'createClient', username: 'u', roles: [{ rolename: 'a' }] });
    const del = ds.handleControl(
      'c',
      'a',
      Buffer.from('{"commands":[{"command":"deleteRole","rolename":"a"}]}'),
    );
    assert.deepEqual(del.kick, [{ username: 'u' }]);
    assert.deepEqual(run(ds, { command: 'getClient', username: 'u' })[0]?.data, {
      client: { username: 'u', roles: [], groups: [] },
    });
  });

  test('default ACL access: set and get', () => {
    const { ds } = open();
    assert.deepEqual(errors(ds, { command: 'setDefaultACLAccess' }), [
      'Missing/invalid actions array',
    ]);
    run(ds, {
      command: 'setDefaultACLAccess',
      acls: [
        { acltype: 'publishClientSend', allow: true },
        { acltype: 'unsubscribe', allow: false },
        { acltype: 'nope', allow: true },
      ],
    });
    assert.deepEqual(run(ds, { command: 'getDefaultACLAccess' })[0]?.data, {
      acls: [
        { acltype: 'publishClientSend', allow: true },
        { acltype: 'publishClientReceive', allow: true },
        { acltype: 'subscribe', allow: false },
        { acltype: 'unsubscribe', allow: false },
      ],
    });
  });
});

describe('ACL evaluation', () => {
  const config = {
    defaultACLAccess: {
      publishClientSend: false,
      publishClientReceive: true,
      subscribe: false,
      unsubscribe: true,
    },
    clients: [
      {
        username: 'u',
        roles: [
          { rolename: 'low', priority: 1 },
          { rolename: 'high', priority: 5 },
        ],
      },
      { username: 'v', roles: [] },
    ],
    groups: [
      {
        groupname: 'g1',
        roles: [{ rolename: 'gdeny' }],
        clients: [{ username: 'v', priority: 1 }],
      },
      {
        groupname: 'g2',
        roles: [{ rolename: 'gallow' }],
        clients: [{ username: 'v', priority: 9 }],
      },
      { groupname: 'anon', roles: [{ rolename: 'anonrole' }], clients: [] },
    ],
    anonymousGroup: 'anon',
    roles: [
      {
        rolename: 'high',
        acls: [
          { acltype: 'publishClientSend', topic: 'a/#', allow: false, priority: 1 },
          { acltype: 'publishClientSend', topic: 'a/b', allow: true, priority: 9 },
          { acltype: 'subscribeLiteral', topic: 'lit/+', allow: true },
          { acltype: 'subscribePattern', topic: 's/+/x', allow: true },
          { acltype: 'unsubscribePattern', topic: 'q/#', allow: false },
        ],
      },
      {
        rolename: 'low',
        acls: [
          { acltype: 'publishClientSend', topic: 'a/c', allow: true },
          { acltype: 'publishClientSend', topic: 'b/#', allow: true },
          { acltype: 'publishClientReceive', topic: 'secret/#', allow: false },
        ],
      },
      { rolename: 'gdeny', acls: [{ acltype: 'publishClientSend', topic: 'g/#', allow: false }] },
      { rolename: 'gallow', acls: [{ acltype: 'publishClientSend', topic: 'g/#', allow: true }] },
      {
        rolename: 'anonrole',
        acls: [{ acltype: 'subscribePattern', topic: 'pub/#', allow: true }],
      },
    ],
  };

  test('role priority, then ACL priority, first match decides; groups after the client’s roles', () => {
    const { ds } = open(JSON.stringify(config));
    const send = (user: string | null, t: string): string =>
      ds.aclCheck('c', user, 'publish-client-send', t);
    assert.equal(send('u', 'a/b'), 'allow'); // priority 9 allow before the priority 1 deny
    assert.equal(send('u', 'a/c'), 'deny'); // the high role's a/# deny wins over low's a/c allow
    assert.equal(send('u', 'b/x'), 'allow');
    assert.equal(send('u', 'z'), 'defer'); // default deny: defer to other plugins
    assert.equal(send('v', 'g/1'), 'allow'); // g2 (priority 9) before g1
    assert.equal(send('nobody', 'a/b'), 'defer'); // not a dynsec client
    assert.equal(ds.aclCheck('c', 'u', 'publish-client-receive', 'secret/x'), 'deny');
    assert.equal(ds.aclCheck('c', 'u', 'publish-client-receive', 'open/x'), 'allow'); // default allow
    assert.equal(ds.aclCheck('c', 'u', 'publish-client-receive', '$CONTROL/x'), 'defer'); // never by default
  });

  test('subscribe: literal is exact, pattern matches filters as sub_acl_check', () => {
    const { ds } = open(JSON.stringify(config));
    const sub = (t: string): string => ds.aclCheck('c', 'u', 'subscribe', t);
    assert.equal(sub('lit/+'), 'allow');
    assert.equal(sub('lit/a'), 'defer');
    assert.equal(sub('s/a/x'), 'allow');
    assert.equal(sub('s/+/x'), 'allow');
    assert.equal(sub('s/#'), 'defer');
    assert.equal(ds.aclCheck('c', 'u', 'unsubscribe', 'q/1'), 'deny');
    assert.equal(ds.aclCheck('c', 'u', 'unsubscribe', 'other'), 'allow');
    assert.equal(ds.aclCheck('c', null, 'subscribe', 'pub/x'), 'allow'); // anonymous group
    assert.equal(ds.aclCheck('c', null, 'subscribe', 'other'), 'defer');
  });

  test('the cache is invalidated by every change', () => {
    const { ds } = open(JSON.stringify(config));
    assert.equal(ds.aclCheck('c', 'u', 'publish-client-send', 'z'), 'defer');
    run(ds, {
      command: 'addRoleACL',
      rolename: 'low',
      acltype: 'publishClientSend',
      topic: 'z',
      allow: true,
    });
    assert.equal(ds.aclCheck('c', 'u', 'publish-client-send', 'z'), 'allow');
  });

  test('sub_acl_check cases from the plugin’s own test table', () => {
    const cases: [string, string, boolean][] = [
      ['foo/+/bar', 'foo/#', false],
      ['foo/+/ba℞/#', 'foo/baz/ba℞', true],
      ['foo/+/ba℞/#', 'foo/baz/ba℞/+', true],
      ['foo/+/ba℞/#', 'foo/baz/ba℞/#', true],
      ['foo/+/ba℞/#', 'foo/baz/+/#', false],
      ['/+//#', '/foo///#', true],
      ['#', '#', true],
      ['#', '+', true],
      ['/#', '+', false],
      ['/#', '/+', true],
      ['/+', '#', false],
      ['/+', '+', false],
      ['+/+', 'topic/topic', true],
      ['+/+', 'topic/topic/', false],
      ['+', '#', false],
      ['+', '+', true],
      ['a/b/c/d/e', 'a/b/c/d/e', true],
      ['a/b/ /d/e', 'a/b/c/d/e', false],
    ];
    for (const [acl, sub, expected] of cases) {
      assert.equal(aclMatchesFilter(acl, sub, 'c', 'u'), expected, `${acl} : ${sub}`);
    }
    assert.equal(aclMatchesTopic('foo/#', 'foo', 'c', null), true);
    assert.equal(aclMatchesTopic('#', '$SYS/x', 'c', null), false);
  });

  test('2.1: %c and %u levels; allowwildcardsubs false denies wildcard subscriptions', () => {
    const { ds } = open(
      JSON.stringify({
        clients: [{ username: 'u', roles: [{ rolename: 'r' }] }],
        roles: [
          {
            rolename: 'r',
            allowwildcardsubs: false,
            acls: [
              { acltype: 'publishClientSend', topic: 'dev/%c/%u', allow: true },
              { acltype: 'subscribePattern', topic: 'dev/%c/#', allow: true },
              { acltype: 'subscribeLiteral', topic: 'x/#', allow: true },
            ],
          },
        ],
      }),
    );
    assert.equal(ds.aclCheck('kit', 'u', 'publish-client-send', 'dev/kit/u'), 'allow');
    assert.equal(ds.aclCheck('kit', 'u', 'publish-client-send', 'dev/other/u'), 'defer');
    assert.equal(ds.aclCheck('kit', 'u', 'subscribe', 'dev/kit/a'), 'allow');
    assert.equal(ds.aclCheck('kit', 'u', 'subscribe', 'dev/kit/+'), 'deny');
    assert.equal(ds.aclCheck('kit', 'u', 'subscribe', 'x/#'), 'deny');
    assert.deepEqual(run(ds, { command: 'getRole', rolename: 'r' })[0]?.data, {
      role: {
        rolename: 'r',
        allowwildcardsubs: false,
        acls: [
          { acltype: 'publishClientSend', topic: 'dev/%c/%u', priority: 0, allow: true },
          { acltype: 'subscribeLiteral', topic: 'x/#', priority: 0, allow: true },
          { acltype: 'subscribePattern', topic: 'dev/%c/#', priority: 0, allow: true },
        ],
      },
    });
    run(ds, { command: 'modifyRole', rolename: 'r', allowwildcardsubs: true });
    assert.equal(ds.aclCheck('kit', 'u', 'subscribe', 'x/#'), 'allow');
  });
});

describe('the file', () => {
  test('rewritten after every change: 0600, no temporary left, loads back identically', () => {
    const { ds, file } = open();
    run(ds, { command: 'createClient', username: 'u', password: 'pw' });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(existsSync(`${file}.new`), false);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { clients: Record<string, unknown>[] };
    const c = saved.clients[0] as { salt: string; password: string; iterations: number };
    assert.equal(c.iterations, 101);
    assert.equal(Buffer.from(c.salt, 'base64').length, 12);
    assert.deepEqual(
      pbkdf2Sync('pw', Buffer.from(c.salt, 'base64'), 101, 64, 'sha512').toString('base64'),
      c.password,
    );
    assert.deepEqual(Object.keys(saved), ['defaultACLAccess', 'clients', 'groups', 'roles']);
  });

  test('a corrupt or unreadable file throws DynsecConfigError', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ nope');
    assert.throws(
      () => DynamicSecurity.open({ configFile: file }, sink(logger())),
      DynsecConfigError,
    );
    assert.throws(
      () => DynamicSecurity.open({ configFile: dir }, sink(logger())),
      DynsecConfigError,
    );
  });

  test('reload: re-reads, and keeps the old state (logging) when the file is bad', () => {
    const { ds, file, log } = open();
    run(ds, { command: 'createRole', rolename: 'r' });
    writeFileSync(file, '{"roles":[{"rolename":"s"}]}');
    ds.reload();
    assert.deepEqual(run(ds, { command: 'listRoles' })[0]?.data, { totalCount: 1, roles: ['s'] });
    writeFileSync(file, 'garbage');
    ds.reload();
    assert.deepEqual(run(ds, { command: 'listRoles' })[0]?.data, { totalCount: 1, roles: ['s'] });
    assert.equal(log.error.length, 1);
  });

  test('2.1: a missing file is generated as 2.1 does (password_init_file)', async () => {
    const file = join(dir, 'new.json');
    const pwFile = join(dir, 'pw');
    writeFileSync(pwFile, 'init-password \t\nsecond line\n');
    const log = logger();
    const ds = DynamicSecurity.open({ configFile: file, passwordInitFile: pwFile }, sink(log));
    assert.deepEqual(log.info, [
      'Dynamic security plugin config not found, generating a default config.',
      `  Using admin password from file '${pwFile}'`,
    ]);
    assert.equal(await ds.authenticate('x', 'admin', Buffer.from('init-password')), 'allow');
    assert.equal(
      ds.aclCheck('x', 'admin', 'publish-client-send', '$CONTROL/dynamic-security/v1'),
      'allow',
    );
    assert.equal(ds.aclCheck('x', 'admin', 'publish-client-send', 'a/b'), 'defer');
    assert.equal(ds.aclCheck('x', 'admin', 'subscribe', '$SYS/#'), 'allow');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const tree = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(tree), [
      'defaultACLAccess',
      'clients',
      'groups',
      'roles',
      'anonymousGroup',
    ]);
    assert.equal(tree.anonymousGroup, 'unauthenticated');
    assert.match(JSON.stringify(tree.clients), /"encoded_password":"\$7\$1000\$/);
    assert.deepEqual(run(ds, { command: 'listRoles' })[0]?.data, {
      totalCount: 7,
      roles: [
        'broker-admin',
        'client',
        'dynsec-admin',
        'super-admin',
        'sys-notify',
        'sys-observe',
        'topic-observe',
      ],
    });
    assert.equal(existsSync(`${file}.pw`), false);
  });

  test('2.1: without a password source, random passwords for admin and democlient in <file>.pw', async () => {
    const saved = process.env.MOSQUITTO_DYNSEC_PASSWORD;
    delete process.env.MOSQUITTO_DYNSEC_PASSWORD;
    try {
      const file = join(dir, 'gen.json');
      const ds = DynamicSecurity.open({ configFile: file }, sink(logger()));
      assert.equal(statSync(`${file}.pw`).mode & 0o777, 0o600);
      const lines = readFileSync(`${file}.pw`, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 2);
      for (const [i, user] of ['admin', 'democlient'].entries()) {
        const m = new RegExp(`^${user} (.{20})$`).exec(lines[i] ?? '');
        assert.ok(m?.[1] !== undefined, lines[i]);
        assert.equal(await ds.authenticate('x', user, Buffer.from(m[1])), 'allow');
      }
      process.env.MOSQUITTO_DYNSEC_PASSWORD = 'short';
      assert.throws(
        () => DynamicSecurity.open({ configFile: join(dir, 'e.json') }, sink(logger())),
        DynsecConfigError,
      );
      process.env.MOSQUITTO_DYNSEC_PASSWORD = 'long-enough-password';
      const env = DynamicSecurity.open({ configFile: join(dir, 'e.json') }, sink(logger()));
      assert.equal(
        await env.authenticate('x', 'admin', Buffer.from('long-enough-password')),
        'allow',
      );
    } finally {
      if (saved === undefined) delete process.env.MOSQUITTO_DYNSEC_PASSWORD;
      else process.env.MOSQUITTO_DYNSEC_PASSWORD = saved;
    }
    const pwFile = join(dir, 'empty');
    writeFileSync(pwFile, ' \n');
    assert.throws(
      () =>
        DynamicSecurity.open(
          { configFile: join(dir, 'x.json'), passwordInitFile: pwFile },
          sink(logger()),
        ),
      DynsecConfigError,
    );
  });

  test('2.0 skips a client whose salt or hash has the wrong length; other JSON values load empty', () => {
    const { ds } = open(
      JSON.stringify({
        clients: [
          {
            username: 'bad',
            salt: 'AAAA',
            password: Buffer.alloc(64).toString('base64'),
            iterations: 101,
          },
        ],
      }),
    );
    assert.deepEqual(run(ds, { command: 'listClients' })[0]?.data, { totalCount: 0, clients: [] });
    const { ds: other } = open('[1,2]');
    assert.deepEqual(run(other, { command: 'listRoles' })[0]?.data, { totalCount: 0, roles: [] });
  });

  test('2.1: encoded_password ($7$) clients authenticate', async () => {
    const salt = Buffer.alloc(64, 7); // 2.1 writes 64-byte salts
    const hash = pbkdf2Sync('pw', salt, 1000, 64, 'sha512');
    const { ds } = open(
      JSON.stringify({
        clients: [
          {
            username: 'u',
            encoded_password: `$7$1000$${salt.toString('base64')}$${hash.toString('base64')}`,
          },
        ],
      }),
    );
    assert.equal(await ds.authenticate('c', 'u', Buffer.from('pw')), 'allow');
    assert.equal(await ds.authenticate('c', 'u', Buffer.from('no')), 'deny');
    assert.equal(await ds.authenticate('c', 'u', null), 'defer');
    assert.equal(await ds.authenticate('c', null, Buffer.from('pw')), 'defer');
  });
});
