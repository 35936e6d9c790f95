/** The dynamic security plugin's data: clients, groups, roles, default access. */
import type { PasswordHash } from '../../../common/password.ts';

export const ACL_TYPES = [
  'publishClientSend',
  'publishClientReceive',
  'subscribeLiteral',
  'subscribePattern',
  'unsubscribeLiteral',
  'unsubscribePattern',
] as const;
export type AclType = (typeof ACL_TYPES)[number];

export interface Acl {
  topic: string;
  priority: number;
  allow: boolean;
}
export interface RoleRef {
  rolename: string;
  priority: number;
}
export interface Member {
  username: string;
  priority: number;
}
export interface Client {
  username: string;
  clientid: string | null;
  textname: string | null;
  textdescription: string | null;
  disabled: boolean;
  /** The PBKDF2 hash as the 2.0 file stores it (salt/password/iterations); null: no password. */
  pw: PasswordHash | null;
  /** 2.1's "encoded_password", kept verbatim when that is how the file gave it. */
  encoded: string | null;
  roles: RoleRef[];
}
export interface Group {
  groupname: string;
  textname: string | null;
  textdescription: string | null;
  roles: RoleRef[];
  clients: Member[];
}
export interface Role {
  rolename: string;
  textname: string | null;
  textdescription: string | null;
  /** 2.1: false denies any subscription with a wildcard once this role is reached. */
  allowwildcardsubs: boolean;
  acls: Record<AclType, Acl[]>;
}
export interface DefaultAccess {
  publishClientSend: boolean;
  publishClientReceive: boolean;
  subscribe: boolean;
  unsubscribe: boolean;
}
export interface DynsecState {
  defaultAccess: DefaultAccess;
  clients: Map<string, Client>;
  groups: Map<string, Group>;
  roles: Map<string, Role>;
  anonymousGroup: string | null;
  /** 2.1's "changeIndex" from the file (0 when absent). */
  changeIndex: number;
}

export function emptyAcls(): Record<AclType, Acl[]> {
  return {
    publishClientSend: [],
    publishClientReceive: [],
    subscribeLiteral: [],
    subscribePattern: [],
    unsubscribeLiteral: [],
    unsubscribePattern: [],
  };
}

/** Role and group lists: priority high to low, then name (the plugin's rolelist_cmp). */
export function sortRefs<T extends { priority: number }>(list: T[], name: (t: T) => string): void {
  list.sort((a, b) => b.priority - a.priority || cmp(name(a), name(b)));
}
/** ACLs: priority high to low, ties keep their order (a stable sort, as HASH_SRT). */
export function sortAcls(list: Acl[]): void {
  list.sort((a, b) => b.priority - a.priority);
}
export function cmp(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

export class DynsecConfigError extends Error {
  override readonly name = 'DynsecConfigError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`Error loading Dynamic security plugin config '${file}': ${reason}`);
  }
}

type Json = Record<string, unknown>;

/**
 * An object member as cJSON_GetObjectItem finds it: the first key equal to `key` ignoring
 * case (the plugin reads "textName" written by 2.0's mosquitto_ctrl as "textname").
 */
export function field(o: Readonly<Record<string, unknown>>, key: string): unknown {
  const lower = key.toLowerCase();
  for (const k of Object.keys(o)) {
    if (k.toLowerCase() === lower) return o[k];
  }
  return undefined;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
function str(o: Json, k: string): string | null {
  const v = field(o, k);
  return typeof v === 'string' ? v : null;
}
function int(o: Json, k: string, dflt: number): number {
  const v = field(o, k);
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : dflt;
}
function bool(o: Json, k: string, dflt: boolean): boolean {
  const v = field(o, k);
  return typeof v === 'boolean' ? v : dflt;
}
function arr(o: Json, k: string): unknown[] {
  const v = field(o, k);
  return Array.isArray(v) ? (v as unknown[]) : [];
}

function loadRoleRefs(o: Json): RoleRef[] {
  const refs: RoleRef[] = [];
  for (const r of arr(o, 'roles')) {
    if (!isObj(r)) continue;
    const rolename = str(r, 'rolename');
    if (rolename === null || refs.some((x) => x.rolename === rolename)) continue;
    refs.push({ rolename, priority: int(r, 'priority', -1) });
  }
  return refs;
}

/**
 * 2.1's "encoded_password": `$7$<iterations>$<salt>$<hash>` (PBKDF2-SHA512; 2.1 uses a
 * 64-byte salt, 2.0's password file 12) or `$6$<salt>$<hash>`; null when unusable (argon2id
 * and anything else: the client then has no password and authentication defers).
 */
export function parseEncoded(text: string): PasswordHash | null {
  const parts = text.split('$');
  const b64 = /^[A-Za-z0-9+/]+={0,2}$/;
  if (parts[0] !== '') return null;
  if (parts[1] === '7' && parts.length === 5) {
    const iterations = Number(parts[2]);
    const [salt, hash] = [parts[3] ?? '', parts[4] ?? ''];
    if (!Number.isInteger(iterations) || iterations < 1 || !b64.test(salt) || !b64.test(hash))
      return null;
    const h = Buffer.from(hash, 'base64');
    return h.length === 64
      ? { type: 7, iterations, salt: Buffer.from(salt, 'base64'), hash: h }
      : null;
  }
  if (parts[1] === '6' && parts.length === 4) {
    const [salt, hash] = [parts[2] ?? '', parts[3] ?? ''];
    if (!b64.test(salt) || !b64.test(hash)) return null;
    const h = Buffer.from(hash, 'base64');
    return h.length === 64
      ? { type: 6, iterations: 0, salt: Buffer.from(salt, 'base64'), hash: h }
      : null;
  }
  return null;
}

/** The state from the file's text (2.0 or 2.1 format); throws a reason string. */
export function parseConfig(text: string, file: string): DynsecState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DynsecConfigError(file, 'File is not valid JSON.');
  }
  // Any other JSON value loads as an empty config, as in the plugin.
  const tree: Json = isObj(parsed) ? parsed : {};
  const state: DynsecState = {
    defaultAccess: {
      publishClientSend: false,
      publishClientReceive: true,
      subscribe: false,
      unsubscribe: true,
    },
    clients: new Map(),
    groups: new Map(),
    roles: new Map(),
    anonymousGroup: null,
    changeIndex: int(tree, 'changeIndex', 0),
  };
  const da = field(tree, 'defaultACLAccess');
  if (isObj(da)) {
    const d = state.defaultAccess;
    d.publishClientSend = bool(da, 'publishClientSend', d.publishClientSend);
    d.publishClientReceive = bool(da, 'publishClientReceive', d.publishClientReceive);
    d.subscribe = bool(da, 'subscribe', d.subscribe);
    d.unsubscribe = bool(da, 'unsubscribe', d.unsubscribe);
  }
  // Roles first: clients and groups referring to a missing role drop the reference.
  for (const r of arr(tree, 'roles')) {
    if (!isObj(r)) continue;
    const rolename = str(r, 'rolename');
    if (rolename === null || state.roles.has(rolename)) continue;
    const role: Role = {
      rolename,
      textname: str(r, 'textname'),
      textdescription: str(r, 'textdescription'),
      allowwildcardsubs: bool(r, 'allowwildcardsubs', true),
      acls: emptyAcls(),
    };
    for (const a of arr(r, 'acls')) {
      if (!isObj(a)) continue;
      const acltype = str(a, 'acltype');
      const topic = str(a, 'topic');
      if (acltype === null || topic === null || !(ACL_TYPES as readonly string[]).includes(acltype))
        continue;
      const list = role.acls[acltype as AclType];
      if (list.some((x) => x.topic === topic)) continue;
      list.push({ topic, priority: int(a, 'priority', 0), allow: bool(a, 'allow', false) });
    }
    for (const t of ACL_TYPES) sortAcls(role.acls[t]);
    state.roles.set(rolename, role);
  }
  for (const c of arr(tree, 'clients')) {
    if (!isObj(c)) continue;
    const username = str(c, 'username');
    if (username === null || state.clients.has(username)) continue;
    let pw: PasswordHash | null = null;
    let encoded: string | null = null;
    const salt = str(c, 'salt');
    const password = str(c, 'password');
    const iterations = int(c, 'iterations', -1);
    if (salt !== null && password !== null && iterations > 0) {
      // 2.0 skips the whole client when the salt is not 12 bytes or the hash not 64.
      const s = Buffer.from(salt, 'base64');
      const h = Buffer.from(password, 'base64');
      if (s.length !== 12 || h.length !== 64) continue;
      pw = { type: 7, iterations, salt: s, hash: h };
    } else if (str(c, 'encoded_password') !== null) {
      encoded = str(c, 'encoded_password');
      pw = parseEncoded(encoded ?? '');
    }
    const roles = loadRoleRefs(c).filter((x) => state.roles.has(x.rolename));
    sortRefs(roles, (x) => x.rolename);
    state.clients.set(username, {
      username,
      clientid: str(c, 'clientid'),
      textname: str(c, 'textname'),
      textdescription: str(c, 'textdescription'),
      disabled: bool(c, 'disabled', false),
      pw,
      encoded,
      roles,
    });
  }
  for (const g of arr(tree, 'groups')) {
    if (!isObj(g)) continue;
    const groupname = str(g, 'groupname');
    if (groupname === null || state.groups.has(groupname)) continue;
    const roles = loadRoleRefs(g).filter((x) => state.roles.has(x.rolename));
    sortRefs(roles, (x) => x.rolename);
    const clients: Member[] = [];
    for (const m of arr(g, 'clients')) {
      if (!isObj(m)) continue;
      const username = str(m, 'username');
      if (username === null || !state.clients.has(username)) continue;
      if (clients.some((x) => x.username === username)) continue;
      clients.push({ username, priority: int(m, 'priority', -1) });
    }
    clients.sort((a, b) => cmp(a.username, b.username));
    state.groups.set(groupname, {
      groupname,
      textname: str(g, 'textname'),
      textdescription: str(g, 'textdescription'),
      roles,
      clients,
    });
  }
  // The plugin sorts each table by name after loading (HASH_SORT with strcmp).
  const byName = <T>(m: Map<string, T>): Map<string, T> =>
    new Map([...m.entries()].sort((a, b) => cmp(a[0], b[0])));
  state.clients = byName(state.clients);
  state.groups = byName(state.groups);
  state.roles = byName(state.roles);
  const anon = str(tree, 'anonymousGroup');
  if (anon !== null && state.groups.has(anon)) state.anonymousGroup = anon;
  return state;
}

function refsJson(refs: readonly RoleRef[]): Json[] {
  return refs.map((r) =>
    r.priority !== -1 ? { rolename: r.rolename, priority: r.priority } : { rolename: r.rolename },
  );
}

export function aclsJson(role: Role): Json[] {
  const out: Json[] = [];
  for (const t of ACL_TYPES) {
    for (const a of role.acls[t]) {
      out.push({ acltype: t, topic: a.topic, priority: a.priority, allow: a.allow });
    }
  }
  return out;
}

/** The file's JSON, in the key order Mosquitto 2.0's plugin writes. */
export function configJson(state: DynsecState): Json {
  const d = state.defaultAccess;
  const tree: Json = {
    defaultACLAccess: {
      publishClientSend: d.publishClientSend,
      publishClientReceive: d.publishClientReceive,
      subscribe: d.subscribe,
      unsubscribe: d.unsubscribe,
    },
  };
  tree.clients = [...state.clients.values()].map((c) => {
    const j: Json = { username: c.username };
    if (c.clientid !== null) j.clientid = c.clientid;
    if (c.textname !== null) j.textname = c.textname;
    if (c.textdescription !== null) j.textdescription = c.textdescription;
    if (c.disabled) j.disabled = true;
    j.roles = refsJson(c.roles);
    if (c.encoded !== null) {
      j.encoded_password = c.encoded;
    } else if (c.pw !== null) {
      j.password = c.pw.hash.toString('base64');
      j.salt = c.pw.salt.toString('base64');
      j.iterations = c.pw.iterations;
    }
    return j;
  });
  tree.groups = [...state.groups.values()].map((g) => {
    const j: Json = { groupname: g.groupname };
    if (g.textname !== null) j.textname = g.textname;
    if (g.textdescription !== null) j.textdescription = g.textdescription;
    j.roles = refsJson(g.roles);
    j.clients = g.clients.map((m) =>
      m.priority !== -1 ? { username: m.username, priority: m.priority } : { username: m.username },
    );
    return j;
  });
  if (state.anonymousGroup !== null) tree.anonymousGroup = state.anonymousGroup;
  tree.roles = [...state.roles.values()].map((r) => {
    const j: Json = { rolename: r.rolename };
    if (r.textname !== null) j.textname = r.textname;
    if (r.textdescription !== null) j.textdescription = r.textdescription;
    if (!r.allowwildcardsubs) j.allowwildcardsubs = false;
    j.acls = aclsJson(r);
    return j;
  });
  return tree;
}
