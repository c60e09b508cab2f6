import { describe, expect, it } from 'vitest';
import { isLoopbackHost, reachLoopbackDatabasesWithoutTls } from '../../../local/loopback-databases.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';

const pipeline = pipelineSchema.parse({
  name: 'users-sync',
  source: { type: 'postgres', connection: { secret: 'users-db' }, table: 'users', key: ['id'] },
  target: { type: 'postgres', connection: { secret: 'warehouse-db' }, table: 'users' },
});

describe('local stack: databases on the loopback interface', () => {
  it('are reached without TLS, each override logged, while a remote database keeps verify-full', () => {
    const lines: string[] = [];
    const secrets = {
      'users-db': JSON.stringify({ host: '127.0.0.1', port: 5432, user: 'u' }),
      'warehouse-db': JSON.stringify({ url: 'postgres://u@warehouse.example.com:5432/dw' }),
    };

    const [local] = reachLoopbackDatabasesWithoutTls([pipeline], secrets, (line) => lines.push(line));

    expect(local?.source).toMatchObject({ connection: { secret: 'users-db', ssl: 'disable' } });
    expect(local?.target).toMatchObject({ connection: { secret: 'warehouse-db', ssl: 'verify-full' } });
    expect(lines).toEqual([
      'local: users-sync source reaches 127.0.0.1 without TLS (loopback; pipeline says ssl: verify-full)',
    ]);
    expect(pipeline.source).toMatchObject({ connection: { ssl: 'verify-full' } });
  });

  it('leaves a connection whose secret is not given untouched', () => {
    const [local] = reachLoopbackDatabasesWithoutTls([pipeline], {}, () => {});

    expect(local?.source).toMatchObject({ connection: { ssl: 'verify-full' } });
  });

  it('counts localhost, 127.0.0.0/8 and ::1 as loopback, and nothing else', () => {
    expect(['localhost', '127.0.0.1', '127.1.2.3', '::1'].map(isLoopbackHost)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['10.0.0.1', 'db.internal', '128.0.0.1', '::2'].map(isLoopbackHost)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});
