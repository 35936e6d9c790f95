/**
 * Answers the requests of a `protocol http_api` listener as Mosquitto 2.1's http_api.c
 * does: anything but GET is 405 "Invalid HTTP Method"; then the access check (Basic
 * credentials authenticated as client "http-api" on this listener, the path checked as
 * a topic with read access), refused with 401 "Not authorised" and a Basic challenge;
 * then the route table (routes.ts: `/api/v1/...`, `/metrics`, whatever else is
 * registered); an unknown `/api/...` path is 404 "Not found."; everything else is a file
 * of `http_dir`, or 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpApiAnswer, HttpApiListenerRef, HttpApiRequest, HttpApiRoutes } from './routes.ts';
import { NOT_FOUND } from './routes.ts';
import { readHttpDirFile } from './static-files.ts';

/** Who may ask: the listener's authentication and ACL (BrokerSecurity.httpRequestAllowed). */
export type HttpAccessCheck = (
  username: string | null,
  password: Buffer | null,
  path: string,
  remoteAddress: string,
) => Promise<boolean>;

export interface HttpApiSettings {
  readonly routes: HttpApiRoutes;
  readonly allowed: HttpAccessCheck;
  /** `http_dir`, resolved (realpath); null serves no files. */
  readonly httpDir: string | null;
  /** A file was served (for the debug log). */
  readonly onServe?: (path: string) => void;
  /** The listener, for routes that serve the request themselves (the dashboard). */
  readonly listener?: HttpApiListenerRef;
}

/** The request handler of one http_api listener. */
export function httpApiHandler(
  settings: HttpApiSettings,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const servedPath = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const serving = settings.listener === undefined ? null : settings.routes.find(servedPath);
    if (serving !== null && 'serve' in serving && settings.listener !== undefined) {
      if (await serving.serve(request, response, settings.listener)) return;
    }
    if (request.method !== 'GET') {
      send(response, { status: 405, body: 'Invalid HTTP Method\n' });
      return;
    }
    const url = request.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const query = queryAt < 0 ? '' : url.slice(queryAt + 1);
    const credentials = basicCredentials(request.headers.authorization);
    const address = request.socket.remoteAddress ?? '';
    const allowed = await settings.allowed(
      credentials?.username ?? null,
      credentials?.password ?? null,
      path,
      address,
    );
    if (!allowed) {
      send(response, {
        status: 401,
        body: 'Not authorised\n',
        headers: { 'WWW-Authenticate': 'Basic realm="Mosquitto API"' },
      });
      return;
    }
    const route = settings.routes.find(path);
    if (route !== null && 'handle' in route) {
      const apiRequest: HttpApiRequest = {
        path,
        query,
        headers: request.headers,
        username: credentials?.username ?? null,
      };
      send(response, await route.handle(apiRequest));
      return;
    }
    if (path.toLowerCase().startsWith('/api/') || settings.httpDir === null) {
      send(response, NOT_FOUND);
      return;
    }
    const file = await readHttpDirFile(settings.httpDir, path);
    if (file === null) {
      send(response, NOT_FOUND);
      return;
    }
    settings.onServe?.(file.path);
    send(response, { status: 200, body: file.content, headers: file.headers });
  };
}

function send(response: ServerResponse, answer: HttpApiAnswer): void {
  response.writeHead(answer.status, {
    ...answer.headers,
    'Content-Length': Buffer.byteLength(answer.body),
  });
  response.end(answer.body);
}

/** `Authorization: Basic <base64 of user:password>` (MHD_basic_auth_get_username_password). */
export function basicCredentials(
  header: string | undefined,
): { username: string; password: Buffer } | null {
  if (header === undefined) return null;
  const match = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (match === null) return null;
  const decoded = Buffer.from(match[1] ?? '', 'base64');
  const colon = decoded.indexOf(0x3a);
  if (colon < 0) return null;
  return {
    username: decoded.subarray(0, colon).toString('utf8'),
    password: decoded.subarray(colon + 1),
  };
}
