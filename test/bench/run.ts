import { runCli } from './cli.ts';
import { runBench } from './harness.ts';

runCli(process.argv.slice(2), {
  bench: runBench,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  // The local stack's servers and pollers are stopped; exiting drops idle sockets the SDK keeps.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
