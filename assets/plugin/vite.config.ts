/**
 * Builds dist/ as Grafana loads a plugin: module.js (an AMD module, `define([deps], factory)`,
 * exporting `plugin`), its source map, plugin.json (version and date filled in), img/, README.md,
 * LICENSE and CHANGELOG.md. Grafana provides the externals at run time; the build fails if the bundle imports
 * anything else.
 *
 * JSX uses the classic runtime (React.createElement): `react/jsx-runtime` is shared by Grafana only
 * from 11.6.11 on, and this plugin supports Grafana 10.4.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Plugin, defineConfig } from 'vitest/config';

import { EXTERNALS } from './externals';

const root = fileURLToPath(new URL('.', import.meta.url));


const isExternal = (id: string) => EXTERNALS.some((e) => id === e || id.startsWith(`${e}/`));

/** The date Grafana shows as "updated": SOURCE_DATE_EPOCH when set (reproducible builds), else today. */
function buildDate(): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = epoch ? new Date(Number(epoch) * 1000) : new Date();
  return date.toISOString().slice(0, 10);
}

/** Emits the static files beside module.js and refuses imports Grafana does not provide. */
function pluginFiles(): Plugin {
  return {
    name: 'gomon-plugin-files',
    apply: 'build',
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') {
          continue;
        }
        const foreign = chunk.imports.filter((id) => !EXTERNALS.includes(id));
        if (foreign.length > 0) {
          this.error(`${chunk.fileName} imports ${foreign.join(', ')}, which Grafana does not provide`);
        }
      }
      const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
      const pluginJson = readFileSync(resolve(root, 'src/plugin.json'), 'utf8')
        .replace('%VERSION%', pkg.version)
        .replace('%TODAY%', buildDate());
      const files: Array<[string, string | Buffer]> = [
        ['plugin.json', pluginJson],
        ['img/logo.svg', readFileSync(resolve(root, 'src/img/logo.svg'))],
        ['README.md', readFileSync(resolve(root, 'README.md'))],
        ['LICENSE', readFileSync(resolve(root, 'LICENSE'))],
        ['CHANGELOG.md', readFileSync(resolve(root, 'CHANGELOG.md'))],
      ];
      for (const [fileName, source] of files) {
        this.emitFile({ type: 'asset', fileName, source });
      }
    },
  };
}

export default defineConfig({
  root,
  publicDir: false,
  esbuild: { jsx: 'transform', jsxFactory: 'React.createElement', jsxFragment: 'React.Fragment' },
  plugins: [pluginFiles()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2020',
    minify: true,
    copyPublicDir: false,
    modulePreload: false,
    rollupOptions: {
      input: resolve(root, 'src/module.ts'),
      external: isExternal,
      preserveEntrySignatures: 'exports-only',
      output: {
        format: 'amd',
        entryFileNames: 'module.js',
        // A default import takes `.default` only from an ES module namespace, as webpack's
        // create-plugin bundles do: Grafana hands `react` to plugins as the CommonJS object.
        interop: 'auto',
        // Grafana serves the plugin under public/plugins/<id>/: keep every file at a fixed name.
        assetFileNames: '[name][extname]',
        inlineDynamicImports: true,
      },
    },
  },
  test: {
    environment: 'jsdom',
    // Test against the ES builds of @grafana/runtime and @grafana/ui, transformed by vite, so that
    // module ids resolve through the aliases below: @grafana/runtime's CommonJS build requires
    // `systemjs/dist/system` without an extension (systemjs's package exports do not resolve that
    // under Node), and @grafana/ui's Icon fetches SVG files through react-inlinesvg, which jsdom
    // cannot serve (create-plugin's jest setup mocks it the same way).
    server: { deps: { inline: [/@grafana\/runtime/, /@grafana\/ui/] } },
    alias: [
      { find: /^@grafana\/runtime$/, replacement: resolve(root, 'node_modules/@grafana/runtime/dist/esm/index.js') },
      { find: /^@grafana\/ui$/, replacement: resolve(root, 'node_modules/@grafana/ui/dist/esm/index.js') },
      { find: /^systemjs\/dist\/(.+?)(\.js)?$/, replacement: resolve(root, 'node_modules/systemjs/dist/$1.js') },
      { find: /^react-inlinesvg$/, replacement: resolve(root, 'src/test/react-inlinesvg.tsx') },
    ],
    globals: true,
    setupFiles: ['src/test/setup.ts'],
    globalSetup: ['src/test/buildPlugin.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    testTimeout: 60_000,
  },
});
