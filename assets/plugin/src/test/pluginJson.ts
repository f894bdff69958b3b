/**
 * The rules Grafana's plugin.json schema (grafana/grafana docs/sources/developers/plugins/
 * plugin.schema.json, described in the plugin-tools "plugin.json" reference) puts on the fields of a
 * data source plugin. No npm package ships that schema (checked: @grafana/create-plugin,
 * @grafana/plugin-meta-extractor, @grafana/plugin-validator, @grafana/plugin-e2e), so these checks
 * restate it: required fields, allowed keys (the schema sets additionalProperties: false at the top,
 * in `info` and in `dependencies`), types, enums and patterns.
 */

const TOP_LEVEL_KEYS = new Set([
  '$schema', 'alerting', 'annotations', 'autoEnabled', 'backend', 'builtIn', 'category', 'dependencies',
  'enterpriseFeatures', 'executable', 'hideFromList', 'id', 'includes', 'info', 'logs', 'metrics', 'name',
  'pascalName', 'preload', 'queryOptions', 'routes', 'skipDataQuery', 'state', 'streaming', 'tracing', 'type',
]);
const BOOLEAN_KEYS = [
  'alerting', 'annotations', 'autoEnabled', 'backend', 'builtIn', 'hideFromList', 'logs', 'metrics', 'preload',
  'skipDataQuery', 'streaming', 'tracing',
];
const INFO_KEYS = new Set(['author', 'build', 'description', 'keywords', 'links', 'logos', 'screenshots', 'updated', 'version']);
const DEPENDENCY_KEYS = new Set(['grafanaVersion', 'grafanaDependency', 'plugins']);
const TYPES = ['app', 'datasource', 'panel', 'renderer', 'secretsmanager', 'transformer'];
const CATEGORIES = ['tsdb', 'logging', 'cloud', 'tracing', 'profiling', 'sql', 'enterprise', 'iot', 'other'];

const ID = /^[0-9a-z]+-([0-9a-z]+-)?(app|panel|datasource|secretsmanager|transformer)$/;
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)|(%VERSION%)$/;
const UPDATED = /^(\d{4}-\d{2}-\d{2}|%TODAY%)$/;
const GRAFANA_DEPENDENCY =
  /^(<=|>=|<|>|=|~|\^)?([0-9]+)(\.[0-9x*]+)(\.[0-9x*]+)?(\s(<=|>=|<|=>)?([0-9]+)(\.[0-9x]+)(\.[0-9x]+))?$/;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function isUri(v: unknown): boolean {
  if (typeof v !== 'string') {
    return false;
  }
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

/** Every way `json` breaks the schema, as "path: problem" lines (empty: valid). */
export function pluginJsonProblems(json: unknown): string[] {
  const problems: string[] = [];
  const bad = (path: string, what: string) => problems.push(`${path}: ${what}`);
  if (!isObject(json)) {
    return ['plugin.json: not an object'];
  }
  for (const key of ['type', 'name', 'id', 'info', 'dependencies']) {
    if (!(key in json)) {
      bad(key, 'required');
    }
  }
  for (const key of Object.keys(json)) {
    if (!TOP_LEVEL_KEYS.has(key)) {
      bad(key, 'not a plugin.json property');
    }
  }
  if ('id' in json && (typeof json.id !== 'string' || !ID.test(json.id))) {
    bad('id', `${JSON.stringify(json.id)} does not match ${ID}`);
  }
  if ('type' in json && !TYPES.includes(json.type as string)) {
    bad('type', `${JSON.stringify(json.type)} is not one of ${TYPES.join(', ')}`);
  }
  if ('name' in json && typeof json.name !== 'string') {
    bad('name', 'not a string');
  }
  if ('category' in json && !CATEGORIES.includes(json.category as string)) {
    bad('category', `${JSON.stringify(json.category)} is not one of ${CATEGORIES.join(', ')}`);
  }
  for (const key of BOOLEAN_KEYS) {
    if (key in json && typeof json[key] !== 'boolean') {
      bad(key, 'not a boolean');
    }
  }
  if (json.alerting === true && json.backend !== true) {
    bad('alerting', 'requires backend: true');
  }
  if ('executable' in json && typeof json.executable !== 'string') {
    bad('executable', 'not a string');
  }
  if (json.backend === true && !json.executable) {
    bad('executable', 'required by backend: true (Grafana starts <executable>_<os>_<arch>)');
  }

  const info = json.info;
  if ('info' in json && !isObject(info)) {
    bad('info', 'not an object');
  } else if (isObject(info)) {
    for (const key of ['logos', 'version', 'updated', 'keywords']) {
      if (!(key in info)) {
        bad(`info.${key}`, 'required');
      }
    }
    for (const key of Object.keys(info)) {
      if (!INFO_KEYS.has(key)) {
        bad(`info.${key}`, 'not an info property');
      }
    }
    if ('description' in info && typeof info.description !== 'string') {
      bad('info.description', 'not a string');
    }
    if ('keywords' in info) {
      const k = info.keywords;
      if (!Array.isArray(k) || k.length < 1 || k.some((w) => typeof w !== 'string')) {
        bad('info.keywords', 'must be a non-empty list of strings');
      }
    }
    if ('logos' in info) {
      const logos = info.logos;
      if (!isObject(logos) || typeof logos.small !== 'string' || typeof logos.large !== 'string') {
        bad('info.logos', 'needs small and large (strings)');
      } else if (Object.keys(logos).some((k) => k !== 'small' && k !== 'large')) {
        bad('info.logos', 'only small and large are allowed');
      }
    }
    if ('version' in info && (typeof info.version !== 'string' || !VERSION.test(info.version))) {
      bad('info.version', `${JSON.stringify(info.version)} is not a semantic version or %VERSION%`);
    }
    if ('updated' in info && (typeof info.updated !== 'string' || !UPDATED.test(info.updated))) {
      bad('info.updated', `${JSON.stringify(info.updated)} is not YYYY-MM-DD or %TODAY%`);
    }
    if ('author' in info) {
      const a = info.author;
      if (!isObject(a) || Object.keys(a).some((k) => !['name', 'email', 'url'].includes(k))) {
        bad('info.author', 'allows name, email, url only');
      } else if ('url' in a && !isUri(a.url)) {
        bad('info.author.url', 'not a URI');
      }
    }
    if ('links' in info) {
      const links = info.links;
      if (!Array.isArray(links)) {
        bad('info.links', 'not a list');
      } else {
        links.forEach((l, i) => {
          if (!isObject(l) || Object.keys(l).some((k) => k !== 'name' && k !== 'url') || ('url' in l && !isUri(l.url))) {
            bad(`info.links[${i}]`, 'needs {name, url} with url a URI');
          }
        });
      }
    }
    if ('screenshots' in info && !Array.isArray(info.screenshots)) {
      bad('info.screenshots', 'not a list');
    }
  }

  const deps = json.dependencies;
  if ('dependencies' in json && !isObject(deps)) {
    bad('dependencies', 'not an object');
  } else if (isObject(deps)) {
    if (!('grafanaDependency' in deps)) {
      bad('dependencies.grafanaDependency', 'required');
    } else if (typeof deps.grafanaDependency !== 'string' || !GRAFANA_DEPENDENCY.test(deps.grafanaDependency)) {
      bad('dependencies.grafanaDependency', `${JSON.stringify(deps.grafanaDependency)} is not a version range`);
    }
    for (const key of Object.keys(deps)) {
      if (!DEPENDENCY_KEYS.has(key)) {
        bad(`dependencies.${key}`, 'not a dependencies property');
      }
    }
    if ('plugins' in deps) {
      const plugins = deps.plugins;
      if (!Array.isArray(plugins)) {
        bad('dependencies.plugins', 'not a list');
      } else {
        plugins.forEach((p, i) => {
          if (!isObject(p) || ['id', 'name', 'type', 'version'].some((k) => typeof p[k] !== 'string')) {
            bad(`dependencies.plugins[${i}]`, 'needs id, name, type and version');
          }
        });
      }
    }
  }
  return problems;
}
