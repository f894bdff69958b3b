/**
 * Reads the plugin as the project's vite configuration builds it (src/test/buildPlugin.ts builds it
 * into a temporary directory before the tests) and loads the bundle the way Grafana's SystemJS loader does: module.js must be one AMD `define([deps], factory)`
 * whose dependencies are only what Grafana provides, and whose `plugin` export is a working
 * DataSourcePlugin.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import * as grafanaData from '@grafana/data';
import * as grafanaRuntime from '@grafana/runtime';
import * as grafanaUi from '@grafana/ui';
import { render, screen } from '@testing-library/react';
import React from 'react';
import * as reactDom from 'react-dom';
import * as rxjs from 'rxjs';
import { inject } from 'vitest';

import { EXTERNALS } from '../externals';
import { pluginJsonProblems } from './test/pluginJson';
import { installDataSources, instanceSettings } from './test/fakes';

const root = resolve(__dirname, '..');
const outDir = inject('builtPluginDir');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [relative(outDir, path)];
  });
}

/** What Grafana hands an AMD plugin for each dependency name (react as its CommonJS object). */
const PROVIDED: Record<string, unknown> = {
  react: React,
  'react-dom': reactDom,
  '@grafana/data': grafanaData,
  '@grafana/ui': grafanaUi,
  '@grafana/runtime': grafanaRuntime,
  rxjs,
};

/** Evaluates module.js with an AMD `define` and returns its exports. */
function loadAmd(code: string): Record<string, any> {
  let defined: { deps: string[]; factory: (...args: unknown[]) => void } | undefined;
  const define = (deps: string[], factory: (...args: unknown[]) => void) => {
    expect(defined, 'define called once').toBeUndefined();
    defined = { deps, factory };
  };
  new Function('define', code)(define);
  expect(defined, 'module.js calls define([...], factory)').toBeDefined();
  const exports: Record<string, any> = {};
  const args = defined!.deps.map((dep) => {
    if (dep === 'exports') {
      return exports;
    }
    expect(PROVIDED, `dependency ${dep}`).toHaveProperty([dep]);
    return PROVIDED[dep];
  });
  defined!.factory(...args);
  return exports;
}

describe('the built plugin', () => {
  it('lays out what Grafana loads', () => {
    expect(files(outDir).sort()).toEqual(
      ['CHANGELOG.md', 'LICENSE', 'README.md', 'img/logo.svg', 'module.js', 'module.js.map', 'plugin.json'].sort()
    );
  });

  it('is one AMD module that depends only on what Grafana provides', () => {
    const code = readFileSync(join(outDir, 'module.js'), 'utf8');
    const head = /^define\((\[[^\]]*\]),\s*\(?function\s*\(/.exec(code);
    expect(head, code.slice(0, 200)).not.toBeNull();
    const deps: string[] = JSON.parse(head![1]);
    expect(deps).toContain('exports');
    for (const dep of deps.filter((d) => d !== 'exports')) {
      expect(EXTERNALS).toContain(dep);
    }
    expect(code).not.toMatch(/jsx-runtime/);
  });

  it('exports a data source plugin with both editors', () => {
    const { plugin } = loadAmd(readFileSync(join(outDir, 'module.js'), 'utf8'));
    expect(plugin).toBeInstanceOf(grafanaData.DataSourcePlugin);
    expect(plugin.components.QueryEditor).toBeTypeOf('function');
    expect(plugin.components.ConfigEditor).toBeTypeOf('function');
    const ds = new plugin.DataSourceClass(instanceSettings());
    expect(ds).toBeInstanceOf(grafanaRuntime.DataSourceWithBackend);
    expect(ds.getDefaultQuery()).toEqual({ queryType: 'nodegraph' });
  });

  it('renders its config editor from the bundle', () => {
    const { plugin } = loadAmd(readFileSync(join(outDir, 'module.js'), 'utf8'));
    const ConfigEditor = plugin.components.ConfigEditor;
    installDataSources([]);
    render(
      <ConfigEditor
        options={{ jsonData: {}, secureJsonFields: {}, uid: 'gomon-uid', type: 'gomon-host-datasource' }}
        onOptionsChange={() => {}}
      />
    );
    expect(screen.getByLabelText(/Agent URL/)).toBeInTheDocument();
  });

  it('fills in plugin.json version and date, and stays valid', () => {
    const built = JSON.parse(readFileSync(join(outDir, 'plugin.json'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(built.info.version).toBe(pkg.version);
    expect(built.info.updated).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(pluginJsonProblems(built)).toEqual([]);
  });
});
