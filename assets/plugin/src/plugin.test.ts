import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { pluginJsonProblems } from './test/pluginJson';

const here = resolve(__dirname);
const pluginJson = JSON.parse(readFileSync(resolve(here, 'plugin.json'), 'utf8'));

describe('plugin.json', () => {
  it('is valid against the rules of Grafana plugin schema', () => {
    expect(pluginJsonProblems(pluginJson)).toEqual([]);
  });

  it('declares what gomon backend implements (the contract with host/src/plugin)', () => {
    expect(pluginJson).toMatchObject({
      id: 'gomon-host-datasource',
      type: 'datasource',
      backend: true,
      executable: 'gpx_gomon',
      metrics: true,
      logs: true,
      streaming: true,
      alerting: false,
      dependencies: { grafanaDependency: '>=10.4.0' },
    });
  });

  it('names logos that exist', () => {
    for (const logo of Object.values(pluginJson.info.logos) as string[]) {
      expect(existsSync(resolve(here, logo)), logo).toBe(true);
    }
  });

  it('leaves version and date to the build', () => {
    expect(pluginJson.info.version).toBe('%VERSION%');
    expect(pluginJson.info.updated).toBe('%TODAY%');
  });
});

describe('the plugin.json checks', () => {
  // Each broken copy must be caught, with the field at fault named.
  const broken: Array<[string, (j: any) => void, string]> = [
    ['a missing id', (j) => delete j.id, 'id: required'],
    ['an id with capitals', (j) => (j.id = 'Gomon-host-datasource'), 'id: "Gomon-host-datasource" does not match'],
    ['an id without a type suffix', (j) => (j.id = 'gomon-host'), 'id: "gomon-host" does not match'],
    ['an unknown type', (j) => (j.type = 'probe'), 'type: "probe" is not one of'],
    ['an unknown property', (j) => (j.exectuable = 'x'), 'exectuable: not a plugin.json property'],
    ['a string flag', (j) => (j.streaming = 'true'), 'streaming: not a boolean'],
    ['alerting without a backend', (j) => ((j.alerting = true), (j.backend = false)), 'alerting: requires backend: true'],
    ['a backend without an executable', (j) => delete j.executable, 'executable: required by backend: true'],
    ['no logos', (j) => delete j.info.logos, 'info.logos: required'],
    ['a logo missing', (j) => delete j.info.logos.large, 'info.logos: needs small and large'],
    ['no keywords', (j) => (j.info.keywords = []), 'info.keywords: must be a non-empty list'],
    ['a version that is not semver', (j) => (j.info.version = 'v1'), 'info.version: "v1" is not a semantic version'],
    ['a date that is not a date', (j) => (j.info.updated = '27/11/2026'), 'info.updated: "27/11/2026" is not YYYY-MM-DD'],
    ['an unknown info property', (j) => (j.info.license = 'BSD'), 'info.license: not an info property'],
    ['a link without a URL', (j) => (j.info.links = [{ name: 'x', url: 'no url' }]), 'info.links[0]: needs {name, url}'],
    ['no grafanaDependency', (j) => delete j.dependencies.grafanaDependency, 'dependencies.grafanaDependency: required'],
    ['a bad grafanaDependency', (j) => (j.dependencies.grafanaDependency = 'latest'), 'is not a version range'],
    ['a plugin dependency without a version', (j) => (j.dependencies.plugins = [{ id: 'a-b-app', name: 'b', type: 'app' }]), 'dependencies.plugins[0]: needs id, name, type and version'],
  ];
  it.each(broken)('catch %s', (_what, breakIt, problem) => {
    const copy = structuredClone(pluginJson);
    breakIt(copy);
    const problems = pluginJsonProblems(copy);
    expect(problems.some((p) => p.includes(problem)), `${problem} not in ${JSON.stringify(problems)}`).toBe(true);
  });

  it('accept a built plugin.json (version and date filled in)', () => {
    const built = structuredClone(pluginJson);
    built.info.version = '0.1.0';
    built.info.updated = '2026-11-27';
    expect(pluginJsonProblems(built)).toEqual([]);
  });
});

describe('package.json', () => {
  it('carries the gomon version (the backend is the same binary)', () => {
    const pkg = JSON.parse(readFileSync(resolve(here, '../package.json'), 'utf8'));
    const cargo = readFileSync(resolve(here, '../../../Cargo.toml'), 'utf8');
    const workspaceVersion = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(cargo)?.[1];
    expect(workspaceVersion, 'version in [workspace.package] of the root Cargo.toml').toBeDefined();
    expect(pkg.version).toBe(workspaceVersion);
  });

  it('pins every dependency to an exact version', () => {
    const pkg = JSON.parse(readFileSync(resolve(here, '../package.json'), 'utf8'));
    for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });
});
