/**
 * A security domain: the settings and loaded files that decide for a group of clients.
 * There is one for the whole broker, or one per listener with `per_listener_settings`
 * (Mosquitto's `struct mosquitto__security_options`).
 *
 * Authentication follows mosquitto_unpwd_check() with the password file as the only
 * source: without a password file `allow_anonymous` decides for every client (with or
 * without a username); with one, clients without a username need `allow_anonymous`, and
 * a username must be in the file with a matching password.
 */
import type { Buffer } from 'node:buffer';
import type { PasswordHash } from '../../common/password.ts';
import { decoyHashFor, verifyPassword } from '../../common/password.ts';
import type { SecurityConfig } from '../config/types.ts';
import type { BrokerLog } from '../broker-log.ts';
import type { AclRules } from './acl-file.ts';
import { loadAclFile } from './acl-file.ts';
import type { PasswordTable } from './password-file.ts';
import { firstPasswordHash, loadPasswordFile } from './password-file.ts';

export class SecurityDomain {
  readonly settings: SecurityConfig;
  /** null without `password_file`. */
  readonly passwords: PasswordTable | null;
  /** null without `acl_file`. */
  readonly acl: AclRules | null;

  constructor(settings: SecurityConfig, passwords: PasswordTable | null, acl: AclRules | null) {
    this.settings = settings;
    this.passwords = passwords;
    this.acl = acl;
  }

  get allowAnonymous(): boolean {
    return this.settings.allowAnonymous;
  }

  /**
   * Whether these credentials may connect: decided now, or a promise when an expensive
   * PBKDF2 hash has to be computed (on the thread pool; see CHEAP_PBKDF2_ITERATIONS). `verified` is a hash the same password was
   * already found to match; an unchanged entry is then accepted without hashing again.
   */
  authenticate(
    username: string | null,
    password: Buffer | null,
    verified: PasswordHash | null = null,
    pluginsDeferred = false,
  ): boolean | Promise<boolean> {
    const passwords = this.passwords;
    if (username === null) return this.allowAnonymous;
    // Every plugin deferred: a username is only accepted by the password file then
    // (mosquitto_unpwd_check: a deferred check with a username is a denial).
    if (passwords === null) return pluginsDeferred ? false : this.allowAnonymous;
    const stored = passwords.get(username);
    if (password === null) return false;
    if (stored === undefined) return refuseAfterDecoy(password, passwords);
    if (verified !== null && sameHash(stored, verified)) return true;
    return verifyPassword(password, stored);
  }
}

/**
 * An unknown username: refused once a wrong password would have been (decoyHash), and in
 * the same way (at once for a cheap hash, from the thread pool for a dear one).
 */
function refuseAfterDecoy(password: Buffer, passwords: PasswordTable): false | Promise<false> {
  const decoy = verifyPassword(
    password,
    decoyHashFor(passwords, () => firstPasswordHash(passwords)),
  );
  return typeof decoy === 'boolean' ? false : decoy.then(() => false as const);
}

function sameHash(a: PasswordHash, b: PasswordHash): boolean {
  return (
    a === b ||
    (a.type === b.type &&
      a.iterations === b.iterations &&
      a.salt.equals(b.salt) &&
      a.hash.equals(b.hash))
  );
}

/** Exit codes Mosquitto ends with when a security file cannot be used at start-up. */
export const SecurityExitCode = {
  /** MOSQ_ERR_UNKNOWN: a password or ACL file that cannot be opened. */
  Unreadable: 13,
  /** MOSQ_ERR_INVAL: an invalid line in an ACL file. */
  Invalid: 3,
} as const;

/** The result of loading one file: its contents, or why not (already logged). */
export type Loaded<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly exitCode: number };

export function loadPasswords(path: string, log: BrokerLog): Loaded<PasswordTable> {
  const table = loadPasswordFile(path, log);
  if (table === null) {
    log.error(`Error opening password file "${path}".`);
    return { ok: false, exitCode: SecurityExitCode.Unreadable };
  }
  return { ok: true, value: table };
}

export function loadAcl(path: string, log: BrokerLog): Loaded<AclRules> {
  const result = loadAclFile(path, log);
  if (typeof result === 'string') {
    log.error(`Error opening acl file "${path}".`);
    const exitCode =
      result === 'unreadable' ? SecurityExitCode.Unreadable : SecurityExitCode.Invalid;
    return { ok: false, exitCode };
  }
  return { ok: true, value: result };
}
