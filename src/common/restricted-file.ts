/**
 * The checks Mosquitto 2.0.16+ makes when it opens a file that holds secrets (password,
 * ACL and PSK files; mosquitto_passwd's password file): it warns, but still reads the file,
 * when others may access it or when it belongs to another user or group. The texts are
 * Mosquitto's, including the missing space in the owner warning.
 */
import type { Stats } from 'node:fs';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

/** S_IRWXO: any permission for others. */
const OTHERS_MASK = 0o007;

/** The warnings for a file opened for its secrets, in Mosquitto's order (none is fatal). */
export function restrictedFileWarnings(path: string, stats: Stats): string[] {
  const warnings: string[] = [];
  if ((stats.mode & OTHERS_MASK) !== 0) {
    warnings.push(
      `Warning: File ${path} has world readable permissions. Future versions will refuse to load this file.\n` +
        `To fix this, use \`chmod 0700 ${path}\`.`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    const name = currentUserName();
    if (name !== null) {
      warnings.push(
        `Warning: File ${path} owner is not ${name}. Future versions will refuse to load this file.` +
          `To fix this, use \`chown ${name} ${path}\`.`,
      );
    }
  }
  const gid = process.getgid?.();
  if (gid !== undefined && stats.gid !== gid) {
    const group = groupName(gid);
    if (group !== null) {
      warnings.push(
        `Warning: File ${path} group is not ${group}. Future versions will refuse to load this file.`,
      );
    }
  }
  return warnings;
}

/** getpwuid(getuid())'s name, or null when the user has no passwd entry. */
function currentUserName(): string | null {
  try {
    return userInfo().username;
  } catch {
    return null;
  }
}

/** getgrgid(gid)'s name from /etc/group, or null when there is none. */
function groupName(gid: number): string | null {
  let text: string;
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 3 && fields[2] === String(gid)) return fields[0] ?? null;
  }
  return null;
}
