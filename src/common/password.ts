/**
 * Mosquitto's password hashes, shared by the broker's password file and mosquitto_passwd.
 *
 *   $7$<iterations>$<salt b64>$<hash b64>   PBKDF2-HMAC-SHA512, 64-byte hash (2.0 default, 101 iterations)
 *   $6$<salt b64>$<hash b64>                SHA-512 over password bytes then salt bytes (1.6 era)
 *
 * Salts are 12 random bytes in 2.0. Verification runs an expensive PBKDF2 on libuv's thread
 * pool, so such a check never blocks the event loop for other clients; 2.0's cheap default
 * (101 iterations) is checked at once (see CHEAP_PBKDF2_ITERATIONS).
 */
import { nodeCrypto } from './node-crypto.ts';

export const HashType = {
  Sha512: 6,
  Sha512Pbkdf2: 7,
} as const;
export type HashType = (typeof HashType)[keyof typeof HashType];

export const DEFAULT_PBKDF2_ITERATIONS = 101;
export const SALT_BYTES = 12;
export const HASH_BYTES = 64;

export interface PasswordHash {
  readonly type: HashType;
  /** PBKDF2 iterations; 0 for $6$. */
  readonly iterations: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Why a stored hash could not be read, in Mosquitto's words where it has them. */
export class PasswordHashError extends Error {
  override readonly name = 'PasswordHashError';
}

/** Parses `$7$...` or `$6$...`; throws PasswordHashError for anything else. */
export function parsePasswordHash(text: string): PasswordHash {
  const parts = text.split('$');
  // "$7$101$salt$hash" splits into ['', '7', '101', 'salt', 'hash'].
  if (parts[0] !== '') throw new PasswordHashError('Invalid password hash.');
  let type: HashType;
  let iterations = 0;
  let saltText: string | undefined;
  let hashText: string | undefined;
  if (parts[1] === '7' && parts.length === 5) {
    type = HashType.Sha512Pbkdf2;
    iterations = Number.parseInt(parts[2] ?? '', 10);
    if (!Number.isInteger(iterations) || iterations < 1) {
      throw new PasswordHashError('Invalid number of iterations.');
    }
    saltText = parts[3];
    hashText = parts[4];
  } else if (parts[1] === '6' && parts.length === 4) {
    type = HashType.Sha512;
    saltText = parts[2];
    hashText = parts[3];
  } else {
    throw new PasswordHashError('Invalid password hash type.');
  }
  const salt = Buffer.from(saltText ?? '', 'base64');
  if (salt.length !== SALT_BYTES) throw new PasswordHashError('Unable to decode password salt.');
  const hash = Buffer.from(hashText ?? '', 'base64');
  if (hash.length !== HASH_BYTES) throw new PasswordHashError('Unable to decode password hash.');
  return { type, iterations, salt, hash };
}

export function formatPasswordHash(value: PasswordHash): string {
  const salt = value.salt.toString('base64');
  const hash = value.hash.toString('base64');
  return value.type === HashType.Sha512Pbkdf2
    ? `$7$${value.iterations}$${salt}$${hash}`
    : `$6$${salt}$${hash}`;
}

function sha512Salted(password: Buffer, salt: Buffer): Buffer {
  return nodeCrypto().createHash('sha512').update(password).update(salt).digest();
}

/** Makes a new hash with a fresh random salt (synchronous: for mosquitto_passwd). */
export function hashPassword(
  password: string | Buffer,
  type: HashType = HashType.Sha512Pbkdf2,
  iterations: number = DEFAULT_PBKDF2_ITERATIONS,
): PasswordHash {
  const secret = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  const salt = nodeCrypto().randomBytes(SALT_BYTES);
  if (type === HashType.Sha512) {
    return { type, iterations: 0, salt, hash: sha512Salted(secret, salt) };
  }
  return {
    type,
    iterations,
    salt,
    hash: nodeCrypto().pbkdf2Sync(secret, salt, iterations, HASH_BYTES, 'sha512'),
  };
}

/**
 * PBKDF2 hashes of at most this many iterations are checked on the calling thread. 2.0's
 * default of 101 (mosquitto_passwd, mosquitto_ctrl and the dynsec plugin all write it)
 * takes ~38 µs with Node 20 on our benchmark machine (pbkdf2Sync, SHA-512, 64 bytes): less
 * than the event loop spends handing a job to the thread pool and taking its answer back.
 * Anything dearer (2.1's 1000 iterations, ~370 µs, or a hand-picked 100,000) stays off
 * the event loop.
 */
export const CHEAP_PBKDF2_ITERATIONS = 200;

/**
 * Checks a password against a stored hash in constant time: at once for $6$ and cheap
 * PBKDF2 hashes (CHEAP_PBKDF2_ITERATIONS), on libuv's thread pool (a promise) otherwise.
 */
export function verifyPassword(password: Buffer, stored: PasswordHash): boolean | Promise<boolean> {
  const crypto = nodeCrypto();
  if (stored.type === HashType.Sha512) {
    return crypto.timingSafeEqual(sha512Salted(password, stored.salt), stored.hash);
  }
  if (stored.iterations <= CHEAP_PBKDF2_ITERATIONS) {
    const derived = crypto.pbkdf2Sync(
      password,
      stored.salt,
      stored.iterations,
      HASH_BYTES,
      'sha512',
    );
    return crypto.timingSafeEqual(derived, stored.hash);
  }
  return new Promise((resolve) => {
    crypto.pbkdf2(
      password,
      stored.salt,
      stored.iterations,
      HASH_BYTES,
      'sha512',
      (err, derived) => {
        resolve(err === null && crypto.timingSafeEqual(derived, stored.hash));
      },
    );
  });
}

/**
 * A hash no password matches (random salt and hash) that costs as much to check as
 * `like`, or as a default `$7$` entry without one. Checking the password of an unknown
 * username against it makes that refusal take as long as a wrong password's, so response
 * times do not tell which usernames exist.
 */
export function decoyHash(like: PasswordHash | undefined): PasswordHash {
  return {
    type: like?.type ?? HashType.Sha512Pbkdf2,
    iterations: like?.iterations ?? DEFAULT_PBKDF2_ITERATIONS,
    salt: nodeCrypto().randomBytes(SALT_BYTES),
    hash: nodeCrypto().randomBytes(HASH_BYTES),
  };
}

const decoys = new WeakMap<object, PasswordHash>();

/**
 * The decoy for a set of users (`owner`: the table or map holding them), made once from
 * `first()`, the hash of its first user with one.
 */
export function decoyHashFor(owner: object, first: () => PasswordHash | undefined): PasswordHash {
  let decoy = decoys.get(owner);
  if (decoy === undefined) {
    decoy = decoyHash(first());
    decoys.set(owner, decoy);
  }
  return decoy;
}
