/**
 * `http_dir`: the plain HTTP file serving of a websockets listener, with Mosquitto's
 * answers (websockets.c): the URI path maps into the directory ("/" -> index.html), a
 * path that resolves outside it is 403, a missing file 404, a directory a 302 to the same
 * path with a "/" added, anything but a regular file 403, POST 405, and a file is sent
 * with `Server: mosquitto` and its length. Without a directory, HTTP requests are not
 * answered at all: the connection is closed.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sep } from 'node:path';

/** Answers one HTTP request from `dir` (an absolute, already resolved directory). */
export async function serveHttpFile(
  dir: string,
  request: IncomingMessage,
  response: ServerResponse,
  onServe: (path: string) => void,
): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    status(response, 405);
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
  } catch {
    status(response, 400);
    return;
  }
  const requested = dir + (path.endsWith('/') ? `${path}index.html` : path);
  let canonical: string;
  try {
    canonical = await realpath(requested);
  } catch (error) {
    status(response, statusForError(error));
    return;
  }
  if (canonical !== dir && !canonical.startsWith(dir + sep)) {
    status(response, 403);
    return;
  }
  let size: number;
  try {
    const info = await stat(canonical);
    if (info.isDirectory()) {
      response.writeHead(302, { Location: `${path}/` });
      response.end();
      return;
    }
    if (!info.isFile()) {
      status(response, 403);
      return;
    }
    size = info.size;
  } catch (error) {
    status(response, statusForError(error));
    return;
  }
  onServe(canonical);
  response.writeHead(200, { Server: 'mosquitto', 'Content-Length': size });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  const file = createReadStream(canonical);
  file.on('error', () => {
    response.destroy();
  });
  file.pipe(response);
}

/** What realpath()/stat() failing means to a client (websockets.c's errno table). */
function statusForError(error: unknown): number {
  const code = error instanceof Error && 'code' in error ? error.code : '';
  switch (code) {
    case 'EACCES':
      return 403;
    case 'ENOENT':
    case 'ENOTDIR':
      return 404;
    case 'ENAMETOOLONG':
      return 414;
    default:
      return 500;
  }
}

function status(response: ServerResponse, code: number): void {
  response.writeHead(code, { Server: 'mosquitto', 'Content-Length': 0 });
  response.end();
}
