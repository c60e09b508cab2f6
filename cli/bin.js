#!/usr/bin/env node
// Entry point of `npx esync`: registers the TypeScript loader, then runs the CLI.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

register('tsx/esm', pathToFileURL('./'));
await import('./main.ts');
