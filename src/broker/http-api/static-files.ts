/**
 * `http_dir` on an http_api listener (http_api.c's http_api__process_file): the path maps
 * into the directory ("/" and any path ending in "/" get index.html), and whatever does
 * not resolve to a regular file inside it (missing, a directory, a link leading out) is
 * simply not found. Websockets listeners answer differently (transport/http-dir.ts).
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, sep } from 'node:path';

export interface HttpDirFile {
  /** The file's real path. */
  readonly path: string;
  readonly content: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/** Content types of what a web page is made of (Mosquitto sends none). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** The file for a request path, or null (404). `dir` is already resolved. */
export async function readHttpDirFile(dir: string, urlPath: string): Promise<HttpDirFile | null> {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  const requested = `${dir}${sep}${path}${path.endsWith('/') ? 'index.html' : ''}`;
  try {
    const canonical = await realpath(requested);
    if (!canonical.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return null;
    const info = await stat(canonical);
    if (!info.isFile()) return null;
    const type = CONTENT_TYPES[extname(canonical).toLowerCase()];
    return {
      path: canonical,
      content: await readFile(canonical),
      headers: type === undefined ? {} : { 'Content-Type': type },
    };
  } catch {
    return null;
  }
}
