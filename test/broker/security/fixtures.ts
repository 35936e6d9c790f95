/**
 * Shared pieces of the security tests: temporary password and ACL files (mode 0600, so
 * no permission warning muddles the log), password lines, and an in-process broker whose
 * security settings point at them.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HashType } from '../../../src/common/password.ts';
import { formatPasswordHash, hashPassword } from '../../../src/common/password.ts';
import type {
  BrokerConfig,
  ListenerConfig,
  SecurityConfig,
} from '../../../src/broker/config/types.ts';
import { removeTempDir, trackTempDir } from '../../helpers/children.ts';
import type { TestBroker } from '../../helpers/broker.ts';
import { startTestBroker } from '../../helpers/broker.ts';

/** A temporary directory removed by `remove()` (or when the test process exits). */
export interface TempDir {
  readonly path: string;
  /** Writes `name` (mode 0600) and returns its path. */
  write(name: string, content: string | Buffer, mode?: number): string;
  remove(): void;
}

export function tempDir(label = 'security'): TempDir {
  const path = trackTempDir(mkdtempSync(join(tmpdir(), `mosquitto-ts-${label}-`)));
  return {
    path,
    write(name, content, mode = 0o600) {
      const file = join(path, name);
      writeFileSync(file, content);
      chmodSync(file, mode);
      return file;
    },
    remove() {
      removeTempDir(path);
    },
  };
}

/** `user:$7$...` (or `$6$`) without a newline. */
export function passwordEntry(
  username: string,
  password: string,
  type?: HashType,
  iterations?: number,
): string {
  return `${username}:${formatPasswordHash(hashPassword(password, type, iterations))}`;
}

export function securityConfig(overrides: Partial<SecurityConfig> = {}): SecurityConfig {
  return {
    allowAnonymous: false,
    allowZeroLengthClientid: true,
    autoIdPrefix: 'auto-',
    passwordFile: null,
    aclFile: null,
    pskFile: null,
    ...overrides,
  };
}

export interface SecureBrokerOptions {
  readonly security?: Partial<SecurityConfig>;
  readonly config?: Partial<BrokerConfig>;
  readonly listener?: Partial<ListenerConfig>;
  readonly manualClock?: boolean;
}

/** An in-process broker with these global security settings. */
export function startSecureBroker(options: SecureBrokerOptions = {}): Promise<TestBroker> {
  return startTestBroker({
    config: { security: securityConfig(options.security), ...options.config },
    ...(options.listener === undefined ? {} : { listener: options.listener }),
    ...(options.manualClock === undefined ? {} : { manualClock: options.manualClock }),
  });
}
