/**
 * node:crypto, loaded on first use: the broker with its default configuration needs it only
 * for a client without a client id (a random id) or a password check, and loading it at
 * start-up costs ~25 of Node's internal modules and ~0.8 MB of idle RSS.
 * process.getBuiltinModule() is synchronous, so callers stay synchronous.
 */
import type * as NodeCrypto from 'node:crypto';

let loaded: typeof NodeCrypto | null = null;

export function nodeCrypto(): typeof NodeCrypto {
  loaded ??= process.getBuiltinModule('node:crypto');
  return loaded;
}
