/**
 * Bundles the client tools so each starts by loading one file instead of ~40 ES
 * modules: Node's module loader, not our code, dominated their start-up time. Shared
 * code goes into chunks, and the code behind dynamic imports (TLS, WebSockets, SOCKS,
 * help texts) stays in chunks loaded only when used. Input is tsc's output in dist/src;
 * output is dist/bin/<tool>.js, which bin/<tool> imports.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tools = ['pub', 'sub', 'rr', 'passwd', 'ctrl'];

const outdir = join(root, 'dist', 'bin');
// Chunk names carry content hashes: clear the old ones.
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: tools.map((tool) => join(root, 'dist', 'src', 'cli', `${tool}.js`)),
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  logLevel: 'warning',
});
