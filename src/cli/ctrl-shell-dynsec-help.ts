/**
 * `help <command>` in the shell's dynsec mode (ctrl_shell_dynsec.c of Mosquitto 2.1): the
 * synopsis lines (printed in the input colour) and the description after a blank line.
 */

interface DynsecHelp {
  readonly synopses: readonly string[];
  readonly text: string;
}

const aclTypes = [
  'publishClientReceive',
  'publishClientSend',
  'subscribeLiteral',
  'subscribePattern',
  'unsubscribeLiteral',
  'unsubscribePattern',
];

const FREE_TEXT = 'These are free-text fields for your own use.\n';

const entries: readonly (readonly [string, readonly string[], string])[] = [
  ['addClientRole', ['addClientRole <username> <rolename>'], 'Adds a role directly to a client.\n'],
  ['addGroupClient', ['addGroupClient <groupname> <username>'], 'Adds a client to a group.\n'],
  ['addGroupRole', ['addGroupRole <groupname> <rolename>'], 'Adds a role to a group.\n'],
  [
    'addRoleACL',
    aclTypes.map((type) => `addRoleACL <rolename> ${type} allow|deny [priority] <topic>`),
    'Adds an ACL to a role, with an optional priority.\n' +
      '\nACLs of a specific type within a role are processed in order from highest to lowest priority with the first matching ACL applying.\n',
  ],
  [
    'createClient',
    ['createClient <username> [password [clientid]]'],
    'Create a client with password and optional client id.\n',
  ],
  ['createGroup', ['createGroup <groupname>'], 'Create a new group.\n'],
  ['createRole', ['createRole <rolename>'], 'Create a new role.\n'],
  ['deleteClient', ['deleteClient <username>'], 'Delete a client\n'],
  ['deleteGroup', ['deleteGroup <groupname>'], 'Delete a group\n'],
  ['deleteRole', ['deleteRole <rolename>'], 'Delete a role\n'],
  [
    'disableClient',
    ['disableClient <username>'],
    'Disable a client. This client will not be able to log in, and will be kicked if it has an existing session.\n',
  ],
  [
    'enableClient',
    ['enableClient <username>'],
    'Enable a client. Disabled clients are unable to log in.\n',
  ],
  [
    'getAnonymousGroup',
    ['getAnonymousGroup'],
    'Print the group configured as the anonymous group.\n',
  ],
  [
    'getDetails',
    ['getDetails'],
    'Print details including the client, group, and role count, and the current change index.\n',
  ],
  [
    'getClient',
    ['getClient <username>'],
    'Print details of a client and its groups and direct roles.\n',
  ],
  [
    'getDefaultACLAccess',
    ['getDefaultACLAccess'],
    'Print the default allow/deny values for the different classes of ACL.\n',
  ],
  ['getGroup', ['getGroup <groupname>'], 'Print details of a group and its roles.\n'],
  ['getRole', ['getRole <rolename>'], 'Print details of a role and its ACLs.\n'],
  ...(['Clients', 'Groups', 'Roles'] as const).map(
    (kind) =>
      [
        `list${kind}`,
        [`list${kind} [count [offset]]`],
        `Print a list of ${kind.toLowerCase()} configured in the dynsec plugin, with an optional total count and list offset.\n`,
      ] as const,
  ),
  [
    'removeClientRole',
    ['removeClientRole <username> <rolename>'],
    'Removes a role from a client, where the role was directly attached to the client.\n',
  ],
  [
    'removeGroupClient',
    ['removeGroupClient <groupname> <username>'],
    'Removes a client from a group.\n',
  ],
  ['removeGroupRole', ['removeGroupRole <groupname> <rolename>'], 'Removes a role from a group.\n'],
  [
    'removeRoleACL',
    aclTypes.map((type) => `removeRoleACL <rolename> ${type} <topic>`),
    'Removes an ACL from a role.\n',
  ],
  [
    'setAnonymousGroup',
    ['setAnonymousGroup <groupname>'],
    'Sets the anonymous group to a new group.\n',
  ],
  [
    'setClientId',
    ['setClientId <username>', 'setClientId <username> <clientid>'],
    'Sets or clears the clientid associated with a client. If a client has a clientid, all three of username, password, and clientid must match for a client to be able to authenticate.\n',
  ],
  [
    'setClientPassword',
    ['setClientPassword <username> [password]'],
    'Sets a new password for a client.\n',
  ],
  [
    'setDefaultACLAccess',
    ['publishClientReceive', 'publishClientSend', 'subscribe', 'unsubscribe'].map(
      (type) => `setDefaultACLAccess ${type} allow|deny`,
    ),
    'Sets the default ACL access to use for an ACL type. The default access will be applied if no other ACL rules match.\n' +
      "Setting a rule to 'allow' means that if no ACLs match, it will be accepted.\n" +
      "Setting a rule to 'deny' means that if no ACLs match, it will be denied.\n",
  ],
  [
    'modifyClient',
    [
      'modifyClient <username> textName <textname>',
      'modifyClient <username> textDescription <textdescription>',
    ],
    'Modify the text name or text description for a client.\n' + FREE_TEXT,
  ],
  [
    'modifyGroup',
    [
      'modifyGroup <groupname> textName <textname>',
      'modifyGroup <groupname> textDescription <textdescription>',
    ],
    'Modify the text name or text description for a group.\n' + FREE_TEXT,
  ],
  [
    'modifyRole',
    [
      'modifyRole <rolename> allowWildcardSubs true|false',
      'modifyRole <rolename> textName <textname>',
      'modifyRole <rolename> textDescription <textdescription>',
    ],
    'Modify the text name or text description for a role.\n' + FREE_TEXT,
  ],
];

/** By lower-case command name. */
export const DYNSEC_HELP: ReadonlyMap<string, DynsecHelp> = new Map(
  entries.map(([name, synopses, text]) => [name.toLowerCase(), { synopses, text }]),
);

export const DYNSEC_ACL_TYPES: readonly string[] = aclTypes;
