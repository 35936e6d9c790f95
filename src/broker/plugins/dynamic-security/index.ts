/**
 * Mosquitto's dynamic security plugin (2.0.22, with 2.1's allowwildcardsubs, %c/%u ACL
 * levels, encoded_password and initial config generation) as a module the plugin host calls.
 */
import { isMosquittoUtf8 } from '../../../common/mosquitto-utf8.ts';
import type { PasswordHash } from '../../../common/password.ts';
import { CHEAP_PBKDF2_ITERATIONS, decoyHashFor } from '../../../common/password.ts';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { createHash, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigInitError, generateInitialConfig, writeRestricted } from './config-init.ts';
import { aclMatchesFilter, aclMatchesTopic, isValidAclTopic } from './acl-match.ts';
import {
  ACL_TYPES,
  DynsecConfigError,
  aclsJson,
  cmp,
  configJson,
  emptyAcls,
  field,
  parseConfig,
  sortAcls,
  sortRefs,
  type AclType,
  type Client,
  type DynsecState,
  type Group,
  type Role,
  type RoleRef,
} from './model.ts';

export { DynsecConfigError } from './model.ts';

export interface DynsecOptions {
  readonly configFile: string;
  /** 2.1: the initial admin password comes from this file when the config is generated. */
  readonly passwordInitFile?: string | null;
}
export interface DynsecLog {
  info(s: string): void;
  warning(s: string): void;
  error(s: string): void;
}
export type DynsecAccess =
  'publish-client-send' | 'publish-client-receive' | 'subscribe' | 'unsubscribe';
export type DynsecDecision = 'allow' | 'deny' | 'defer';
/** A client to disconnect: by username, or `{}` for every client without a username. */
export interface DynsecKick {
  username?: string;
  clientId?: string;
}

/** Mosquitto 2.0's PW_DEFAULT_ITERATIONS for the plugin's hashes. */
export const DYNSEC_ITERATIONS = 101;

/** The hash of `password` with `pw`'s parameters: at once when cheap, else from the pool. */
function derivePassword(password: Buffer, pw: PasswordHash): Buffer | Promise<Buffer> {
  if (pw.type === 6) return createHash('sha512').update(password).update(pw.salt).digest();
  // ~38 µs for 2.0's 101 iterations: cheaper here than a trip to the thread pool, which
  // competes with the event loop for the cores (see CHEAP_PBKDF2_ITERATIONS).
  if (pw.iterations <= CHEAP_PBKDF2_ITERATIONS) {
    return pbkdf2Sync(password, pw.salt, pw.iterations, 64, 'sha512');
  }
  return new Promise<Buffer>((resolve, reject) => {
    pbkdf2(password, pw.salt, pw.iterations, 64, 'sha512', (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}
const SALT_BYTES = 12;
const CACHE_LIMIT = 100_000;

/** A derived hash against the stored one, in constant time. */
function matches(derived: Buffer, stored: Buffer): DynsecDecision {
  return derived.length === stored.length && timingSafeEqual(derived, stored) ? 'allow' : 'deny';
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A JSON string whose bytes were not valid UTF-8 (cJSON keeps such bytes; the plugin then
 * rejects them where it calls mosquitto_validate_utf8). `text` is the lossy decoding.
 */
class InvalidUtf8 {
  constructor(readonly text: string) {}
}

const UTF8_ERRORS: Readonly<Record<string, string>> = {
  username: 'Username not valid UTF-8',
  clientid: 'Client ID not valid UTF-8',
  groupname: 'Group name not valid UTF-8',
  rolename: 'Role name not valid UTF-8',
  topic: 'Topic not valid UTF-8',
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The request: parsed as UTF-8, or byte-wise with invalid strings marked (InvalidUtf8). */
function parsePayload(payload: Buffer): unknown {
  let text: string | null;
  try {
    text = strictUtf8.decode(payload);
  } catch {
    text = null;
  }
  if (text !== null) return JSON.parse(text);
  const fix = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const bytes = Buffer.from(v, 'latin1');
      try {
        return strictUtf8.decode(bytes);
      } catch {
        return new InvalidUtf8(bytes.toString('utf8'));
      }
    }
    if (Array.isArray(v)) return v.map(fix);
    if (isObj(v)) {
      const out: Json = {};
      for (const [k, x] of Object.entries(v)) {
        out[Buffer.from(k, 'latin1').toString('utf8')] = fix(x);
      }
      return out;
    }
    return v;
  };
  return fix(JSON.parse(payload.toString('latin1')));
}

/** A string value (an invalid-UTF-8 one as its lossy decoding); null when not a string. */
function asString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  return v instanceof InvalidUtf8 ? v.text : null;
}

/** Thrown inside a command handler: the reply's error text. */
class Reply extends Error {
  constructor(readonly text: string) {
    super(text);
  }
}

/**
 * cJSON-like getters: json_get_string / json_get_int / json_get_bool. Names, ids and topics
 * are then checked as UTF-8 as the plugin does (`checkUtf8` false where it does not).
 */
function getString(
  o: Json,
  key: string,
  optional: boolean,
  err: string,
  checkUtf8 = true,
): string | null {
  const v = field(o, key);
  if (v === undefined) {
    if (optional) return null;
    throw new Reply(err);
  }
  const text = asString(v);
  if (text === null) throw new Reply(err);
  const utf8Error = UTF8_ERRORS[key];
  // mosquitto_validate_utf8() also refuses well-formed text with U+0000, control
  // characters or non-characters (Mosquitto's 14-dynsec-*-invalid tests send U+FFFF).
  const invalid = v instanceof InvalidUtf8 || !isMosquittoUtf8(Buffer.from(text, 'utf8'));
  if (invalid && checkUtf8 && utf8Error !== undefined) throw new Reply(utf8Error);
  return text;
}
/** getString() of a field that must be there: its value, or the Reply `err`. */
function requireString(o: Json, key: string, err: string): string {
  return getString(o, key, false, err) as string;
}
function optString(o: Json, key: string): string | null {
  return asString(field(o, key));
}
function getInt(o: Json, key: string, dflt: number): number {
  const v = field(o, key);
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : dflt;
}
function getBool(o: Json, key: string, dflt: boolean): boolean {
  const v = field(o, key);
  return typeof v === 'boolean' ? v : dflt;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.new`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export class DynamicSecurity {
  private state: DynsecState;
  private readonly cache = new Map<string, DynsecDecision>();
  /** 2.1's changeIndex: read from the file when it has one, not written back (2.0 format). */
  private changeIndex: number;

  private constructor(
    private readonly options: DynsecOptions,
    private readonly log: DynsecLog,
    state: DynsecState,
  ) {
    this.state = state;
    this.changeIndex = state.changeIndex;
  }

  static open(options: DynsecOptions, log: DynsecLog): DynamicSecurity {
    let text: string;
    try {
      text = readFileSync(options.configFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        const reason =
          code === 'EISDIR' ? 'Config is not a file.' : 'File is not readable - check permissions.';
        log.error(`Error loading Dynamic security plugin config: ${reason}`);
        throw new DynsecConfigError(options.configFile, reason);
      }
      // 2.1: a missing file is generated (2.0 refuses to start instead).
      let generated: { text: string; pwFile: string | null };
      try {
        generated = generateInitialConfig(
          options.configFile,
          options.passwordInitFile ?? null,
          log,
        );
      } catch (e) {
        if (e instanceof ConfigInitError) {
          log.error(e.message);
          throw new DynsecConfigError(options.configFile, e.message);
        }
        throw e;
      }
      try {
        if (generated.pwFile !== null)
          writeRestricted(`${options.configFile}.pw`, generated.pwFile);
        writeAtomic(options.configFile, generated.text);
      } catch (e) {
        throw new DynsecConfigError(options.configFile, (e as Error).message);
      }
      text = generated.text;
    }
    try {
      return new DynamicSecurity(options, log, parseConfig(text, options.configFile));
    } catch (e) {
      if (e instanceof DynsecConfigError) {
        log.error(`Error loading Dynamic security plugin config: ${e.reason}`);
      }
      throw e;
    }
  }

  reload(): void {
    try {
      const text = readFileSync(this.options.configFile, 'utf8');
      this.state = parseConfig(text, this.options.configFile);
      this.changeIndex = this.state.changeIndex;
      this.cache.clear();
    } catch (err) {
      this.log.error(
        `Dynamic security plugin: reload failed, keeping the old config: ${(err as Error).message}`,
      );
    }
  }

  private save(): void {
    try {
      writeAtomic(
        this.options.configFile,
        `${JSON.stringify(configJson(this.state), null, '\t')}\n`,
      );
    } catch (err) {
      this.log.error(`Error saving Dynamic security plugin config: ${(err as Error).message}`);
    }
  }

  /**
   * The plugin's basic auth. Answers at once unless the hash is an expensive PBKDF2 one
   * (above CHEAP_PBKDF2_ITERATIONS), which is computed on the thread pool: the broker then
   * holds the client in its Authenticating state.
   */
  authenticate(
    clientId: string,
    username: string | null,
    password: Buffer | null,
  ): DynsecDecision | Promise<DynsecDecision> {
    if (username === null || password === null) return 'defer';
    const client = this.state.clients.get(username);
    // Every answer but a real check comes only after hashing against a decoy, as long
    // as a wrong password takes: timing must not tell which usernames exist.
    let early: DynsecDecision | null = null;
    if (client === undefined) early = 'defer';
    else if (client.disabled) early = 'deny';
    else if (client.clientid !== null && client.clientid !== clientId) early = 'deny';
    else if (client.pw === null) early = 'defer';
    const pw = client?.pw ?? null;
    if (early !== null || pw === null) {
      const answer = early ?? 'defer';
      const decoy = derivePassword(password, this.decoyPassword());
      return decoy instanceof Promise ? decoy.then(() => answer) : answer;
    }
    const derived = derivePassword(password, pw);
    return derived instanceof Promise
      ? derived.then((key) => matches(key, pw.hash))
      : matches(derived, pw.hash);
  }

  /** What unknown clients' passwords are hashed against (common/password.ts decoyHash). */
  private decoyPassword(): PasswordHash {
    const clients = this.state.clients;
    return decoyHashFor(clients, () => {
      for (const client of clients.values()) if (client.pw !== null) return client.pw;
      return undefined;
    });
  }

  aclCheck(
    clientId: string,
    username: string | null,
    access: DynsecAccess,
    topic: string,
  ): DynsecDecision {
    const key = `${access}\0${clientId}\0${username ?? '\u0001'}\0${topic}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const result = this.evaluate(clientId, username, access, topic);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, result);
    return result;
  }

  private checkRoles(
    refs: readonly RoleRef[],
    clientId: string,
    username: string | null,
    access: DynsecAccess,
    topic: string,
  ): DynsecDecision | null {
    const hasWildcard = /[+#]/.test(topic);
    for (const ref of refs) {
      const role = this.state.roles.get(ref.rolename);
      if (role === undefined) continue;
      if (access === 'publish-client-send' || access === 'publish-client-receive') {
        const list =
          access === 'publish-client-send'
            ? role.acls.publishClientSend
            : role.acls.publishClientReceive;
        for (const acl of list) {
          if (aclMatchesTopic(acl.topic, topic, clientId, username)) {
            return acl.allow ? 'allow' : 'deny';
          }
        }
        continue;
      }
      if (access === 'subscribe' && !role.allowwildcardsubs && hasWildcard) return 'deny';
      const literal =
        access === 'subscribe' ? role.acls.subscribeLiteral : role.acls.unsubscribeLiteral;
      const lit = literal.find((a) => a.topic === topic);
      if (lit !== undefined) return lit.allow ? 'allow' : 'deny';
      const pattern =
        access === 'subscribe' ? role.acls.subscribePattern : role.acls.unsubscribePattern;
      for (const acl of pattern) {
        if (aclMatchesFilter(acl.topic, topic, clientId, username)) {
          return acl.allow ? 'allow' : 'deny';
        }
      }
    }
    return null;
  }

  private evaluate(
    clientId: string,
    username: string | null,
    access: DynsecAccess,
    topic: string,
  ): DynsecDecision {
    const s = this.state;
    if (username !== null) {
      const client = s.clients.get(username);
      if (client === undefined) return 'defer';
      const r = this.checkRoles(client.roles, clientId, username, access, topic);
      if (r !== null) return r;
      for (const g of this.groupsOf(username)) {
        const group = s.groups.get(g.groupname);
        if (group === undefined) continue;
        const gr = this.checkRoles(group.roles, clientId, username, access, topic);
        if (gr !== null) return gr;
      }
    } else if (s.anonymousGroup !== null) {
      const group = s.groups.get(s.anonymousGroup);
      if (group !== undefined) {
        const r = this.checkRoles(group.roles, clientId, username, access, topic);
        if (r !== null) return r;
      }
    }
    const d = s.defaultAccess;
    const dflt =
      access === 'subscribe'
        ? d.subscribe
        : access === 'unsubscribe'
          ? d.unsubscribe
          : access === 'publish-client-send'
            ? d.publishClientSend
            : d.publishClientReceive;
    if (!dflt) return 'defer';
    // Fall-through access never reaches $CONTROL topics.
    return topic.startsWith('$CONTROL') ? 'defer' : 'allow';
  }

  /** The client's groups, priority high to low then name (the plugin's grouplist order). */
  private groupsOf(username: string): { groupname: string; priority: number }[] {
    const out: { groupname: string; priority: number }[] = [];
    for (const g of this.state.groups.values()) {
      const m = g.clients.find((x) => x.username === username);
      if (m !== undefined) out.push({ groupname: g.groupname, priority: m.priority });
    }
    sortRefs(out, (x) => x.groupname);
    return out;
  }

  handleControl(
    _sourceClientId: string,
    _sourceUsername: string | null,
    payload: Buffer,
  ): { response: Buffer; kick: readonly DynsecKick[] } {
    const responses: Json[] = [];
    const kick: DynsecKick[] = [];
    let changed = false;
    const reply = (command: string, error: string | null, corr: string | null): void => {
      const j: Json = { command };
      if (error !== null) j.error = error;
      if (corr !== null) j.correlationData = corr;
      responses.push(j);
    };
    try {
      let tree: unknown;
      try {
        tree = parsePayload(payload);
      } catch {
        tree = undefined;
      }
      if (tree === undefined) {
        reply('Unknown command', 'Payload not valid JSON', null);
      } else if (!isObj(tree) || !Array.isArray(field(tree, 'commands'))) {
        reply('Unknown command', 'Invalid/missing commands', null);
      } else {
        for (const item of field(tree, 'commands') as unknown[]) {
          if (!isObj(item)) {
            reply('Unknown command', 'Command not an object', null);
            continue;
          }
          const command = asString(field(item, 'command'));
          if (command === null) {
            reply('Unknown command', 'Missing command', null);
            continue;
          }
          const corrRaw = field(item, 'correlationData');
          if (corrRaw !== undefined && asString(corrRaw) === null) {
            reply(command, 'Invalid correlationData data type.', null);
            break;
          }
          const corr = asString(corrRaw);
          // Command names are matched ignoring case (strcasecmp); replies use the
          // plugin's own spelling.
          const name = this.commandNames.get(command.toLowerCase());
          const handler = name === undefined ? undefined : this.commands[name];
          if (name === undefined || handler === undefined) {
            reply(command, 'Unknown command', corr);
            continue;
          }
          try {
            const result = handler(item, kick);
            if (result.changed) {
              changed = true;
              this.changeIndex++;
            }
            if (result.data !== undefined) {
              const j: Json = { command: name, data: result.data };
              if (corr !== null) j.correlationData = corr;
              responses.push(j);
            } else {
              reply(name, null, corr);
            }
          } catch (err) {
            if (err instanceof Reply) reply(name, err.text, corr);
            else reply(name, 'Internal error', corr);
          }
        }
      }
    } catch {
      responses.length = 0;
      reply('Unknown command', 'Internal error', null);
    }
    if (changed) {
      this.cache.clear();
      this.save();
    }
    return { response: Buffer.from(JSON.stringify({ responses })), kick };
  }

  // ---- commands ---------------------------------------------------------------------

  private readonly commands: Record<
    string,
    (c: Json, kick: DynsecKick[]) => { changed: boolean; data?: Json }
  > = {
    setDefaultACLAccess: (c) => {
      const acls = field(c, 'acls');
      if (!Array.isArray(acls)) throw new Reply('Missing/invalid actions array');
      const d = this.state.defaultAccess;
      for (const a of acls as unknown[]) {
        if (!isObj(a)) continue;
        const acltype = asString(field(a, 'acltype'));
        const allow = field(a, 'allow');
        if (acltype === null || typeof allow !== 'boolean') continue;
        if (acltype === 'publishClientSend') d.publishClientSend = allow;
        else if (acltype === 'publishClientReceive') d.publishClientReceive = allow;
        else if (acltype === 'subscribe') d.subscribe = allow;
        else if (acltype === 'unsubscribe') d.unsubscribe = allow;
      }
      return { changed: true };
    },
    getDefaultACLAccess: () => {
      const d = this.state.defaultAccess;
      return {
        changed: false,
        data: {
          acls: [
            { acltype: 'publishClientSend', allow: d.publishClientSend },
            { acltype: 'publishClientReceive', allow: d.publishClientReceive },
            { acltype: 'subscribe', allow: d.subscribe },
            { acltype: 'unsubscribe', allow: d.unsubscribe },
          ],
        },
      };
    },

    createClient: (c) => {
      const username = requireString(c, 'username', 'Invalid/missing username');
      const password = getString(c, 'password', true, 'Invalid/missing password');
      const clientid = getString(c, 'clientid', true, 'Invalid/missing client id');
      const textname = getString(c, 'textname', true, 'Invalid/missing textname');
      const textdescription = getString(
        c,
        'textdescription',
        true,
        'Invalid/missing textdescription',
      );
      if (this.state.clients.has(username)) throw new Reply('Client already exists');
      const roles = this.roleRefs(c);
      const groups = this.groupRefs(c, 'Group not found', 'Group not found');
      const client: Client = {
        username,
        clientid: clientid !== null && clientid !== '' ? clientid : null,
        textname,
        textdescription,
        disabled: false,
        pw: password !== null ? this.newPw(password) : null,
        encoded: null,
        roles,
      };
      this.state.clients.set(username, client);
      this.sortClients();
      for (const g of groups) this.addMember(g.groupname, username, g.priority);
      return { changed: true };
    },
    deleteClient: (c, kick) => {
      const username = getString(c, 'username', false, 'Invalid/missing username', false) as string;
      if (!this.state.clients.has(username)) throw new Reply('Client not found');
      this.state.clients.delete(username);
      for (const g of this.state.groups.values()) {
        g.clients = g.clients.filter((m) => m.username !== username);
      }
      kick.push({ username });
      return { changed: true };
    },
    disableClient: (c, kick) => {
      const client = this.client(c);
      client.disabled = true;
      kick.push({ username: client.username });
      return { changed: true };
    },
    enableClient: (c) => {
      this.client(c).disabled = false;
      return { changed: true };
    },
    setClientId: (c, kick) => {
      const username = requireString(c, 'username', 'Invalid/missing username');
      const clientid = getString(c, 'clientid', true, 'Invalid/missing client ID');
      const client = this.state.clients.get(username);
      if (client === undefined) throw new Reply('Client not found');
      client.clientid = clientid !== null && clientid !== '' ? clientid : null;
      kick.push({ username });
      return { changed: true };
    },
    setClientPassword: (c, kick) => {
      const username = requireString(c, 'username', 'Invalid/missing username');
      const password = requireString(c, 'password', 'Invalid/missing password');
      if (password === '') throw new Reply('Empty password is not allowed');
      const client = this.state.clients.get(username);
      if (client === undefined) throw new Reply('Client not found');
      client.pw = this.newPw(password);
      client.encoded = null;
      kick.push({ username });
      return { changed: true };
    },
    modifyClient: (c, kick) => {
      const client = this.client(c);
      const clientid = optString(c, 'clientid');
      const password = optString(c, 'password');
      const textname = optString(c, 'textname');
      const textdescription = optString(c, 'textdescription');
      const roles = field(c, 'roles') !== undefined ? this.roleRefs(c) : null;
      const groups =
        field(c, 'groups') !== undefined
          ? this.groupRefs(
              c,
              "'groups' contains an object with a 'groupname' that does not exist",
              "'groups' contains an object with an invalid 'groupname'",
            )
          : null;
      if (clientid !== null) client.clientid = clientid !== '' ? clientid : null;
      if (password !== null) {
        client.pw = this.newPw(password);
        client.encoded = null;
      }
      if (textname !== null) client.textname = textname;
      if (textdescription !== null) client.textdescription = textdescription;
      if (roles !== null) client.roles = roles;
      if (groups !== null) {
        for (const g of this.state.groups.values()) {
          g.clients = g.clients.filter((m) => m.username !== client.username);
        }
        for (const g of groups) this.addMember(g.groupname, client.username, g.priority);
      }
      kick.push({ username: client.username });
      return { changed: true };
    },
    getClient: (c) => {
      const client = this.client(c);
      return { changed: false, data: { client: this.clientJson(client) } };
    },
    listClients: (c) =>
      listing(
        c,
        this.state.clients.values(),
        'clients',
        (x) => this.clientJson(x),
        (x) => x.username,
      ),
    addClientRole: (c, kick) => {
      const username = requireString(c, 'username', 'Invalid/missing username');
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const priority = getInt(c, 'priority', -1);
      const client = this.state.clients.get(username);
      if (client === undefined) throw new Reply('Client not found');
      if (!this.state.roles.has(rolename)) throw new Reply('Role not found');
      // The plugin's rolelist add fails on a duplicate, which it reports as an internal error.
      if (client.roles.some((r) => r.rolename === rolename)) throw new Reply('Internal error');
      client.roles.push({ rolename, priority });
      sortRefs(client.roles, (r) => r.rolename);
      kick.push({ username });
      return { changed: true };
    },
    removeClientRole: (c, kick) => {
      const username = requireString(c, 'username', 'Invalid/missing username');
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const client = this.state.clients.get(username);
      if (client === undefined) throw new Reply('Client not found');
      if (!this.state.roles.has(rolename)) throw new Reply('Role not found');
      client.roles = client.roles.filter((r) => r.rolename !== rolename);
      kick.push({ username });
      return { changed: true };
    },

    createGroup: (c) => {
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      const textname = getString(c, 'textname', true, 'Invalid/missing textname');
      const textdescription = getString(
        c,
        'textdescription',
        true,
        'Invalid/missing textdescription',
      );
      if (this.state.groups.has(groupname)) throw new Reply('Group already exists');
      const roles = this.roleRefs(c);
      this.state.groups.set(groupname, {
        groupname,
        textname,
        textdescription,
        roles,
        clients: [],
      });
      this.state.groups = sortedMap(this.state.groups);
      return { changed: true };
    },
    deleteGroup: (c, kick) => {
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      const group = this.state.groups.get(groupname);
      if (group === undefined) throw new Reply('Group not found');
      if (this.state.anonymousGroup === groupname) {
        throw new Reply('Deleting the anonymous group is forbidden');
      }
      this.kickGroup(group, kick);
      this.state.groups.delete(groupname);
      return { changed: true };
    },
    addGroupClient: (c, kick) => {
      const username = requireString(c, 'username', 'Invalid/missing username');
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      const priority = getInt(c, 'priority', -1);
      if (!this.state.clients.has(username)) throw new Reply('Client not found');
      const group = this.state.groups.get(groupname);
      if (group === undefined) throw new Reply('Group not found');
      if (group.clients.some((m) => m.username === username)) {
        throw new Reply('Client is already in this group');
      }
      this.addMember(groupname, username, priority);
      kick.push({ username });
      return { changed: true };
    },
    removeGroupClient: (c, kick) => {
      const username = requireString(c, 'username', 'Invalid/missing username');
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      if (!this.state.clients.has(username)) throw new Reply('Client not found');
      const group = this.state.groups.get(groupname);
      if (group === undefined) throw new Reply('Group not found');
      group.clients = group.clients.filter((m) => m.username !== username);
      kick.push({ username });
      return { changed: true };
    },
    addGroupRole: (c, kick) => {
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const priority = getInt(c, 'priority', -1);
      const group = this.state.groups.get(groupname);
      if (group === undefined) throw new Reply('Group not found');
      if (!this.state.roles.has(rolename)) throw new Reply('Role not found');
      if (group.roles.some((r) => r.rolename === rolename)) {
        throw new Reply('Group is already in this role');
      }
      group.roles.push({ rolename, priority });
      sortRefs(group.roles, (r) => r.rolename);
      this.kickGroup(group, kick);
      return { changed: true };
    },
    removeGroupRole: (c, kick) => {
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const group = this.state.groups.get(groupname);
      if (group === undefined) throw new Reply('Group not found');
      if (!this.state.roles.has(rolename)) throw new Reply('Role not found');
      group.roles = group.roles.filter((r) => r.rolename !== rolename);
      this.kickGroup(group, kick);
      return { changed: true };
    },
    modifyGroup: (c, kick) => {
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      const group = this.state.groups.get(groupname);
      if (group === undefined) throw new Reply('Group not found');
      const textname = optString(c, 'textname');
      const textdescription = optString(c, 'textdescription');
      const roles = field(c, 'roles') !== undefined ? this.roleRefs(c) : null;
      let members: { username: string; priority: number }[] | null = null;
      if (Array.isArray(field(c, 'clients'))) {
        members = [];
        for (const m of field(c, 'clients') as unknown[]) {
          if (!isObj(m)) continue;
          const username = optString(m, 'username');
          if (username === null) {
            throw new Reply("'clients' contains an object with an invalid 'username'");
          }
          if (!this.state.clients.has(username)) {
            throw new Reply("'clients' contains an object with a 'username' that does not exist");
          }
          members.push({ username, priority: getInt(m, 'priority', -1) });
        }
      }
      if (textname !== null) group.textname = textname;
      if (textdescription !== null) group.textdescription = textdescription;
      if (roles !== null) group.roles = roles;
      if (members !== null) {
        this.kickGroup(group, kick);
        group.clients = [];
        for (const m of members) this.addMember(groupname, m.username, m.priority);
      }
      this.kickGroup(group, kick);
      return { changed: true };
    },
    getGroup: (c) => {
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      const group = this.state.groups.get(groupname);
      if (group === undefined) throw new Reply('Group not found');
      return { changed: false, data: { group: groupJson(group) } };
    },
    listGroups: (c) =>
      listing(c, this.state.groups.values(), 'groups', groupJson, (g) => g.groupname),
    setAnonymousGroup: (c, kick) => {
      const groupname = requireString(c, 'groupname', 'Invalid/missing groupname');
      if (!this.state.groups.has(groupname)) throw new Reply('Group not found');
      this.state.anonymousGroup = groupname;
      kick.push({});
      return { changed: true };
    },
    /** 2.1: counts and the change index (bumped by every command that changes state). */
    getDetails: () => ({
      changed: false,
      data: {
        clientCount: this.state.clients.size,
        groupCount: this.state.groups.size,
        roleCount: this.state.roles.size,
        changeIndex: this.changeIndex,
      },
    }),
    getAnonymousGroup: () => ({
      changed: false,
      data: { group: { groupname: this.state.anonymousGroup ?? '' } },
    }),

    createRole: (c) => {
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const textname = getString(c, 'textname', true, 'Invalid/missing textname');
      const textdescription = getString(
        c,
        'textdescription',
        true,
        'Invalid/missing textdescription',
      );
      if (this.state.roles.has(rolename)) throw new Reply('Role already exists');
      const allowwildcardsubs = getBool(c, 'allowwildcardsubs', true);
      const role: Role = {
        rolename,
        textname,
        textdescription,
        allowwildcardsubs,
        acls: this.aclsFrom(c),
      };
      this.state.roles.set(rolename, role);
      this.state.roles = sortedMap(this.state.roles);
      return { changed: true };
    },
    deleteRole: (c, kick) => {
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const role = this.state.roles.get(rolename);
      if (role === undefined) throw new Reply('Role not found');
      this.kickRole(rolename, kick);
      this.state.roles.delete(rolename);
      for (const x of this.state.clients.values()) {
        x.roles = x.roles.filter((r) => r.rolename !== rolename);
      }
      for (const g of this.state.groups.values()) {
        g.roles = g.roles.filter((r) => r.rolename !== rolename);
      }
      return { changed: true };
    },
    getRole: (c) => {
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const role = this.state.roles.get(rolename);
      if (role === undefined) throw new Reply('Role not found');
      return { changed: false, data: { role: roleJson(role) } };
    },
    listRoles: (c) => listing(c, this.state.roles.values(), 'roles', roleJson, (r) => r.rolename),
    modifyRole: (c, kick) => {
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const role = this.state.roles.get(rolename);
      if (role === undefined) throw new Reply('Role does not exist');
      const textname = optString(c, 'textname');
      const textdescription = optString(c, 'textdescription');
      const acls = Array.isArray(field(c, 'acls')) ? this.aclsFrom(c) : null;
      if (textname !== null) role.textname = textname;
      if (textdescription !== null) role.textdescription = textdescription;
      const wildcard = field(c, 'allowwildcardsubs');
      if (typeof wildcard === 'boolean') role.allowwildcardsubs = wildcard;
      if (acls !== null) role.acls = acls;
      this.kickRole(rolename, kick);
      return { changed: true };
    },
    addRoleACL: (c, kick) => {
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const role = this.state.roles.get(rolename);
      if (role === undefined) throw new Reply('Role not found');
      const acltype = requireString(c, 'acltype', 'Invalid/missing acltype');
      if (!(ACL_TYPES as readonly string[]).includes(acltype)) throw new Reply('Unknown acltype');
      const topic = requireString(c, 'topic', 'Invalid/missing topic');
      if (!isValidAclTopic(topic)) throw new Reply('Invalid ACL topic');
      const list = role.acls[acltype as AclType];
      if (list.some((a) => a.topic === topic)) {
        throw new Reply('ACL with this topic already exists');
      }
      list.push({ topic, priority: getInt(c, 'priority', 0), allow: getBool(c, 'allow', false) });
      sortAcls(list);
      this.kickRole(rolename, kick);
      return { changed: true };
    },
    removeRoleACL: (c, kick) => {
      const rolename = requireString(c, 'rolename', 'Invalid/missing rolename');
      const role = this.state.roles.get(rolename);
      if (role === undefined) throw new Reply('Role not found');
      const acltype = requireString(c, 'acltype', 'Invalid/missing acltype');
      if (!(ACL_TYPES as readonly string[]).includes(acltype)) throw new Reply('Unknown acltype');
      const topic = requireString(c, 'topic', 'Invalid/missing topic');
      if (!isValidAclTopic(topic)) throw new Reply('Invalid ACL topic');
      const list = role.acls[acltype as AclType];
      const i = list.findIndex((a) => a.topic === topic);
      if (i < 0) throw new Reply('ACL not found');
      list.splice(i, 1);
      this.kickRole(rolename, kick);
      return { changed: true };
    },
  };

  private readonly commandNames = new Map(
    Object.keys(this.commands).map((n) => [n.toLowerCase(), n] as const),
  );

  // ---- helpers ----------------------------------------------------------------------

  private client(c: Json): Client {
    const username = requireString(c, 'username', 'Invalid/missing username');
    const client = this.state.clients.get(username);
    if (client === undefined) throw new Reply('Client not found');
    return client;
  }

  private newPw(password: string): Client['pw'] {
    const salt = randomBytes(SALT_BYTES);

    return {
      type: 7,
      iterations: DYNSEC_ITERATIONS,
      salt,
      hash: pbkdf2Sync(Buffer.from(password, 'utf8'), salt, DYNSEC_ITERATIONS, 64, 'sha512'),
    };
  }

  private roleRefs(c: Json): RoleRef[] {
    const out: RoleRef[] = [];
    if (field(c, 'roles') === undefined) return out;
    if (!Array.isArray(field(c, 'roles')))
      throw new Reply("'roles' not an array or missing/invalid rolename");
    for (const r of field(c, 'roles') as unknown[]) {
      const rolename = isObj(r) ? optString(r, 'rolename') : null;
      if (rolename === null) throw new Reply("'roles' not an array or missing/invalid rolename");
      if (!this.state.roles.has(rolename)) throw new Reply('Role not found');
      if (out.some((x) => x.rolename === rolename)) continue;
      out.push({ rolename, priority: getInt(r as Json, 'priority', -1) });
    }
    sortRefs(out, (x) => x.rolename);
    return out;
  }

  private groupRefs(
    c: Json,
    missing: string,
    invalid: string,
  ): { groupname: string; priority: number }[] {
    const out: { groupname: string; priority: number }[] = [];
    if (!Array.isArray(field(c, 'groups'))) return out;
    for (const g of field(c, 'groups') as unknown[]) {
      const groupname = isObj(g) ? optString(g, 'groupname') : null;
      if (groupname === null) throw new Reply(invalid);
      if (!this.state.groups.has(groupname)) throw new Reply(missing);
      out.push({ groupname, priority: getInt(g as Json, 'priority', -1) });
    }
    return out;
  }

  private aclsFrom(
    c: Json,
  ): Record<AclType, { topic: string; priority: number; allow: boolean }[]> {
    const acls = emptyAcls();
    if (!Array.isArray(field(c, 'acls'))) return acls;
    for (const a of field(c, 'acls') as unknown[]) {
      if (!isObj(a)) continue;
      const acltype = optString(a, 'acltype');
      const topic = optString(a, 'topic');
      if (acltype === null || topic === null) continue;
      if (!(ACL_TYPES as readonly string[]).includes(acltype)) continue;
      const list = acls[acltype as AclType];
      if (list.some((x) => x.topic === topic)) continue;
      list.push({ topic, priority: getInt(a, 'priority', 0), allow: getBool(a, 'allow', false) });
    }
    for (const t of ACL_TYPES) sortAcls(acls[t]);
    return acls;
  }

  private addMember(groupname: string, username: string, priority: number): void {
    const group = this.state.groups.get(groupname);
    if (group === undefined || group.clients.some((m) => m.username === username)) return;
    group.clients.push({ username, priority });
    group.clients.sort((a, b) => cmp(a.username, b.username));
  }

  private sortClients(): void {
    this.state.clients = sortedMap(this.state.clients);
  }

  private kickGroup(group: Group, kick: DynsecKick[]): void {
    if (this.state.anonymousGroup === group.groupname) kick.push({});
    for (const m of group.clients) kick.push({ username: m.username });
  }

  private kickRole(rolename: string, kick: DynsecKick[]): void {
    for (const x of this.state.clients.values()) {
      if (x.roles.some((r) => r.rolename === rolename)) kick.push({ username: x.username });
    }
    for (const g of this.state.groups.values()) {
      if (g.roles.some((r) => r.rolename === rolename)) this.kickGroup(g, kick);
    }
  }

  private clientJson(client: Client): Json {
    const j: Json = { username: client.username };
    if (client.clientid !== null) j.clientid = client.clientid;
    if (client.textname !== null) j.textname = client.textname;
    if (client.textdescription !== null) j.textdescription = client.textdescription;
    if (client.disabled) j.disabled = true;
    j.roles = client.roles.map((r) =>
      r.priority !== -1 ? { rolename: r.rolename, priority: r.priority } : { rolename: r.rolename },
    );
    j.groups = this.groupsOf(client.username).map((g) =>
      g.priority !== -1
        ? { groupname: g.groupname, priority: g.priority }
        : { groupname: g.groupname },
    );
    return j;
  }
}

function groupJson(group: Group): Json {
  const j: Json = { groupname: group.groupname };
  if (group.textname !== null) j.textname = group.textname;
  if (group.textdescription !== null) j.textdescription = group.textdescription;
  j.clients = group.clients.map((m) => ({ username: m.username }));
  j.roles = group.roles.map((r) =>
    r.priority !== -1 ? { rolename: r.rolename, priority: r.priority } : { rolename: r.rolename },
  );
  return j;
}

function roleJson(role: Role): Json {
  const j: Json = { rolename: role.rolename };
  if (role.textname !== null) j.textname = role.textname;
  if (role.textdescription !== null) j.textdescription = role.textdescription;
  if (!role.allowwildcardsubs) j.allowwildcardsubs = false;
  j.acls = aclsJson(role);
  return j;
}

/**
 * A list command's answer: the total, then one page (`count`, `offset`) of `items` under
 * `key`, in full with `verbose`, else by name.
 */
function listing<T>(
  c: Json,
  items: Iterable<T>,
  key: string,
  full: (item: T) => unknown,
  name: (item: T) => string,
): { changed: boolean; data: Json } {
  const verbose = getBool(c, 'verbose', false);
  const all = [...items];
  const shown = page(all, c);
  return {
    changed: false,
    data: { totalCount: all.length, [key]: verbose ? shown.map(full) : shown.map(name) },
  };
}

function page<T>(all: readonly T[], c: Json): T[] {
  const count = getInt(c, 'count', -1);
  const offset = Math.max(0, getInt(c, 'offset', 0));
  return count < 0 ? all.slice(offset) : all.slice(offset, offset + count);
}

function sortedMap<T>(map: Map<string, T>): Map<string, T> {
  return new Map([...map.entries()].sort((a, b) => cmp(a[0], b[0])));
}
