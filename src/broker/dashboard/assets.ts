/**
 * The dashboard's static files: plain HTML, CSS and JavaScript in the package's
 * `dashboard/` folder (listed in package.json "files"), read once and served from
 * memory. Nothing is built at install and nothing is fetched from elsewhere at run time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ASSET_TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export interface DashboardAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The package's dashboard/ folder: from dist/src/broker/dashboard/ or src/broker/dashboard/. */
function assetDirectory(): string {
  const candidates = ['../../../../dashboard/', '../../../dashboard/'].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  const found = candidates.find((dir) => existsSync(`${dir}index.html`));
  if (found === undefined) {
    throw new Error(`dashboard files not found (looked in ${candidates.join(', ')})`);
  }
  return found;
}

let loaded: Map<string, DashboardAsset> | null = null;

/** The asset named `name` ("index.html", "app.js", "style.css"), or null for another. */
export function dashboardAsset(name: string): DashboardAsset | null {
  if (loaded === null) {
    const dir = assetDirectory();
    loaded = new Map(
      Object.entries(ASSET_TYPES).map(([file, contentType]) => [
        file,
        { body: readFileSync(dir + file), contentType },
      ]),
    );
  }
  return loaded.get(name) ?? null;
}
