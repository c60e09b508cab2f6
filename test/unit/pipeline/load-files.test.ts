import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem, loadPipelineFiles } from '../../../shared/pipeline/load.ts';

function pipelineYaml(name: string): string {
  return `name: ${name}\nsource:\n  type: webhook\n  key: [id]\ntriggers:\n  webhook:\n    signature: github\n    secret: esync/test/hook\ntarget:\n  type: s3\n`;
}

describe('loadPipelineFiles', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'esync-load-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the *.yaml and *.yml files of a directory in name order and ignores others', async () => {
    // Prepare
    await writeFile(path.join(dir, 'b.yml'), pipelineYaml('bravo'));
    await writeFile(path.join(dir, 'a.yaml'), pipelineYaml('alpha'));
    await writeFile(path.join(dir, 'notes.txt'), 'not a pipeline');

    // Act
    const { pipelines, problems } = await loadPipelineFiles(['.'], { cwd: dir });

    // Assess
    expect(problems).toEqual([]);
    expect(pipelines.map((p) => p.name)).toEqual(['alpha', 'bravo']);
  });

  it('reports a name used by two files, naming both files', async () => {
    // Prepare
    await writeFile(path.join(dir, 'first.yaml'), pipelineYaml('same'));
    await writeFile(path.join(dir, 'second.yaml'), `# copy\n${pipelineYaml('same')}`);

    // Act
    const { pipelines, problems } = await loadPipelineFiles([dir], { cwd: dir });

    // Assess
    expect(pipelines.map((p) => p.name)).toEqual(['same']);
    expect(problems.map(formatProblem)).toEqual([
      'second.yaml:2:7 name pipeline name `same` is already used by first.yaml:1:7; names must be unique',
    ]);
  });

  it('reports problems with file names relative to the working directory', async () => {
    // Prepare
    await mkdir(path.join(dir, 'pipelines'));
    await writeFile(path.join(dir, 'pipelines', 'bad.yaml'), 'name: x\n');

    // Act
    const { problems } = await loadPipelineFiles(['pipelines'], { cwd: dir });

    // Assess
    expect(problems.map((p) => p.file)).toEqual([
      path.join('pipelines', 'bad.yaml'),
      path.join('pipelines', 'bad.yaml'),
    ]);
  });

  it('collects the problems of every file, keeping the valid pipelines', async () => {
    // Prepare
    await writeFile(path.join(dir, 'good.yaml'), pipelineYaml('good'));
    await writeFile(path.join(dir, 'broken.yaml'), 'name: [\n');
    await writeFile(path.join(dir, 'invalid.yaml'), pipelineYaml('invalid').replace('type: s3', 'type: s4'));

    // Act
    const { pipelines, problems } = await loadPipelineFiles([dir], { cwd: dir });

    // Assess
    expect(pipelines.map((p) => p.name)).toEqual(['good']);
    expect(new Set(problems.map((p) => p.file))).toEqual(new Set(['broken.yaml', 'invalid.yaml']));
  });

  it('reports a missing path and an empty directory instead of throwing', async () => {
    // Prepare
    await mkdir(path.join(dir, 'empty'));

    // Act
    const { pipelines, problems } = await loadPipelineFiles(['missing.yaml', 'empty'], { cwd: dir });

    // Assess
    expect(pipelines).toEqual([]);
    expect(problems.map(formatProblem)).toEqual([
      'missing.yaml:1:1 no such file or directory',
      'empty:1:1 no pipeline files (*.yaml, *.yml) in this directory',
    ]);
  });

  it('reads a file named twice (directly and through its directory) once', async () => {
    // Prepare
    await writeFile(path.join(dir, 'only.yaml'), pipelineYaml('only'));

    // Act
    const { pipelines, problems } = await loadPipelineFiles(['only.yaml', '.'], { cwd: dir });

    // Assess
    expect(problems).toEqual([]);
    expect(pipelines.map((p) => p.name)).toEqual(['only']);
  });
});
