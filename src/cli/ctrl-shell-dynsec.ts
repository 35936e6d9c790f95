/**
 * The shell's dynsec mode (ctrl_shell_dynsec.c of Mosquitto 2.1): each command's words
 * into one JSON command for `$CONTROL/dynamic-security/v1`, the shell's own layout of the
 * answers (labels and indented values, not the layout of `mosquitto_ctrl dynsec`), and the
 * client, group and role names kept for completion (refreshed on entering the mode and
 * after each create/delete).
 *
 * Quirks kept from 2.1: setDefaultACLAccess sends `allow` only for the exact word "allow"
 * (any case is accepted, "ALLOW" means deny); modify* sends the property name as typed;
 * setClientId needs both words although its help calls the client id optional.
 */
import { atoi } from './args/c-numbers.ts';
import type { CJsonValue } from '../common/cjson.ts';
import { DYNSEC_ACL_TYPES, DYNSEC_HELP } from './ctrl-shell-dynsec-help.ts';
import {
  completionTree,
  jsonString,
  lower,
  member,
  plain,
  type CompletionCommand,
  type ShellHost,
  type ShellModule,
  type Words,
} from './ctrl-shell-module.ts';

type Command = Record<string, CJsonValue>;

const ACL_WIDTH = 'publishClientReceive'.length;
const DEFAULT_ACL_TYPES = ['publishClientReceive', 'publishClientSend', 'subscribe', 'unsubscribe'];

const isOneOf = (word: string, choices: readonly string[]): boolean =>
  choices.some((choice) => lower(choice) === lower(word));

export function dynsecModule(host: ShellHost): ShellModule {
  const out = host.output;
  const c = out.colours;
  const known = { clients: [] as string[], groups: [] as string[], roles: [] as string[] };
  let printList = false;

  const clients = (): readonly string[] => known.clients;
  const groups = (): readonly string[] => known.groups;
  const roles = (): readonly string[] => known.roles;
  const fixed =
    (...words: string[]) =>
    (): readonly string[] =>
      words;
  const commands: CompletionCommand[] = [
    { name: 'addClientRole', args: [clients, roles] },
    { name: 'addGroupClient', args: [groups, clients] },
    { name: 'addGroupRole', args: [groups, roles] },
    { name: 'addRoleACL', args: [roles, fixed(...DYNSEC_ACL_TYPES), fixed('allow', 'deny')] },
    ...plain('createClient', 'createGroup', 'createRole'),
    { name: 'deleteClient', args: [clients] },
    { name: 'deleteGroup', args: [groups] },
    { name: 'deleteRole', args: [roles] },
    { name: 'disableClient', args: [clients] },
    { name: 'enableClient', args: [clients] },
    ...plain('getAnonymousGroup', 'getDetails'),
    { name: 'getClient', args: [clients] },
    ...plain('getDefaultACLAccess'),
    { name: 'getGroup', args: [groups] },
    { name: 'getRole', args: [roles] },
    ...plain('listClients', 'listGroups', 'listRoles'),
    { name: 'removeClientRole', args: [clients, roles] },
    { name: 'removeGroupClient', args: [groups, clients] },
    { name: 'removeGroupRole', args: [groups, roles] },
    { name: 'removeRoleACL', args: [roles, fixed(...DYNSEC_ACL_TYPES)] },
    { name: 'setAnonymousGroup', args: [groups] },
    { name: 'setClientId', args: [clients] },
    { name: 'setClientPassword', args: [clients] },
    { name: 'modifyClient', args: [clients, fixed('textName', 'textDescription')] },
    { name: 'modifyGroup', args: [groups, fixed('textName', 'textDescription')] },
    {
      name: 'modifyRole',
      args: [roles, fixed('allowWildcardSubs', 'textName', 'textDescription')],
    },
    { name: 'setDefaultACLAccess', args: [fixed(...DEFAULT_ACL_TYPES), fixed('allow', 'deny')] },
    ...plain('disconnect', 'return', 'exit'),
  ];

  function help(words: Words): void {
    const command = words.next();
    if (command === null) {
      out.print(
        'This is the mosquitto_ctrl interactive shell, for controlling aspects of a mosquitto broker.\n' +
          'You are in dynsec mode, for controlling the dynamic-security clients, groups, and roles used in authentication and authorisation.\n' +
          `Use '${c.input}return${c.reset}' to leave dynsec mode.\n` +
          `Find help on a command using '${c.input}help <command>${c.reset}'\n` +
          'Press tab multiple times to find currently available commands.\n\n',
      );
      return;
    }
    const entry = DYNSEC_HELP.get(lower(command));
    if (entry === undefined) {
      host.helpFinal(command, 'dynsec');
      return;
    }
    for (const synopsis of entry.synopses) out.helpCommand(synopsis);
    out.print(`\n${entry.text}`);
  }

  /** ctrl_shell_command_generic_arg1/arg2: the words under the given member names. */
  function generic(command: string, labels: readonly string[], words: Words): Promise<number> {
    const json: Command = { command };
    for (const label of labels) {
      const word = words.next();
      if (word === null) {
        out.print(`${command} ${labels.join(' ')}\n`);
        return Promise.resolve(3);
      }
      json[label] = word;
    }
    return host.publish(json);
  }

  function listUpdate(command: string): Promise<number> {
    printList = false;
    return host.publish({ command });
  }

  function list(command: string, words: Words): Promise<number> {
    const count = words.next();
    const offset = words.next();
    const json: Command = { command };
    if (count !== null) json.count = atoi(count);
    if (offset !== null) json.offset = atoi(offset);
    printList = true;
    return host.publish(json);
  }

  /** A password typed twice (no echo); null after printing why not. */
  async function passwordTwice(): Promise<string | null> {
    const first = await host.readPassword();
    const second = first === null ? null : await host.readPassword();
    if (first === null || second === null) {
      out.print('No password.\n');
      return null;
    }
    if (first !== second) {
      out.print('Passwords do not match.\n');
      return null;
    }
    return first;
  }

  /** send_create_client: true once sent (whatever the answer), as 2.1 then relists. */
  async function createClient(words: Words): Promise<boolean> {
    const username = words.next();
    if (username === null) {
      out.print(
        'createClient username [password [clientid]]\ncreateClient username password [clientid]\n',
      );
      return false;
    }
    let password = words.next();
    const clientid = password === null ? null : words.next();
    if (password === null) {
      password = await passwordTwice();
      if (password === null) return false;
    }
    const json: Command = { command: 'createClient', username, password };
    if (clientid !== null) json.clientid = clientid;
    await host.publish(json);
    return true;
  }

  async function addRoleAcl(words: Words): Promise<void> {
    const rolename = words.next();
    const acltype = words.next();
    const allow = words.next();
    const priorityWord = words.next();
    let topic = words.next();
    let priority = -1;
    if (priorityWord !== null) {
      if (topic !== null) priority = atoi(priorityWord);
      else topic = priorityWord;
    }
    const usage = 'addRoleACL rolename acltype allow|deny [priority] topic\n';
    if (rolename === null || acltype === null || allow === null || topic === null) {
      out.print(usage);
      return;
    }
    if (!isOneOf(acltype, DYNSEC_ACL_TYPES)) {
      out.print(`${usage}Invalid acltype '${acltype}'\n`);
      return;
    }
    if (!isOneOf(allow, ['allow', 'deny'])) {
      out.print(`${usage}Invalid allow/deny '${allow}'\n`);
      return;
    }
    await host.publish({
      command: 'addRoleACL',
      rolename,
      acltype,
      priority,
      topic,
      allow: lower(allow) === 'allow',
    });
  }

  async function removeRoleAcl(words: Words): Promise<void> {
    const rolename = words.next();
    const acltype = words.next();
    const topic = words.next();
    const usage = 'removeRoleACL rolename acltype topic\n';
    if (rolename === null || acltype === null || topic === null) {
      out.print(usage);
      return;
    }
    if (!isOneOf(acltype, DYNSEC_ACL_TYPES)) {
      out.print(`${usage}Invalid acltype '${acltype}'\n`);
      return;
    }
    await host.publish({ command: 'removeRoleACL', rolename, acltype, topic });
  }

  async function modify(command: string, objectName: string, words: Words): Promise<void> {
    const name = words.next();
    const property = words.next();
    const usage = `${command} ${objectName} <property> <value>\n`;
    if (name === null || property === null) {
      out.print(usage);
      return;
    }
    const value = words.rest();
    if (!isOneOf(property, ['textName', 'textDescription', 'allowWildcardSubs'])) {
      out.print(`${usage}Unknown property '${property}'\n`);
      return;
    }
    const wildcard = lower(property) === 'allowwildcardsubs';
    if (wildcard && !isOneOf(value, ['true', 'false'])) {
      out.print(`${usage}Invalid value '${value}'\n`);
      return;
    }
    await host.publish({
      command,
      [objectName]: name,
      [property]: wildcard ? lower(value) === 'true' : value,
    });
  }

  async function setClientPassword(words: Words): Promise<void> {
    const username = words.next();
    if (username === null) {
      out.print('setClientPassword <username> [password]\n');
      return;
    }
    const password = words.next() ?? (await passwordTwice());
    if (password === null) return;
    await host.publish({ command: 'setClientPassword', username, password });
  }

  async function setDefaultAclAccess(words: Words): Promise<void> {
    const acltype = words.next();
    const allow = acltype === null ? null : words.next();
    if (
      acltype === null ||
      !isOneOf(acltype, DEFAULT_ACL_TYPES) ||
      allow === null ||
      !isOneOf(allow, ['allow', 'deny'])
    ) {
      out.print('setDefaultACLAccess acltype allow|deny\n');
      return;
    }
    await host.publish({
      command: 'setDefaultACLAccess',
      acls: [{ acltype, allow: allow === 'allow' }],
    });
  }

  const generics: ReadonlyMap<string, readonly [string, readonly string[]]> = new Map(
    (
      [
        ['addClientRole', ['username', 'rolename']],
        ['addGroupClient', ['groupname', 'username']],
        ['addGroupRole', ['groupname', 'rolename']],
        ['disableClient', ['username']],
        ['enableClient', ['username']],
        ['getAnonymousGroup', []],
        ['getDetails', []],
        ['getClient', ['username']],
        ['getDefaultACLAccess', []],
        ['getGroup', ['groupname']],
        ['getRole', ['rolename']],
        ['removeClientRole', ['username', 'rolename']],
        ['removeGroupClient', ['groupname', 'username']],
        ['removeGroupRole', ['groupname', 'rolename']],
        ['setAnonymousGroup', ['groupname']],
        ['setClientId', ['username', 'clientid']],
      ] as const
    ).map(([name, labels]) => [lower(name), [name, labels]] as const),
  );

  /** Create/delete commands, and the list refreshed after them. */
  const changes: ReadonlyMap<string, readonly [string, string, string]> = new Map(
    (
      [
        ['createGroup', 'groupname', 'listGroups'],
        ['createRole', 'rolename', 'listRoles'],
        ['deleteClient', 'username', 'listClients'],
        ['deleteGroup', 'groupname', 'listGroups'],
        ['deleteRole', 'rolename', 'listRoles'],
      ] as const
    ).map(([name, label, listing]) => [lower(name), [name, label, listing]] as const),
  );

  async function run(command: string, words: Words): Promise<boolean> {
    const key = lower(command);
    const simple = generics.get(key);
    if (simple !== undefined) {
      await generic(simple[0], simple[1], words);
      return true;
    }
    const change = changes.get(key);
    if (change !== undefined) {
      if ((await generic(change[0], [change[1]], words)) === 0) await listUpdate(change[2]);
      return true;
    }
    switch (key) {
      case 'addroleacl':
        await addRoleAcl(words);
        break;
      case 'createclient':
        if (await createClient(words)) await listUpdate('listClients');
        break;
      case 'listclients':
        await list('listClients', words);
        break;
      case 'listgroups':
        await list('listGroups', words);
        break;
      case 'listroles':
        await list('listRoles', words);
        break;
      case 'removeroleacl':
        await removeRoleAcl(words);
        break;
      case 'setclientpassword':
        await setClientPassword(words);
        break;
      case 'modifyclient':
        await modify('modifyClient', 'username', words);
        break;
      case 'modifygroup':
        await modify('modifyGroup', 'groupname', words);
        break;
      case 'modifyrole':
        await modify('modifyRole', 'rolename', words);
        break;
      case 'setdefaultaclaccess':
        await setDefaultAclAccess(words);
        break;
      case 'help':
        help(words);
        break;
      default:
        return false;
    }
    return true;
  }

  return {
    name: 'dynsec',
    requestTopic: '$CONTROL/dynamic-security/v1',
    responseTopic: '$CONTROL/dynamic-security/v1/response',
    commands: completionTree(commands),
    run,
    onResponse(command, data) {
      const lists = { listClients: 'clients', listGroups: 'groups', listRoles: 'roles' } as const;
      if (command === 'listClients' || command === 'listGroups' || command === 'listRoles') {
        const kind = lists[command];
        const names = member(data, kind);
        const found: string[] = [];
        for (const name of Array.isArray(names) ? names : []) {
          const text = typeof name === 'string' ? name : '(null)';
          if (printList) out.value(0, `${text}\n`);
          found.push(text);
        }
        known[kind] = found;
        printList = false;
        return;
      }
      printResponse(host, command, data);
    },
    async onSubscribe() {
      if ((await listUpdate('listClients')) !== 0) {
        out.print('Check the dynsec module is configured on the broker.\n');
        return;
      }
      await listUpdate('listGroups');
      await listUpdate('listRoles');
    },
  };
}

/** The answers with data other than the lists, in the shell's layout. */
function printResponse(host: ShellHost, command: string, data: Record<string, unknown>): void {
  const out = host.output;
  const c = out.colours;
  const invalid = (): void => {
    out.print('Invalid response from broker.\n');
  };

  /** print_json_value: strings as they are, anything else as cJSON prints it. */
  const jsonValue = (value: unknown, nullValue: string): string => {
    if (value === undefined) return nullValue;
    if (typeof value === 'string') return value;
    return JSON.stringify(value);
  };

  function printArray(
    list: unknown,
    label: string,
    elementName: string,
    optional: string | null,
  ): void {
    if (!Array.isArray(list) || list.length === 0) return;
    out.label(0, label);
    for (const element of list) {
      if (typeof element === 'object' && element !== null && !Array.isArray(element)) {
        const name = jsonString(element, elementName);
        if (name === null) continue;
        out.value(1, name);
        if (optional !== null) {
          out.value(0, ` (${optional}: ${jsonValue(member(element, optional), '-1')})`);
        }
      } else if (typeof element === 'string') {
        out.value(1, element);
      }
      out.value(0, '\n');
    }
  }

  /** The name and text fields every object has; false when the name is missing. */
  function printHeader(object: unknown, nameKey: string, nameLabel: string): boolean {
    const name = jsonString(object, nameKey);
    if (name === null) {
      invalid();
      return false;
    }
    out.label(0, nameLabel);
    out.value(1, `${name}\n`);
    return true;
  }

  function printTexts(object: unknown): void {
    for (const [key, label] of [
      ['textname', 'Text name:'],
      ['textdescription', 'Text description:'],
    ] as const) {
      const text = jsonString(object, key);
      if (text !== null) {
        out.label(0, label);
        out.value(1, `${text}\n`);
      }
    }
  }

  function integer(object: unknown, name: string): string {
    const value = member(object, name);
    return typeof value === 'number' ? String(Math.trunc(value)) : '0';
  }

  switch (lower(command)) {
    case 'getanonymousgroup': {
      const name = member(member(data, 'group'), 'groupname');
      out.value(0, `${typeof name === 'string' ? name : '(null)'}\n`);
      return;
    }
    case 'getdetails': {
      const align = 'Change index: '.length;
      out.labelValue(0, 'Client count:', align, `${integer(data, 'clientCount')}\n`);
      out.labelValue(0, 'Group count:', align, `${integer(data, 'groupCount')}\n`);
      out.labelValue(0, 'Role count:', align, `${integer(data, 'roleCount')}\n`);
      out.labelValue(0, 'Change index:', align, `${integer(data, 'changeIndex')}\n`);
      return;
    }
    case 'getclient': {
      const client = member(data, 'client');
      if (client === undefined) {
        invalid();
        return;
      }
      if (!printHeader(client, 'username', 'Username:')) return;
      const clientid = jsonString(client, 'clientid');
      if (clientid !== null) {
        out.label(0, 'Clientid:');
        out.value(1, `${clientid}\n`);
      }
      if (member(client, 'disabled') === true) {
        out.label(0, 'Disabled:');
        out.value(1, 'true\n');
      }
      printTexts(client);
      printArray(member(client, 'roles'), 'Roles:', 'rolename', 'priority');
      printArray(member(client, 'groups'), 'Groups:', 'groupname', 'priority');
      return;
    }
    case 'getgroup': {
      const group = member(data, 'group');
      if (group === undefined) {
        invalid();
        return;
      }
      if (!printHeader(group, 'groupname', 'Group name:')) return;
      printTexts(group);
      printArray(member(group, 'roles'), 'Roles:', 'rolename', 'priority');
      printArray(member(group, 'clients'), 'Clients:', 'username', null);
      return;
    }
    case 'getrole': {
      const role = member(data, 'role');
      if (role === undefined) {
        invalid();
        return;
      }
      if (!printHeader(role, 'rolename', 'Role name:')) return;
      printTexts(role);
      const wildcard = member(role, 'allowwildcardsubs');
      if (typeof wildcard === 'boolean') {
        out.label(0, 'Allow wildcard subscriptions:');
        out.value(1, `${wildcard ? 'true' : 'false'}\n`);
      }
      const acls = member(role, 'acls');
      if (!Array.isArray(acls) || acls.length === 0) return;
      out.label(0, 'ACLs:');
      for (const acl of acls) {
        const acltype = jsonString(acl, 'acltype');
        const topic = jsonString(acl, 'topic');
        const priority = member(acl, 'priority');
        const allow = member(acl, 'allow');
        if (acltype === null || topic === null || typeof allow !== 'boolean') continue;
        if (priority !== undefined && typeof priority !== 'number') continue;
        const verdict = allow ? `${c.positive}allow${c.reset}` : `${c.negative}deny${c.reset}`;
        const shown = typeof priority === 'number' ? Math.trunc(priority) : -1;
        out.value(
          1,
          `${acltype.padEnd(ACL_WIDTH)} ${verdict} ${c.topic}${topic}${c.reset} (priority ${shown})\n`,
        );
      }
      return;
    }
    case 'getdefaultaclaccess': {
      const acls = member(data, 'acls');
      if (!Array.isArray(acls)) return;
      for (const acl of acls) {
        const acltype = jsonString(acl, 'acltype');
        const allow = member(acl, 'allow');
        if (acltype === null || typeof allow !== 'boolean') continue;
        out.value(0, `${acltype.padEnd(ACL_WIDTH)} ${allow ? 'allow' : 'deny'}\n`);
      }
      return;
    }
    default:
      return;
  }
}
