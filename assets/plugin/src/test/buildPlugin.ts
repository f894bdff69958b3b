/**
 * Vitest global setup: builds the plugin once, with the project's vite configuration, into a
 * temporary directory that the tests read through `inject('builtPluginDir')` (vite's build cannot
 * run inside the jsdom test environment).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { build } from 'vite';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    builtPluginDir: string;
  }
}

export default async function setup(project: TestProject) {
  const root = resolve(__dirname, '../..');
  const outDir = mkdtempSync(join(tmpdir(), 'gomon-plugin-dist-'));
  await build({ root, configFile: resolve(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  project.provide('builtPluginDir', outDir);
  return () => rmSync(outDir, { recursive: true, force: true });
}
