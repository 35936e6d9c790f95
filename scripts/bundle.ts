/**
 * Bundles each client tool into one CommonJS file, dist/bin/<tool>.cjs, which bin/<tool>
 * requires. Both choices are about start-up time, measured on Node 20 (README, "Start-up
 * time of the tools"): loading ~40 ES modules one by one cost more than our code did, and
 * even one bundled ES module pays for Node's ES module loader (~20 ms here), which a
 * CommonJS entry never starts. The code behind dynamic imports (TLS, WebSockets, SOCKS,
 * help texts) is in the file but wrapped by esbuild so that it only runs when used; `ws`
 * stays a runtime dependency, required only when a WebSocket URL is given. Input is tsc's
 * output in dist/src.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tools = ['pub', 'sub', 'rr', 'passwd', 'ctrl', 'db-dump'];

const outdir = join(root, 'dist', 'bin');
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: tools.map((tool) => join(root, 'dist', 'src', 'cli', `${tool}.js`)),
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['ws'],
  minify: true,
  logLevel: 'warning',
});
