/**
 * `acl_file` (security_default.c aclfile__parse and mosquitto_acl_check_default).
 *
 * Grammar, one line at a time, trailing isspace() stripped, `#` in the first column a
 * comment, tokens split on single spaces:
 *
 *   topic [read|write|readwrite|deny] <filter>     for the current section
 *   pattern [read|write|readwrite|deny] <filter>   for everybody; %c = client id, %u = username
 *   user <username>                                starts a section (sections merge)
 *
 * Lines before the first `user` line form the section of clients without a username. Any
 * other line, an unknown access word or an invalid filter makes the whole file invalid.
 *
 * A check for a topic and an access (read = delivery, write = publish): the client's
 * section first (any matching deny denies; a matching grant with the access allows),
 * then the patterns the same way, else denied. `$` topics only match `$` filters. A
 * client whose username or id contains `+` or `#` is denied by every pattern
 * (CVE-2017-7650), with a notice each time.
 */
import type { Buffer } from 'node:buffer';
import { TOPIC_HIERARCHY_LIMIT } from '../../protocol/constants.ts';
import { topicMatches } from '../../protocol/topic.ts';
import type { BrokerLog } from '../broker-log.ts';
import {
  fileLines,
  isSpace,
  printable,
  readSecretFile,
  trimBlanks,
  utf8FromBinary,
} from './secret-file.ts';

export const AclAccess = {
  Deny: 0,
  Read: 1,
  Write: 2,
  ReadWrite: 3,
} as const;
export type AclAccess = (typeof AclAccess)[keyof typeof AclAccess];

/** The access a check asks for. */
export type RequestedAccess = typeof AclAccess.Read | typeof AclAccess.Write;

interface AclEntry {
  /** The filter as UTF-8 text; null when the file's bytes were not UTF-8 (never matches). */
  readonly filter: string | null;
  readonly access: AclAccess;
}

/** One `user` section (or the anonymous one): denies first, grants in file order. */
export class AclSection {
  readonly denies: AclEntry[] = [];
  readonly grants: AclEntry[] = [];

  add(entry: AclEntry): void {
    if (entry.access === AclAccess.Deny) this.denies.push(entry);
    else this.grants.push(entry);
  }
}

interface AclPattern extends AclEntry {
  readonly usesUsername: boolean;
}

/** The rules of one ACL file. */
export class AclRules {
  /** The section before the first `user` line; null when there is none. */
  anonymous: AclSection | null = null;
  readonly users = new Map<string, AclSection>();
  /** Deny patterns first, then grants in file order (Mosquitto's list order). */
  readonly patterns: AclPattern[] = [];

  /** The rules as they apply to one client (its section, its patterns expanded). */
  forClient(clientId: string, username: string | null): ClientAcl {
    const section = username === null ? this.anonymous : (this.users.get(username) ?? null);
    if (this.patterns.length === 0) return new ClientAcl(section, [], null);
    const dangerous =
      username !== null && /[+#]/.test(username)
        ? `ACL denying access to client with dangerous username "${username}"`
        : /[+#]/.test(clientId)
          ? `ACL denying access to client with dangerous client id "${clientId}"`
          : null;
    const expanded: AclEntry[] = [];
    if (dangerous === null) {
      for (const pattern of this.patterns) {
        if (pattern.usesUsername && username === null) continue;
        expanded.push({
          filter: pattern.filter === null ? null : expand(pattern.filter, clientId, username),
          access: pattern.access,
        });
      }
    }
    return new ClientAcl(section, expanded, dangerous);
  }
}

/** The ACL of one client: cheap to evaluate, per delivery if need be. */
export class ClientAcl {
  readonly #section: AclSection | null;
  readonly #patterns: readonly AclEntry[];
  /** The notice logged when patterns are reached for a client with `+`/`#` in its names. */
  readonly #dangerous: string | null;
  /** Whether any pattern exists in the file (then patterns are consulted). */
  readonly #hasPatterns: boolean;

  constructor(section: AclSection | null, patterns: AclEntry[], dangerous: string | null) {
    this.#section = section;
    this.#patterns = patterns;
    this.#dangerous = dangerous;
    this.#hasPatterns = patterns.length > 0 || dangerous !== null;
  }

  /** A client that may do nothing. */
  static readonly DENY_ALL = new ClientAcl(null, [], null);

  allows(topic: string, access: RequestedAccess, log: BrokerLog): boolean {
    const section = this.#section;
    if (section === null && !this.#hasPatterns) return false;
    if (section !== null) {
      const verdict = decide(section.denies, section.grants, topic, access);
      if (verdict !== undefined) return verdict;
    }
    if (this.#dangerous !== null) {
      log.notice(this.#dangerous);
      return false;
    }
    // Expanded patterns: denies come first in the list.
    for (const pattern of this.#patterns) {
      if (!entryMatches(pattern, topic)) continue;
      if (pattern.access === AclAccess.Deny) return false;
      if ((pattern.access & access) !== 0) return true;
    }
    return false;
  }
}

function entryMatches(entry: AclEntry, topic: string): boolean {
  const filter = entry.filter;
  // topicMatches() keeps `$` topics away from filters that do not start with `$`.
  return filter !== null && topicMatches(filter, topic);
}

/** A section's verdict: false on a matching deny, true on a matching grant, else undefined. */
function decide(
  denies: readonly AclEntry[],
  grants: readonly AclEntry[],
  topic: string,
  access: RequestedAccess,
): boolean | undefined {
  for (const deny of denies) if (entryMatches(deny, topic)) return false;
  for (const grant of grants) {
    if ((grant.access & access) !== 0 && entryMatches(grant, topic)) return true;
  }
  return undefined;
}

const PERCENT = 0x25;
const LOWER_C = 0x63;
const LOWER_U = 0x75;

/** %c -> client id, %u -> username (anywhere in the filter, as Mosquitto substitutes). */
function expand(filter: string, clientId: string, username: string | null): string {
  if (!filter.includes('%')) return filter;
  let out = '';
  for (let i = 0; i < filter.length; i++) {
    const c = filter.charCodeAt(i);
    if (c === PERCENT && i < filter.length - 1) {
      const next = filter.charCodeAt(i + 1);
      if (next === LOWER_C) {
        out += clientId;
        i++;
        continue;
      }
      if (next === LOWER_U && username !== null) {
        out += username;
        i++;
        continue;
      }
    }
    out += String.fromCharCode(c);
  }
  return out;
}

/** strtok_r() over one line with a saved position. */
class LineTokens {
  readonly #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  /** Next space-separated token (leading spaces skipped), or null at the end. */
  next(): string | null {
    const text = this.#text;
    while (this.#at < text.length && text[this.#at] === ' ') this.#at++;
    if (this.#at >= text.length) return null;
    const start = this.#at;
    let end = text.indexOf(' ', start);
    if (end === -1) end = text.length;
    this.#at = end < text.length ? end + 1 : end;
    return text.slice(start, end);
  }

  /** strtok_r(NULL, "") : the rest of the line, or null when nothing is left. */
  rest(): string | null {
    if (this.#at >= this.#text.length) return null;
    const rest = this.#text.slice(this.#at);
    this.#at = this.#text.length;
    return rest;
  }
}

/** mosquitto_sub_topic_check() on the file's bytes. */
function isValidAclFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > 65535) return false;
  let levels = 0;
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i];
    const previous = i === 0 ? '' : filter[i - 1];
    const next = i + 1 < filter.length ? filter[i + 1] : '';
    if (c === '+') {
      if ((previous !== '' && previous !== '/') || (next !== '' && next !== '/')) return false;
    } else if (c === '#') {
      if ((previous !== '' && previous !== '/') || next !== '') return false;
    } else if (c === '/') {
      levels++;
    }
  }
  return levels <= TOPIC_HIERARCHY_LIMIT;
}

function parseAccess(word: string): AclAccess | null {
  switch (word) {
    case 'read':
      return AclAccess.Read;
    case 'write':
      return AclAccess.Write;
    case 'readwrite':
      return AclAccess.ReadWrite;
    case 'deny':
      return AclAccess.Deny;
    default:
      return null;
  }
}

function countOf(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** Parses an ACL file; null (after Mosquitto's error line) when any line is invalid. */
export function parseAclFile(content: Buffer, path: string, log: BrokerLog): AclRules | null {
  const rules = new AclRules();
  const denyPatterns: AclPattern[] = [];
  const grantPatterns: AclPattern[] = [];
  let user: string | null = null;
  for (const rawLine of fileLines(content)) {
    let end = rawLine.length;
    while (end > 0 && isSpace(rawLine.charCodeAt(end - 1))) end--;
    const line = rawLine.slice(0, end);
    if (line.startsWith('#')) continue;
    const tokens = new LineTokens(line);
    const keyword = tokens.next();
    if (keyword === null) continue;
    if (keyword === 'topic' || keyword === 'pattern') {
      let accessWord = tokens.next();
      if (accessWord === null) {
        log.error(`Error: Empty topic in acl_file "${path}".`);
        return null;
      }
      const rest = tokens.rest();
      let filter: string;
      if (rest !== null) {
        filter = trimBlanks(rest);
      } else {
        filter = accessWord;
        accessWord = null;
      }
      const access = accessWord === null ? AclAccess.ReadWrite : parseAccess(accessWord);
      if (access === null) {
        log.error(
          `Error: Invalid topic access type "${printable(accessWord ?? '')}" in acl_file "${path}".`,
        );
        return null;
      }
      if (!isValidAclFilter(filter)) {
        log.error(`Error: Invalid ACL topic "${printable(filter)}" in acl_file "${path}".`);
        return null;
      }
      const text = utf8FromBinary(filter);
      if (keyword === 'topic') {
        let section: AclSection;
        if (user === null) {
          section = rules.anonymous ??= new AclSection();
        } else {
          section = rules.users.get(user) ?? new AclSection();
          rules.users.set(user, section);
        }
        section.add({ filter: text, access });
      } else {
        const usesClientId = countOf(filter, '%c') > 0;
        const usesUsername = countOf(filter, '%u') > 0;
        if (!usesClientId && !usesUsername) {
          log.warning(`Warning: ACL pattern '${printable(filter)}' does not contain '%c' or '%u'.`);
        }
        const pattern: AclPattern = { filter: text, access, usesUsername };
        if (access === AclAccess.Deny) denyPatterns.push(pattern);
        else grantPatterns.push(pattern);
      }
    } else if (keyword === 'user') {
      const rest = tokens.rest();
      if (rest === null) {
        log.error(`Error: Missing username in acl_file "${path}".`);
        return null;
      }
      // A username that is not UTF-8 can never connect; its section is kept apart.
      const name = trimBlanks(rest);
      user = utf8FromBinary(name) ?? `\u0000invalid:${name}`;
    } else {
      // Mosquitto prints its buffer, cut by strtok() after the first word.
      const printed = line.slice(0, line.indexOf(keyword) + keyword.length);
      log.error(`Error: Invalid line in acl_file "${path}": ${printable(printed)}.`);
      return null;
    }
  }
  rules.patterns.push(...denyPatterns, ...grantPatterns);
  return rules;
}

/**
 * Reads and parses an ACL file: its rules, or why it cannot be used ('unreadable' or
 * 'invalid', after Mosquitto's error line).
 */
export function loadAclFile(path: string, log: BrokerLog): AclRules | 'unreadable' | 'invalid' {
  const content = readSecretFile(path, log);
  if (content === null) {
    log.error(`Error: Unable to open acl_file "${path}".`);
    return 'unreadable';
  }
  return parseAclFile(content, path, log) ?? 'invalid';
}
