/**
 * The HTTP API's route table: what a `protocol http_api` listener answers, by path. The
 * built-in routes (api-v1.ts, `/metrics`) are registered by the broker; another feature
 * (a web dashboard at `/`, say) adds its own with `add()`. Exact paths are matched
 * first, then the longest matching prefix; what no route takes goes to `http_dir`.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ListenerConfig } from '../config/types.ts';

/** One request, as a route sees it (after the method and access checks). */
export interface HttpApiRequest {
  /** The path, without the query string (not URL-decoded, as Mosquitto's ACL sees it). */
  readonly path: string;
  /** The query string without "?" ("" when none). */
  readonly query: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The Basic authentication username (null without one). */
  readonly username: string | null;
}

/** A route's answer. */
export interface HttpApiAnswer {
  readonly status: number;
  readonly body: string | Buffer;
  /** Extra headers (Content-Type, Access-Control-Allow-Origin, ...). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type HttpApiHandler = (request: HttpApiRequest) => HttpApiAnswer | Promise<HttpApiAnswer>;

/** The listener a request came in on (a BrokerListener; `port` is the bound one). */
export interface HttpApiListenerRef {
  readonly config: ListenerConfig;
  readonly port: number;
}

/**
 * A handler that takes the request itself: any method, no Basic/ACL check by the
 * listener (it does its own, as the dashboard's login), and it may stream the answer
 * (Server-Sent Events). It answers true when it took the request, false to leave it to
 * the rest (the listener's check, then other routes' and http_dir).
 */
export type HttpApiServeHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  listener: HttpApiListenerRef,
) => boolean | Promise<boolean>;

interface HttpApiRouteBase {
  /** "/api/v1/version", or with `prefix` every path starting with it ("/dashboard/"). */
  readonly path: string;
  readonly prefix?: boolean;
}

export type HttpApiRoute =
  | (HttpApiRouteBase & { readonly handle: HttpApiHandler })
  | (HttpApiRouteBase & { readonly serve: HttpApiServeHandler });

export class HttpApiRoutes {
  readonly #exact = new Map<string, HttpApiRoute>();
  #prefixes: HttpApiRoute[] = [];

  /** Adds a route; a later one for the same path replaces the earlier. */
  add(route: HttpApiRoute): this {
    if (route.prefix === true) {
      this.#prefixes = [...this.#prefixes.filter((r) => r.path !== route.path), route].sort(
        (a, b) => b.path.length - a.path.length,
      );
    } else {
      this.#exact.set(route.path, route);
    }
    return this;
  }

  find(path: string): HttpApiRoute | null {
    const exact = this.#exact.get(path);
    if (exact !== undefined) return exact;
    return this.#prefixes.find((route) => path.startsWith(route.path)) ?? null;
  }
}

/** Mosquitto 2.1's plain-text error bodies. */
export const NOT_FOUND: HttpApiAnswer = { status: 404, body: 'Not found.\n' };
