import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { fieldDocs, renderPipelineReference } from '../../../shared/pipeline/reference.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';

describe('fieldDocs', () => {
  it('gives each field its type, whether it is required, its default and its description', () => {
    // Prepare
    const schema = z.strictObject({
      name: z.string().min(1).describe('The name.'),
      size: z.int().min(1).max(10).default(3).describe('How many.'),
      mode: z.enum(['a', 'b']).optional().describe('Mode. @default - chosen at run time'),
    });

    // Act
    const rows = fieldDocs(schema);

    // Assess
    expect(rows).toEqual([
      {
        path: 'name',
        type: 'non-empty string',
        required: true,
        default: undefined,
        defaultBehaviour: undefined,
        description: 'The name.',
        when: undefined,
      },
      {
        path: 'size',
        type: 'integer, 1 to 10',
        required: false,
        default: '3',
        defaultBehaviour: undefined,
        description: 'How many.',
        when: undefined,
      },
      {
        path: 'mode',
        type: 'one of `a`, `b`',
        required: false,
        default: undefined,
        defaultBehaviour: 'chosen at run time',
        description: 'Mode.',
        when: undefined,
      },
    ]);
  });

  it('documents the fields of each variant of a discriminated union under its condition', () => {
    // Act
    const rows = fieldDocs(pipelineSchema, { collapse: ['source', 'target'] });

    // Assess
    expect(rows.find((r) => r.path === 'source.deletes.column')).toMatchObject({
      required: true,
      when: 'mode: soft',
    });
    expect(rows.find((r) => r.path === 'source.key')).toMatchObject({ required: true, when: undefined });
    expect(rows.some((r) => r.path === 'source.table')).toBe(false);
  });

  it('documents every top-level field of the pipeline schema', () => {
    // Act
    const reference = renderPipelineReference();

    // Assess
    for (const key of Object.keys(pipelineSchema.in.shape)) expect(reference).toContain(`| \`${key}\` |`);
  });
});
