/**
 * writeMosquittoDbFileAtomic: replaces a persistence file the way persist__backup() does,
 * so that a crash at any moment leaves either the old file or the new one, never a mix:
 * remove a stale `<path>.new` (which after a power cut may be a hard link to `<path>`,
 * so opening it for writing would truncate the live file), write `<path>.new` with mode
 * 0600, fsync it, rename it over `<path>`; then, beyond Mosquitto, fsync the directory so
 * that the rename itself is durable.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** glibc's strerror() texts for the errors a save can meet. */
const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EIO: 'Input/output error',
  EEXIST: 'File exists',
  EBUSY: 'Device or resource busy',
  EXDEV: 'Invalid cross-device link',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  EMFILE: 'Too many open files',
  EINVAL: 'Invalid argument',
};

/** The failure of one step of a save: `path` is the file concerned, `code` the errno name. */
export class DbFileWriteError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    action: string,
  ) {
    super(`Error saving ${path}: unable to ${action}: ${STRERROR[code] ?? code}.`);
    this.name = 'DbFileWriteError';
  }
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/**
 * Writes `data` to `path` atomically (see above). Throws DbFileWriteError naming the file
 * and strerror()'s text; on any failure before the rename `path` is left as it was and the
 * partial `<path>.new` is removed.
 */
export function writeMosquittoDbFileAtomic(path: string, data: Uint8Array): void {
  const temporary = `${path}.new`;
  try {
    unlinkSync(temporary);
  } catch (error) {
    if (codeOf(error) !== 'ENOENT') {
      throw new DbFileWriteError(temporary, codeOf(error), 'remove the stale file');
    }
  }
  let fd: number;
  try {
    // 'wx': the name was just freed, so a file appearing meanwhile is not ours to truncate.
    fd = openSync(temporary, 'wx', 0o600);
  } catch (error) {
    throw new DbFileWriteError(temporary, codeOf(error), 'open it for writing');
  }
  let step = 'write it';
  try {
    let written = 0;
    while (written < data.length) {
      written += writeSync(fd, data, written, data.length - written);
    }
    step = 'flush it to disk';
    fsyncSync(fd);
    step = 'close it';
    closeSync(fd);
    fd = -1;
    step = `rename it to ${path}`;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== -1) {
      try {
        closeSync(fd);
      } catch {
        // Already failing: the first error is the one to report.
      }
    }
    try {
      unlinkSync(temporary);
    } catch {
      // Nothing more to do: the live file is untouched either way.
    }
    throw new DbFileWriteError(temporary, codeOf(error), step);
  }
  syncDirectory(dirname(path));
}

/** fsync() of the directory, so the rename survives a power cut. */
function syncDirectory(directory: string): void {
  let fd: number;
  try {
    fd = openSync(directory, 'r');
  } catch (error) {
    throw new DbFileWriteError(directory, codeOf(error), 'open the directory');
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    // Some file systems cannot fsync a directory; the data itself is already safe.
    if (codeOf(error) !== 'EINVAL') {
      throw new DbFileWriteError(directory, codeOf(error), 'flush the directory to disk');
    }
  } finally {
    closeSync(fd);
  }
}
