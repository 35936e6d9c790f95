/** MQTT 3.1.1 golden vectors (vectors-v311.ts), decoded and encoded. */
import { test } from 'node:test';
import { ProtocolVersion } from '../../src/protocol/constants.ts';
import { checkGolden } from './codec-helpers.ts';
import { V311_GOLDEN } from './vectors-v311.ts';

for (const g of V311_GOLDEN) {
  test(`3.1.1 golden: ${g.name}`, () => {
    checkGolden(g, ProtocolVersion.V311);
  });
}
