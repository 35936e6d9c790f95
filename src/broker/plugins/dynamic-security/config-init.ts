/**
 * Mosquitto 2.1's generated dynamic security config (config_init.c), written when the
 * config file does not exist: the admin client (roles super-admin, sys-observe,
 * topic-observe), the "unauthenticated" anonymous group, and the seven standard roles.
 *
 * The admin password comes, in order, from password_init_file (its first line, trailing
 * white space removed), from the MOSQUITTO_DYNSEC_PASSWORD environment variable (at least
 * 12 characters), or is generated: then a "democlient" is added too and both passwords
 * are written in plain text to `<config file>.pw`, as 2.1 does.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { pbkdf2Sync, randomBytes, randomInt } from 'node:crypto';

/** 2.1's PW_DEFAULT_ITERATIONS and its salt length (HASH_LEN, 64 bytes). */
const INIT_ITERATIONS = 1000;
const INIT_SALT_BYTES = 64;
const PW_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-=_+[]{}@#~,./<>?';

export class ConfigInitError extends Error {
  override readonly name = 'ConfigInitError';
}

export interface InitLog {
  info(s: string): void;
  error(s: string): void;
}

function encoded(password: string): string {
  const salt = randomBytes(INIT_SALT_BYTES);
  const hash = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, INIT_ITERATIONS, 64, 'sha512');
  return `$7$${INIT_ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

function passwordFromFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    throw new ConfigInitError(
      `Error: Unable to get initial password from '${file}', file not accessible.`,
    );
  }
  if (text === '') {
    throw new ConfigInitError(`Error: Unable to get initial password from '${file}', file empty.`);
  }
  const nl = text.indexOf('\n');
  const line = (nl === -1 ? text : text.slice(0, nl + 1)).slice(0, 1023).replace(/\s+$/, '');
  if (line === '') {
    throw new ConfigInitError(
      `Error: Unable to get initial password from '${file}', password is empty.`,
    );
  }
  return Buffer.from(line, 'latin1').toString('utf8');
}

function randomPassword(): string {
  let out = '';
  for (let i = 0; i < 20; i++) out += PW_CHARS.charAt(randomInt(PW_CHARS.length));
  return out;
}

type AclJson = { acltype: string; topic: string; priority: number; allow: boolean };
const acl = (acltype: string, topic: string): AclJson => ({
  acltype,
  topic,
  priority: 0,
  allow: true,
});
const full = (topic: string): AclJson[] => [
  acl('publishClientSend', topic),
  acl('publishClientReceive', topic),
  acl('subscribePattern', topic),
  acl('unsubscribePattern', topic),
];

/** The generated config's text; `writePwFile` receives the `.pw` file's text if any. */
export function generateInitialConfig(
  configFile: string,
  passwordInitFile: string | null,
  log: InitLog,
  env: NodeJS.ProcessEnv = process.env,
): { text: string; pwFile: string | null } {
  log.info('Dynamic security plugin config not found, generating a default config.');
  let adminPassword: string;
  let random = false;
  if (passwordInitFile !== null) {
    log.info(`  Using admin password from file '${passwordInitFile}'`);
    adminPassword = passwordFromFile(passwordInitFile);
  } else if (env.MOSQUITTO_DYNSEC_PASSWORD !== undefined) {
    log.info('  Using admin password from MOSQUITTO_DYNSEC_PASSWORD environment variable');
    adminPassword = env.MOSQUITTO_DYNSEC_PASSWORD;
    if (adminPassword.length < 12) {
      throw new ConfigInitError(
        'Error: Not generating dynsec config, MOSQUITTO_DYNSEC_PASSWORD must be at least 12 characters.',
      );
    }
  } else {
    log.info(`  Generated passwords are at ${configFile}.pw`);
    adminPassword = randomPassword();
    random = true;
  }
  const clients: Record<string, unknown>[] = [
    {
      encoded_password: encoded(adminPassword),
      username: 'admin',
      textname: 'Admin user',
      roles: [
        { rolename: 'super-admin' },
        { rolename: 'sys-observe' },
        { rolename: 'topic-observe' },
      ],
    },
  ];
  let pwFile: string | null = null;
  if (random) {
    const demo = randomPassword();
    clients.push({
      encoded_password: encoded(demo),
      username: 'democlient',
      textname: "Demonstration client with full read/write access to the '#' topic hierarchy.",
      roles: [{ rolename: 'client' }],
    });
    pwFile = `admin ${adminPassword}\ndemoclient ${demo}\n`;
  }
  const tree = {
    defaultACLAccess: {
      publishClientSend: false,
      publishClientReceive: true,
      subscribe: false,
      unsubscribe: true,
    },
    clients,
    groups: [
      {
        groupname: 'unauthenticated',
        textname: 'Unauthenticated group',
        textdescription:
          'If unauthenticated access is allowed, this group can be used to define roles for clients that connect without a password.',
        roles: [],
      },
    ],
    roles: [
      {
        rolename: 'client',
        textdescription: 'Read/write access to the full application topic hierarchy.',
        acls: full('#'),
      },
      {
        rolename: 'broker-admin',
        textdescription: 'Grants access to administer general broker configuration.',
        acls: full('$CONTROL/broker/#'),
      },
      {
        rolename: 'dynsec-admin',
        textdescription: 'Grants access to administer clients/groups/roles.',
        acls: full('$CONTROL/dynamic-security/#'),
      },
      {
        rolename: 'super-admin',
        textdescription: 'Grants access to administer all kind of broker controls',
        acls: full('$CONTROL/#'),
      },
      {
        rolename: 'sys-notify',
        textdescription: 'Allow bridges to publish connection state messages.',
        acls: [acl('publishClientSend', '$SYS/broker/connection/%c/state')],
      },
      {
        rolename: 'sys-observe',
        textdescription: 'Observe the $SYS topic hierarchy.',
        acls: [acl('publishClientReceive', '$SYS/#'), acl('subscribePattern', '$SYS/#')],
      },
      {
        rolename: 'topic-observe',
        textdescription: 'Read only access to the full application topic hierarchy.',
        acls: [
          acl('publishClientReceive', '#'),
          acl('subscribePattern', '#'),
          acl('unsubscribePattern', '#'),
        ],
      },
    ],
    anonymousGroup: 'unauthenticated',
  };
  return { text: JSON.stringify(tree, null, '\t'), pwFile };
}

/** Writes a new file readable by its owner only (as mosquitto_fopen(..., restrict)). */
export function writeRestricted(path: string, text: string): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
