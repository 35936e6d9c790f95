/**
 * The layer rule, enforced: every import in src/ is read and checked against the
 * edges the README allows. A new import across a forbidden edge fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const srcDir = join(root, 'src');

type Layer = 'protocol' | 'common' | 'transport' | 'client' | 'broker' | 'bridge' | 'cli' | 'root';

/** Which of our layers each layer may import, and which npm packages. */
const allowed: Record<Layer, { layers: Layer[]; packages: string[]; builtins: boolean }> = {
  protocol: { layers: ['protocol'], packages: [], builtins: false },
  common: { layers: ['common'], packages: [], builtins: true },
  transport: { layers: ['transport', 'common'], packages: ['ws'], builtins: true },
  client: { layers: ['client', 'protocol', 'common', 'transport'], packages: [], builtins: true },
  broker: {
    layers: ['broker', 'protocol', 'common', 'transport'],
    packages: ['better-sqlite3'],
    builtins: true,
  },
  bridge: {
    layers: ['bridge', 'broker', 'protocol', 'common', 'transport', 'client'],
    packages: [],
    builtins: true,
  },
  cli: { layers: ['cli', 'client', 'protocol', 'common'], packages: [], builtins: true },
  root: {
    layers: ['root', 'protocol', 'common', 'transport', 'client', 'broker', 'bridge'],
    packages: [],
    builtins: true,
  },
};

export function layerOf(file: string): Layer {
  const parts = relative(srcDir, file).split(sep);
  if (parts.length === 1) return 'root';
  const top = parts[0];
  if (top === 'broker' && parts[1] === 'bridge') return 'bridge';
  switch (top) {
    case 'protocol':
    case 'common':
    case 'transport':
    case 'client':
    case 'broker':
    case 'cli':
      return top;
    default:
      throw new Error(`${file}: not in a known layer (src/${top ?? ''})`);
  }
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const importPattern =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function importsOf(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(importPattern)) {
    const spec = m[1] ?? m[2];
    if (spec !== undefined) specs.push(spec);
  }
  return specs;
}

const builtins = new Set(builtinModules);

export function violations(file: string, text: string): string[] {
  const layer = layerOf(file);
  const rule = allowed[layer];
  const found: string[] = [];
  for (const spec of importsOf(text)) {
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec);
      const targetLayer = layerOf(target);
      // passwd.ts may use the password hashing of common/ (already allowed) and nothing of the broker.
      if (!rule.layers.includes(targetLayer))
        found.push(`${relative(root, file)} (${layer}) imports ${spec} (${targetLayer})`);
    } else if (spec.startsWith('node:') || builtins.has(spec)) {
      const ok = rule.builtins || (layer === 'protocol' && spec === 'node:buffer');
      if (!ok) found.push(`${relative(root, file)} (${layer}) imports built-in ${spec}`);
    } else {
      const pkg = spec.startsWith('@')
        ? spec.split('/').slice(0, 2).join('/')
        : spec.split('/')[0]!;
      if (!rule.packages.includes(pkg))
        found.push(`${relative(root, file)} (${layer}) imports package ${pkg}`);
    }
  }
  return found;
}

test('every import in src/ follows the layer rules', () => {
  const problems: string[] = [];
  for (const file of sourceFiles(srcDir))
    problems.push(...violations(file, readFileSync(file, 'utf8')));
  assert.deepEqual(problems, []);
});

test('the checker catches forbidden edges (it can fail)', () => {
  const protocolFile = join(srcDir, 'protocol', 'x.ts');
  assert.equal(violations(protocolFile, "import { x } from '../broker/broker.ts';").length, 1);
  assert.equal(violations(protocolFile, "import { readFile } from 'node:fs';").length, 1);
  assert.equal(violations(protocolFile, "import type { Buffer } from 'node:buffer';").length, 0);
  const cliFile = join(srcDir, 'cli', 'pub.ts');
  assert.equal(violations(cliFile, "import { Broker } from '../broker/broker.ts';").length, 1);
  assert.equal(violations(cliFile, "export { x } from '../client/client.ts';").length, 0);
  const brokerFile = join(srcDir, 'broker', 'broker.ts');
  assert.equal(violations(brokerFile, "import { main } from '../cli/pub.ts';").length, 1);
  assert.equal(
    violations(brokerFile, "import { MqttClient } from '../client/client.ts';").length,
    1,
  );
  const bridgeFile = join(srcDir, 'broker', 'bridge', 'bridge.ts');
  assert.equal(
    violations(bridgeFile, "import { MqttClient } from '../../client/client.ts';").length,
    0,
  );
});
