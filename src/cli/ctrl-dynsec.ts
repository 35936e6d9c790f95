/**
 * mosquitto_ctrl's `dynsec` module (apps/mosquitto_ctrl/dynsec*.c of Mosquitto 2.0.22):
 * each command's arguments into one JSON command for `$CONTROL/dynamic-security/v1`, the
 * printing of the response, `dynsec init` (the first configuration file) and, from 2.1,
 * `-f <file> dynsec setClientPassword` (offline: the file is edited in place).
 *
 * Commands are matched case-insensitively; the command name sent for add/remove/enable/
 * disable commands is the word as typed, as Mosquitto does.
 */
import type { Buffer } from 'node:buffer';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { formatPasswordHash, hashPassword, HashType } from '../common/password.ts';
import { atoi } from './args/c-numbers.ts';
import { cjsonPrint, cjsonPrintUnformatted, RawNumber, type CJsonValue } from '../common/cjson.ts';
import { getPassword } from './passwd-prompt.ts';
import type { ToolIo } from './io.ts';

/** libmosquitto error numbers the module returns. */
export const MOSQ_ERR_INVAL = 3;
export const MOSQ_ERR_NOT_SUPPORTED = 10;
export const MOSQ_ERR_UNKNOWN = 13;

/** What a module's main returns: done (status as Mosquitto's main computes it) or a request. */
export type ModuleResult =
  /** `rc` < 0: usage/handled, exit 0; MOSQ_ERR_UNKNOWN: message printed; else "Error: ...". */
  | { readonly kind: 'rc'; readonly rc: number }
  | {
      readonly kind: 'request';
      readonly requestTopic: string;
      readonly responseTopic: string;
      readonly payload: string;
      readonly onResponse: (payload: Buffer, io: ToolIo) => void;
    };

type Command = Record<string, CJsonValue>;

const rc = (value: number): ModuleResult => ({ kind: 'rc', rc: value });

const DYNSEC_USAGE = `
Dynamic Security module
=======================

Initialisation
--------------
Create a new configuration file with an admin user:
    mosquitto_ctrl dynsec init <new-config-file> <admin-username> [admin-password]

General
-------
Get ACL default access:          getDefaultACLAccess
Set ACL default access:          setDefaultACLAccess <acltype> allow|deny
Get group for anonymous clients: getAnonymousGroup
Set group for anonymous clients: setAnonymousGroup   <groupname>

Clients
-------
Create a new client:         createClient      <username> [-i clientid] [-p password]
Delete a client:             deleteClient      <username>
Set a client password:       setClientPassword <username> [password]
Set a client id:             setClientId       <username> [clientid]
Add a role to a client:      addClientRole     <username> <rolename> [priority]
    Higher priority (larger numerical value) roles are evaluated first.
Remove role from a client:   removeClientRole  <username> <rolename>
Get client information:      getClient         <username>
List all clients:            listClients       [count [offset]]
Enable client:               enableClient      <username>
Disable client:              disableClient     <username>

Groups
------
Create a new group:          createGroup       <groupname>
Delete a group:              deleteGroup       <groupname>
Add a role to a group:       addGroupRole      <groupname> <rolename> [priority]
    Higher priority (larger numerical value) roles are evaluated first.
Remove role from a group:    removeGroupRole   <groupname> <rolename>
Add client to a group:       addGroupClient    <groupname> <username> [priority]
    Priority sets the group priority for the given client only.
    Higher priority (larger numerical value) groups are evaluated first.
Remove client from a group:  removeGroupClient <groupname> <username>
Get group information:       getGroup          <groupname>
List all groups:             listGroups        [count [offset]]

Roles
------
Create a new role:           createRole        <rolename>
Delete a role:               deleteRole        <rolename>
Add an ACL to a role:        addRoleACL        <rolename> <aclspec> [priority]
    Higher priority (larger numerical value) ACLs are evaluated first.
Remove ACL from a role:      removeRoleACL     <rolename> <aclspec>
Get role information:        getRole           <rolename>
List all roles:              listRoles         [count [offset]]

aclspec:                     <acltype> <topicFilter> allow|deny
acltype:                     publishClientSend|publishClientReceive
                              |subscribeLiteral|subscribePattern
                              |unsubscribeLiteral|unsubscribePattern

For more information see:
    https://mosquitto.org/documentation/dynamic-security/

`;

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
const oneOf = (value: string, choices: readonly string[]): boolean =>
  choices.some((choice) => same(value, choice));

const ROLE_ACLTYPES = [
  'publishClientSend',
  'publishClientReceive',
  'subscribeLiteral',
  'subscribePattern',
  'unsubscribeLiteral',
  'unsubscribePattern',
] as const;

/** Invalid arguments: Mosquitto's MOSQ_ERR_INVAL. */
const INVAL = Symbol('inval');
/** Handled already (a password prompt failed): main's rc -1. */
const HANDLED = Symbol('handled');
type Built = Command | typeof INVAL | typeof HANDLED;

// ---------------------------------------------------------------- command builders

function named(command: string, key: string, args: readonly string[]): Built {
  if (args.length !== 1) return INVAL;
  return { command, [key]: args[0] ?? '' };
}

function listAll(command: string, args: readonly string[]): Built {
  if (args.length > 2) return INVAL;
  const count = args.length >= 1 ? atoi(args[0] ?? '') : -1;
  const offset = args.length === 2 ? atoi(args[1] ?? '') : -1;
  const out: Command = { command };
  if (count > 0) out.count = new RawNumber(String(count));
  if (offset > 0) out.offset = new RawNumber(String(offset));
  return out;
}

/** addClientRole & co: `<first> <second> [priority]`, priority sent unless -1. */
function pairWithPriority(
  command: string,
  keys: readonly [string, string],
  order: readonly [number, number],
  args: readonly string[],
): Built {
  if (args.length !== 2 && args.length !== 3) return INVAL;
  const priority = args.length === 3 ? atoi(args[2] ?? '') : -1;
  const out: Command = { command };
  out[keys[0]] = args[order[0]] ?? '';
  out[keys[1]] = args[order[1]] ?? '';
  if (priority !== -1) out.priority = new RawNumber(String(priority));
  return out;
}

function setDefaultAclAccess(args: readonly string[], io: ToolIo): Built {
  if (args.length !== 2) return INVAL;
  const [acltype = '', access = ''] = args;
  if (!oneOf(acltype, ['publishClientSend', 'publishClientReceive', 'subscribe', 'unsubscribe'])) {
    return INVAL;
  }
  let allow: boolean;
  if (same(access, 'allow')) allow = true;
  else if (same(access, 'deny')) allow = false;
  else {
    io.err('Error: access must be "allow" or "deny".\n');
    return INVAL;
  }
  return { command: 'setDefaultACLAccess', acls: [{ acltype, allow }] };
}

async function createClient(args: readonly string[], io: ToolIo): Promise<Built> {
  if (args.length === 0) return INVAL;
  const username = args[0] ?? '';
  let clientid: string | null = null;
  let password: string | null = null;
  let requestPassword = true;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '-c' || args[i] === '-i') {
      if (i + 1 === args.length) {
        io.err('Error: -i argument given, but no clientid provided.\n');
        return INVAL;
      }
      clientid = args[++i] ?? '';
    } else if (args[i] === '-p') {
      if (i + 1 === args.length) {
        io.err('Error: -p argument given, but no password provided.\n');
        return INVAL;
      }
      password = args[++i] ?? '';
      requestPassword = false;
    }
  }
  if (requestPassword) {
    io.out(
      `Enter new password for ${username}. Press return for no password (user will be unable to login).\n`,
    );
    const got = await getPassword(
      `New password for ${username}: `,
      `Reenter password for ${username}: `,
      true,
    );
    if (typeof got !== 'number') password = got.toString('utf8');
    else if (got === 2) {
      io.err('Error: Passwords do not match.\n');
      return HANDLED;
    } else {
      password = null;
      io.out('\n');
    }
  }
  const out: Command = { command: 'createClient', username };
  if (clientid !== null) out.clientid = clientid;
  if (password !== null) out.password = password;
  return out;
}

function setClientId(args: readonly string[]): Built {
  if (args.length !== 1 && args.length !== 2) return INVAL;
  const out: Command = { command: 'setClientId', username: args[0] ?? '' };
  if (args.length === 2) out.clientid = args[1] ?? '';
  return out;
}

async function askNewPassword(username: string): Promise<string | null> {
  const got = await getPassword(
    `New password for ${username}: `,
    `Reenter password for ${username}: `,
    false,
  );
  return typeof got === 'number' ? null : got.toString('utf8');
}

async function setClientPassword(args: readonly string[]): Promise<Built> {
  if (args.length !== 1 && args.length !== 2) return INVAL;
  const username = args[0] ?? '';
  const password = args.length === 2 ? (args[1] ?? '') : await askNewPassword(username);
  if (password === null) return HANDLED;
  return { command: 'setClientPassword', username, password };
}

function addRoleAcl(args: readonly string[]): Built {
  if (args.length !== 4 && args.length !== 5) return INVAL;
  const [rolename = '', acltype = '', topic = '', action = ''] = args;
  const priority = args.length === 5 ? atoi(args[4] ?? '') : -1;
  if (!oneOf(acltype, ROLE_ACLTYPES)) return INVAL;
  let allow: boolean;
  if (same(action, 'allow')) allow = true;
  else if (same(action, 'deny')) allow = false;
  else return INVAL;
  const out: Command = { command: 'addRoleACL', rolename, acltype, topic, allow };
  if (priority !== -1) out.priority = new RawNumber(String(priority));
  return out;
}

function removeRoleAcl(args: readonly string[]): Built {
  if (args.length !== 3) return INVAL;
  const [rolename = '', acltype = '', topic = ''] = args;
  if (!oneOf(acltype, ROLE_ACLTYPES)) return INVAL;
  return { command: 'removeRoleACL', rolename, acltype, topic };
}

type Builder = (args: readonly string[], io: ToolIo, word: string) => Built | Promise<Built>;

const BUILDER_LIST: readonly (readonly [string, Builder])[] = [
  ['setDefaultACLAccess', (a, io) => setDefaultAclAccess(a, io)],
  ['getDefaultACLAccess', () => ({ command: 'getDefaultACLAccess' })],
  ['createClient', (a, io) => createClient(a, io)],
  ['deleteClient', (a) => named('deleteClient', 'username', a)],
  ['getClient', (a) => named('getClient', 'username', a)],
  ['listClients', (a) => listAll('listClients', a)],
  ['setClientId', (a) => setClientId(a)],
  ['setClientPassword', (a) => setClientPassword(a)],
  ['addClientRole', (a, _io, w) => pairWithPriority(w, ['username', 'rolename'], [0, 1], a)],
  ['removeClientRole', (a, _io, w) => pairWithPriority(w, ['username', 'rolename'], [0, 1], a)],
  ['enableClient', (a, _io, w) => named(w, 'username', a)],
  ['disableClient', (a, _io, w) => named(w, 'username', a)],
  ['createGroup', (a) => named('createGroup', 'groupname', a)],
  ['deleteGroup', (a) => named('deleteGroup', 'groupname', a)],
  ['getGroup', (a) => named('getGroup', 'groupname', a)],
  ['listGroups', (a) => listAll('listGroups', a)],
  ['addGroupRole', (a, _io, w) => pairWithPriority(w, ['groupname', 'rolename'], [0, 1], a)],
  ['removeGroupRole', (a, _io, w) => pairWithPriority(w, ['groupname', 'rolename'], [0, 1], a)],
  ['addGroupClient', (a, _io, w) => pairWithPriority(w, ['username', 'groupname'], [1, 0], a)],
  ['removeGroupClient', (a, _io, w) => pairWithPriority(w, ['username', 'groupname'], [1, 0], a)],
  ['setAnonymousGroup', (a) => named('setAnonymousGroup', 'groupname', a)],
  ['getAnonymousGroup', () => ({ command: 'getAnonymousGroup' })],
  ['createRole', (a) => named('createRole', 'rolename', a)],
  ['deleteRole', (a) => named('deleteRole', 'rolename', a)],
  ['getRole', (a) => named('getRole', 'rolename', a)],
  ['listRoles', (a) => listAll('listRoles', a)],
  ['addRoleACL', (a) => addRoleAcl(a)],
  ['removeRoleACL', (a) => removeRoleAcl(a)],
];

const BUILDERS: ReadonlyMap<string, Builder> = new Map(
  BUILDER_LIST.map(([name, builder]) => [name.toLowerCase(), builder]),
);

/** The dynsec command names, as the help lists them (for tests). */
export const DYNSEC_COMMANDS: readonly string[] = BUILDER_LIST.map(([name]) => name);

// ---------------------------------------------------------------- response printing

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const get = (v: Json, key: string): Json => (isObject(v) ? v[key] : undefined);
const str = (v: Json): string | null => (typeof v === 'string' ? v : null);
/** (int)valuedouble */
const int = (v: Json): number | null => (typeof v === 'number' ? Math.trunc(v) | 0 : null);

const INVALID = 'Error: Invalid response from server.\n';

class Printer {
  text = '';
  constructor(private readonly io: ToolIo) {}
  out(s: string): void {
    this.text += s;
  }
  err(s: string): void {
    this.flush();
    this.io.err(s);
  }
  flush(): void {
    if (this.text !== '') this.io.out(this.text);
    this.text = '';
  }
}

const pad = (s: string, width: number): string => s.padEnd(width, ' ');

function priorityText(element: Json): string {
  const priority = int(get(element, 'priority'));
  return ` (priority: ${priority ?? -1})`;
}

function printList(p: Printer, response: Json, arrayName: string, keyName: string): void {
  const data = get(response, 'data');
  if (data === undefined) {
    p.err(INVALID);
    return;
  }
  const array = get(data, arrayName);
  if (!Array.isArray(array)) {
    p.err(INVALID);
    return;
  }
  for (const element of array as Json[]) {
    if (isObject(element)) {
      const name = str(element[keyName]);
      if (name !== null) p.out(`${name}\n`);
    } else if (typeof element === 'string') p.out(`${element}\n`);
  }
}

function printRoles(p: Printer, roles: Json, width: number): void {
  if (!Array.isArray(roles)) {
    p.out('Roles:\n');
    return;
  }
  let first = true;
  for (const element of roles as Json[]) {
    const name = str(get(element, 'rolename'));
    if (name === null) continue;
    p.out(`${pad(first ? 'Roles:' : '', width)} ${name}${priorityText(element)}\n`);
    first = false;
  }
}

/** data.<key> as an object, or null after printing the error. */
function dataObject(p: Printer, response: Json, key: string): Record<string, Json> | null {
  const data = get(response, 'data');
  if (!isObject(data)) {
    p.err(INVALID);
    return null;
  }
  const value = data[key];
  if (!isObject(value)) {
    p.err(INVALID);
    return null;
  }
  return value;
}

function printClient(p: Printer, response: Json): void {
  const client = dataObject(p, response, 'client');
  if (client === null) return;
  const username = str(client.username);
  if (username === null) {
    p.err(INVALID);
    return;
  }
  p.out(`Username: ${username}\n`);
  const clientid = str(client.clientid);
  p.out(clientid === null ? 'Clientid:\n' : `Clientid: ${clientid}\n`);
  if (typeof client.disabled === 'boolean') {
    p.out(`Disabled: ${client.disabled ? 'true' : 'false'}\n`);
  }
  printRoles(p, client.roles, 'Username:'.length);
  const groups = client.groups;
  if (!Array.isArray(groups)) {
    p.out('Groups:\n');
    return;
  }
  let first = true;
  for (const element of groups as Json[]) {
    const name = str(get(element, 'groupname'));
    if (name === null) continue;
    p.out(`${first ? 'Groups:   ' : '          '}${name}${priorityText(element)}\n`);
    first = false;
  }
}

function printGroup(p: Printer, response: Json): void {
  const group = dataObject(p, response, 'group');
  if (group === null) return;
  const groupname = str(group.groupname);
  if (groupname === null) {
    p.err(INVALID);
    return;
  }
  p.out(`Groupname: ${groupname}\n`);
  printRoles(p, group.roles, 'Groupname:'.length);
  const clients = group.clients;
  if (!Array.isArray(clients)) return;
  let first = true;
  for (const element of clients as Json[]) {
    const name = str(get(element, 'username'));
    if (name === null) continue;
    p.out(`${first ? 'Clients:   ' : '           '}${name}\n`);
    first = false;
  }
}

function printRole(p: Printer, response: Json): void {
  const role = dataObject(p, response, 'role');
  if (role === null) return;
  const rolename = str(role.rolename);
  if (rolename === null) {
    p.err(INVALID);
    return;
  }
  p.out(`Rolename: ${rolename}\n`);
  const acls = role.acls;
  if (!Array.isArray(acls)) return;
  let first = true;
  for (const element of acls as Json[]) {
    const acltype = str(get(element, 'acltype'));
    if (acltype === null) continue;
    let line = `${first ? 'ACLs:     ' : '          '}${pad(acltype, 20)}`;
    first = false;
    const allow = get(element, 'allow');
    if (typeof allow === 'boolean') line += ` : ${allow ? 'allow' : 'deny '}`;
    const topic = str(get(element, 'topic'));
    if (topic !== null) line += ` : ${topic}`;
    p.out(`${line}${priorityText(element)}\n`);
  }
}

function printAnonymousGroup(p: Printer, response: Json): void {
  const group = dataObject(p, response, 'group');
  if (group === null) return;
  const name = str(group.groupname);
  if (name === null) {
    p.err(INVALID);
    return;
  }
  p.out(`${name}\n`);
}

function printDefaultAclAccess(p: Printer, response: Json): void {
  const data = get(response, 'data');
  if (!isObject(data)) {
    p.err(INVALID);
    return;
  }
  const acls = data.acls;
  if (!Array.isArray(acls)) {
    p.err(INVALID);
    return;
  }
  for (const acl of acls as Json[]) {
    const acltype = str(get(acl, 'acltype'));
    const allow = get(acl, 'allow');
    if (acltype === null || typeof allow !== 'boolean') {
      p.err(INVALID);
      return;
    }
    p.out(`${pad(acltype, 20)} : ${allow ? 'allow' : 'deny'}\n`);
  }
}

/**
 * The start shared by the modules' payload callbacks: the first response of the payload,
 * its command name and error, or null after printing what is wrong.
 */
export function firstResponse(
  payload: Buffer,
  p: { err(s: string): void },
): { response: Json; command: string; error: Json } | null {
  let tree: Json;
  try {
    tree = JSON.parse(payload.toString('utf8')) as Json;
  } catch {
    p.err('Error: Payload not JSON.\n');
    return null;
  }
  const responses = get(tree, 'responses');
  if (!Array.isArray(responses)) {
    p.err('Error: Payload missing data.\n');
    return null;
  }
  const response = (responses as Json[])[0];
  if (response === undefined) {
    p.err('Error: Payload missing data.\n');
    return null;
  }
  const command = get(response, 'command');
  if (command === undefined) {
    p.err('Error: Payload missing data.\n');
    return null;
  }
  // cJSON's valuestring of a non-string is NULL, which glibc prints as "(null)".
  return { response, command: str(command) ?? '(null)', error: get(response, 'error') };
}

function onDynsecResponse(payload: Buffer, io: ToolIo): void {
  const p = new Printer(io);
  const first = firstResponse(payload, p);
  if (first !== null) {
    const { response, command, error } = first;
    if (error !== undefined) {
      p.err(`${command}: Error: ${str(error) ?? '(null)'}\n`);
    } else {
      const printers: Record<string, () => void> = {
        listclients: () => {
          printList(p, response, 'clients', 'username');
        },
        listgroups: () => {
          printList(p, response, 'groups', 'groupname');
        },
        listroles: () => {
          printList(p, response, 'roles', 'rolename');
        },
        getclient: () => {
          printClient(p, response);
        },
        getgroup: () => {
          printGroup(p, response);
        },
        getrole: () => {
          printRole(p, response);
        },
        getdefaultaclaccess: () => {
          printDefaultAclAccess(p, response);
        },
        getanonymousgroup: () => {
          printAnonymousGroup(p, response);
        },
      };
      printers[command.toLowerCase()]?.();
    }
  }
  p.flush();
}

// ---------------------------------------------------------------- init

const INIT_ACLS: readonly (readonly [string, string])[] = [
  ['publishClientSend', '$CONTROL/dynamic-security/#'],
  ['publishClientReceive', '$CONTROL/dynamic-security/#'],
  ['subscribePattern', '$CONTROL/dynamic-security/#'],
  ['publishClientReceive', '$SYS/#'],
  ['subscribePattern', '$SYS/#'],
  ['publishClientReceive', '#'],
  ['subscribePattern', '#'],
  ['unsubscribePattern', '#'],
];

/** The file `dynsec init` writes: the admin client, its role, the default access. */
export function initialConfig(username: string, password: string | Buffer): CJsonValue {
  const hash = hashPassword(password, HashType.Sha512Pbkdf2);
  return {
    clients: [
      {
        username,
        textName: 'Dynsec admin user',
        password: hash.hash.toString('base64'),
        salt: hash.salt.toString('base64'),
        iterations: new RawNumber(String(hash.iterations)),
        roles: [{ rolename: 'admin' }],
      },
    ],
    roles: [
      {
        rolename: 'admin',
        acls: INIT_ACLS.map(([acltype, topic]) => ({ acltype, topic, allow: true })),
      },
    ],
    defaultACLAccess: {
      publishClientSend: false,
      publishClientReceive: true,
      subscribe: false,
      unsubscribe: true,
    },
  };
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  EEXIST: 'File exists',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
};

async function dynsecInit(args: readonly string[], io: ToolIo): Promise<ModuleResult> {
  if (args.length < 2) {
    io.err('dynsec init: Not enough arguments - filename, or admin-user missing.\n');
    return rc(MOSQ_ERR_INVAL);
  }
  if (args.length > 3) {
    io.err('dynsec init: Too many arguments.\n');
    return rc(MOSQ_ERR_INVAL);
  }
  const [filename = '', adminUser = ''] = args;
  let password: string | Buffer;
  if (args.length === 3) password = args[2] ?? '';
  else {
    const got = await getPassword(
      `New password for ${adminUser}: `,
      `Reenter password for ${adminUser}: `,
      false,
    );
    if (typeof got === 'number') return rc(-1);
    password = got;
  }
  const text = cjsonPrint(initialConfig(adminUser, password));
  let fd: number;
  try {
    fd = openSync(filename, 'wx', 0o640);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason =
      typeof code === 'string' ? (ERRNO_TEXT[code] ?? (error as Error).message) : 'Unknown';
    io.err(`dynsec init: Unable to open '${filename}' for writing (${reason}).\n`);
    return rc(-1);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  io.out(
    `The client '${adminUser}' has been created in the file '${filename}'.\n` +
      'This client is configured to allow you to administer the dynamic security plugin only.\n' +
      'It does not have access to publish messages to normal topics.\n' +
      'You should create your application clients to do that, for example:\n' +
      '   mosquitto_ctrl <connect options> dynsec createClient <username>\n' +
      '   mosquitto_ctrl <connect options> dynsec createRole <rolename>\n' +
      '   mosquitto_ctrl <connect options> dynsec addRoleACL <rolename> publishClientSend my/topic [priority]\n' +
      '   mosquitto_ctrl <connect options> dynsec addClientRole <username> <rolename> [priority]\n' +
      'See https://mosquitto.org/documentation/dynamic-security/ for details of all commands.\n',
  );
  return rc(-1);
}

// ---------------------------------------------------------------- offline (2.1)

/** Mosquitto 2.1's iterations for a new sha512-pbkdf2 hash (PW_DEFAULT_ITERATIONS). */
const OFFLINE_DEFAULT_ITERATIONS = 1000;
/** 2.1's salts are 64 bytes (2.0's 12). */
const OFFLINE_SALT_BYTES = 64;

/**
 * 2.1's `-f <file> dynsec setClientPassword <username> <password> [-i iterations]`: the
 * client's password, salt and iterations are replaced by `encoded_password`, and the file
 * is rewritten (unformatted).
 */
function fileSetPassword(args: readonly string[], file: string, io: ToolIo): ModuleResult {
  if (args.length < 2) return rc(MOSQ_ERR_INVAL);
  const [username = '', password = ''] = args;
  let iterations = -1;
  for (let i = 2; i < args.length; i++) {
    if (args[i] === '-i') {
      if (i + 1 === args.length) {
        io.err('Error: -i argument given, but no iterations provided.\n');
        return rc(MOSQ_ERR_INVAL);
      }
      iterations = atoi(args[++i] ?? '');
    } else {
      io.err(`Error: Unknown argument: ${args[i] ?? ''}\n`);
      return rc(MOSQ_ERR_INVAL);
    }
  }
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch {
    io.err(`Error: Unable to open ${file}.\n`);
    return rc(MOSQ_ERR_INVAL);
  }
  if (content.length === 0) {
    io.err(`Error: ${file} is empty.\n`);
    return rc(MOSQ_ERR_INVAL);
  }
  let tree: Json;
  try {
    tree = JSON.parse(content.toString('utf8')) as Json;
  } catch {
    io.err(`Error: ${file} is not valid JSON.\n`);
    return rc(MOSQ_ERR_INVAL);
  }
  const clients = get(tree, 'clients');
  if (!Array.isArray(clients)) {
    io.err(`Error: ${file} is not a valid dynamic-security config file.\n`);
    return rc(MOSQ_ERR_INVAL);
  }
  for (const client of clients as Json[]) {
    if (!isObject(client) || str(client.username) !== username) continue;
    const salt = randomBytes(OFFLINE_SALT_BYTES);
    const hash = {
      type: HashType.Sha512Pbkdf2,
      iterations: iterations > 0 ? iterations : OFFLINE_DEFAULT_ITERATIONS,
      salt,
      hash: pbkdf2Sync(
        password,
        salt,
        iterations > 0 ? iterations : OFFLINE_DEFAULT_ITERATIONS,
        64,
        'sha512',
      ),
    };
    for (const key of ['password', 'salt', 'iterations', 'encoded_password']) {
      Reflect.deleteProperty(client, key);
    }
    client.encoded_password = formatPasswordHash(hash);
    try {
      writeFileSync(file, cjsonPrintUnformatted(tree as CJsonValue));
    } catch {
      io.err(`Error: Unable to write to ${file}.\n`);
      return rc(MOSQ_ERR_UNKNOWN);
    }
    return rc(0);
  }
  io.err(`Error: Client ${username} not found.\n`);
  return rc(0);
}

// ---------------------------------------------------------------- main

/** dynsec__main: `args` starts with the command. */
export async function dynsecMain(
  args: readonly string[],
  io: ToolIo,
  dataFile: string | null,
): Promise<ModuleResult> {
  const word = args[0] ?? '';
  const rest = args.slice(1);
  if (same(word, 'help')) {
    io.out(DYNSEC_USAGE);
    return rc(-1);
  }
  if (same(word, 'init')) return dynsecInit(rest, io);
  if (dataFile !== null && same(word, 'setClientPassword')) {
    return fileSetPassword(rest, dataFile, io);
  }
  const builder = BUILDERS.get(word.toLowerCase());
  if (builder === undefined) {
    io.err(`Command '${word}' not recognised.\n`);
    return rc(MOSQ_ERR_UNKNOWN);
  }
  const built = await builder(rest, io, word);
  if (built === INVAL) return rc(MOSQ_ERR_INVAL);
  if (built === HANDLED) return rc(-1);
  return {
    kind: 'request',
    requestTopic: '$CONTROL/dynamic-security/v1',
    responseTopic: '$CONTROL/dynamic-security/v1/response',
    payload: cjsonPrintUnformatted({ commands: [built] }),
    onResponse: onDynsecResponse,
  };
}

// ---------------------------------------------------------------- broker (2.1)

const BROKER_USAGE =
  '\nBroker Control module\n' +
  '=======================\n' +
  'List plugins    :          listPlugins\n' +
  'List listeners  :          listListeners\n';

function onBrokerResponse(payload: Buffer, io: ToolIo): void {
  const p = new Printer(io);
  const first = firstResponse(payload, p);
  if (first !== null) {
    const { response, command, error } = first;
    if (typeof error === 'string') p.err(`${command}: Error: ${error}.\n`);
    else if (same(command, 'listPlugins')) printPlugins(p, response);
    else if (same(command, 'listListeners')) printListeners(p, response);
  }
  p.flush();
}

function printPlugins(p: Printer, response: Json): void {
  const data = get(response, 'data');
  if (!isObject(data)) {
    p.err(INVALID);
    return;
  }
  const plugins = data.plugins;
  if (!Array.isArray(plugins)) {
    p.err(INVALID);
    return;
  }
  for (const plugin of plugins as Json[]) {
    const name = str(get(plugin, 'name'));
    if (name === null) {
      p.err(INVALID);
      return;
    }
    p.out(`Plugin:            ${name}\n`);
    const version = str(get(plugin, 'version'));
    if (version !== null) p.out(`Version:           ${version}\n`);
    const endpoints = get(plugin, 'control-endpoints');
    if (Array.isArray(endpoints)) {
      let firstEndpoint = true;
      for (const endpoint of endpoints as Json[]) {
        if (typeof endpoint !== 'string') continue;
        p.out(`${firstEndpoint ? 'Control endpoints: ' : '                   '}${endpoint}\n`);
        firstEndpoint = false;
      }
    }
  }
}

function printListeners(p: Printer, response: Json): void {
  const data = get(response, 'data');
  if (!isObject(data)) {
    p.err(INVALID);
    return;
  }
  const listeners = data.listeners;
  if (!Array.isArray(listeners)) {
    p.err(INVALID);
    return;
  }
  let i = 1;
  for (const listener of listeners as Json[]) {
    p.out(`Listener ${i}:\n`);
    const port = get(listener, 'port');
    if (typeof port === 'number') p.out(`  Port:              ${Math.trunc(port)}\n`);
    const fields: readonly (readonly [string, string])[] = [
      ['protocol', '  Protocol:          '],
      ['socket-path', '  Socket path:       '],
      ['bind-address', '  Bind address:      '],
    ];
    for (const [key, label] of fields) {
      const value = str(get(listener, key));
      if (value !== null) p.out(`${label}${value}\n`);
    }
    p.out(`  TLS:               ${get(listener, 'tls') === true ? 'true' : 'false'}\n`);
    p.out('\n');
    i++;
  }
}

/** broker__main (Mosquitto 2.1): `$CONTROL/broker/v1`. */
export function brokerMain(args: readonly string[], io: ToolIo): ModuleResult {
  const word = args[0] ?? '';
  if (same(word, 'help')) {
    io.out(BROKER_USAGE);
    return rc(-1);
  }
  let command: string;
  if (same(word, 'listPlugins')) command = 'listPlugins';
  else if (same(word, 'listListeners')) command = 'listListeners';
  else {
    io.err(`Command '${word}' not recognised.\n`);
    return rc(MOSQ_ERR_UNKNOWN);
  }
  return {
    kind: 'request',
    requestTopic: '$CONTROL/broker/v1',
    responseTopic: '$CONTROL/broker/v1/response',
    payload: cjsonPrintUnformatted({ commands: [{ command }] }),
    onResponse: onBrokerResponse,
  };
}
