import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { jsonlUrl } from '../../../examples/extensions/jsonl-url.ts';
import { CONNECTOR_CATALOG, exampleYaml } from '../../../shared/connectors/catalog.ts';
import { defineTarget } from '../../../shared/extensions/index.ts';
import { ExtensionRegistry } from '../../../shared/extensions/registry.ts';
import { parsePipelineText } from '../../../shared/pipeline/load.ts';
import { SOURCE_TYPES, TARGET_TYPES } from '../../../shared/pipeline/schema.ts';

/** Completes a connector's example fragment into a whole pipeline file. */
function pipelineFileAround(example: Readonly<Record<string, unknown>>): string {
  const base: Record<string, unknown> = {
    name: 'example',
    source: { type: 'webhook', key: ['id'] },
    target: { type: 'dynamodb' },
    triggers: { webhook: { signature: 'github', secret: 'esync/example/hook' } },
  };
  if ('source' in example && !('triggers' in example)) base.triggers = {};
  return exampleYaml({ ...base, ...example });
}

/** The connectors the custom examples name: the sample source, and a target standing for one of the user's. */
const EXTENSIONS = new ExtensionRegistry().add(jsonlUrl, 'extensions/jsonl-url.ts').add(
  defineTarget({
    type: 'orders-api',
    options: z.strictObject({ baseUrl: z.url() }),
    create: () => {
      throw new Error('not created in this test');
    },
  }),
  'extensions/orders-api.ts',
);

describe('connector catalog', () => {
  it('covers every source and target type, the three webhook signatures and both CDC formats', () => {
    // Act
    const ofKind = (kind: string) => CONNECTOR_CATALOG.filter((e) => e.kind === kind).map((e) => e.type);

    // Assess
    expect(ofKind('source').sort()).toEqual([...SOURCE_TYPES].sort());
    expect(ofKind('target').sort()).toEqual([...TARGET_TYPES].sort());
    expect(ofKind('webhook')).toEqual(['github', 'standard-webhooks', 'hmac']);
    expect(ofKind('cdc')).toEqual(['debezium', 'esync']);
  });

  for (const entry of CONNECTOR_CATALOG) {
    it(`${entry.kind} ${entry.type}: the example validates and uses it`, () => {
      // Prepare
      const text = pipelineFileAround(entry.example);

      // Act
      const { pipeline, problems } = parsePipelineText(text, `${entry.kind}-${entry.type}.yaml`, EXTENSIONS);

      // Assess
      expect(problems).toEqual([]);
      const selected = {
        source: pipeline?.source.type,
        target: pipeline?.target.type,
        webhook: pipeline?.triggers.webhook?.signature,
        cdc: pipeline?.source.type === 'cdc' ? pipeline.source.format : undefined,
      }[entry.kind];
      expect(selected).toBe(entry.type);
    });
  }

  it('documents defaults as the schema applies them', () => {
    // Act
    const postgres = CONNECTOR_CATALOG.find((e) => e.kind === 'source' && e.type === 'postgres');

    // Assess
    expect(postgres?.fields.find((f) => f.path === 'source.pageSize')).toMatchObject({
      default: '1000',
      required: false,
    });
    expect(postgres?.fields.find((f) => f.path === 'source.table')).toMatchObject({ required: true });
    expect(postgres?.fields.find((f) => f.path === 'source.connection.ssl')).toMatchObject({
      default: 'verify-full',
    });
  });

  it('writes examples the way pipeline files do, short lists in flow style', () => {
    expect(exampleYaml({ source: { key: ['id'], nested: [{ a: 1 }] } })).toBe(
      'source:\n  key: [id]\n  nested:\n    - a: 1\n',
    );
  });
});
