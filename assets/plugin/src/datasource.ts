/**
 * The gomon data source in the browser. Queries go to gomon's backend (QueryData) through
 * {@link DataSourceWithBackend}; this class fills in defaults, resolves template variables, reads the
 * backend's resources (`processes`, `probes`, `graph.svg`) and follows live metrics over Grafana Live.
 */
import {
  DataFrame,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  FieldType,
  LiveChannelScope,
  MetricFindValue,
  ScopedVars,
} from '@grafana/data';
import { DataSourceWithBackend, config, getGrafanaLiveSrv, getTemplateSrv } from '@grafana/runtime';
import { Observable, map, merge } from 'rxjs';

import { DEFAULT_EVENTS_LIMIT, DEFAULT_QUERY, GomonOptions, GomonQuery, ProcessInfo } from './types';

/** A metric family name that can be part of a Grafana Live channel path (no `:`). */
const FAMILY_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The query with the model's defaults filled in (query type; the events limit). */
export function withDefaults(query: GomonQuery): GomonQuery {
  const queryType = query.queryType || DEFAULT_QUERY.queryType;
  const out: GomonQuery = { ...query, queryType };
  if (queryType === 'events' && (query.limit === undefined || query.limit === null)) {
    out.limit = DEFAULT_EVENTS_LIMIT;
  }
  return out;
}

/** A node id of the graph that is not a process (a remote host, a data node), as data links carry it. */
const NODE_ID = /^(host|data):/;

/**
 * A pid after template variables: a non-negative integer; undefined for none (the overview); or a
 * graph node id such as `host:10.0.0.9` from a node-graph data link, passed on as it is (gomon's
 * backend shows the overview with a notice). Throws an error naming the value otherwise.
 */
export function resolvePid(pid: number | string | undefined, scopedVars: ScopedVars): number | string | undefined {
  if (pid === undefined || pid === null || pid === '') {
    return undefined;
  }
  const text = typeof pid === 'number' ? String(pid) : getTemplateSrv().replace(pid, scopedVars).trim();
  if (text === '') {
    return undefined;
  }
  if (NODE_ID.test(text)) {
    return text;
  }
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    const from = typeof pid === 'string' && pid !== text ? ` (from "${pid}")` : '';
    throw new Error(`gomon query: pid "${text}"${from} is not a process id`);
  }
  return Number(text);
}

/** Compiles a metrics filter, or throws an error naming it. */
export function compileFilter(filter: string | undefined): RegExp | undefined {
  if (!filter) {
    return undefined;
  }
  try {
    return new RegExp(filter);
  } catch (e) {
    throw new Error(`gomon query: filter "${filter}" is not a regular expression: ${(e as Error).message}`);
  }
}

/**
 * The frame with only the fields a metrics filter keeps: time fields, and value fields with a label
 * value that matches (the rule gomon's backend applies to QueryData).
 */
export function keepMatchingFields(frame: DataFrame, filter: RegExp): DataFrame {
  const fields = frame.fields.filter(
    (f) => f.type === FieldType.time || Object.values(f.labels ?? {}).some((v) => filter.test(v))
  );
  return fields.length === frame.fields.length ? frame : { ...frame, fields, length: frame.length };
}

export class GomonDataSource extends DataSourceWithBackend<GomonQuery, GomonOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<GomonOptions>) {
    super(instanceSettings);
  }

  getDefaultQuery(): Partial<GomonQuery> {
    return DEFAULT_QUERY;
  }

  filterQuery(query: GomonQuery): boolean {
    return !query.hide;
  }

  /** Defaults, then template variables in `pid`, `metric` and `filter`; `live` never leaves the browser. */
  applyTemplateVariables(query: GomonQuery, scopedVars: ScopedVars): GomonQuery {
    const { live: _live, ...rest } = withDefaults(query);
    const templates = getTemplateSrv();
    const out: GomonQuery = { ...rest };
    if (out.queryType === 'nodegraph' && query.scope === 'fleet') {
      // A fleet node id (`web1:1234/812`), as typed or as a data link carries it.
      const node = query.pid === undefined || query.pid === null ? '' : templates.replace(String(query.pid), scopedVars).trim();
      if (node === '') {
        delete out.pid;
      } else {
        out.pid = node;
      }
      return out;
    }
    const pid = resolvePid(query.pid, scopedVars);
    if (pid === undefined) {
      delete out.pid;
    } else {
      out.pid = pid;
    }
    if (query.metric) {
      out.metric = templates.replace(query.metric, scopedVars).trim();
    }
    if (query.filter) {
      // A multi-value variable in a regex becomes an alternation of escaped values.
      out.filter = templates.replace(query.filter, scopedVars, out.queryType === 'metrics' ? 'regex' : undefined);
    }
    return out;
  }

  /** QueryData for every query, except live metrics queries, which follow a Grafana Live channel. */
  query(request: DataQueryRequest<GomonQuery>): Observable<DataQueryResponse> {
    const live = request.targets.filter((t) => !t.hide && t.live && withDefaults(t).queryType === 'metrics');
    if (live.length === 0) {
      return super.query(request);
    }
    const streams = live.map((t) => this.liveMetrics(t, request));
    const rest = request.targets.filter((t) => !live.includes(t));
    if (rest.length > 0) {
      streams.push(super.query({ ...request, targets: rest }));
    }
    return merge(...streams);
  }

  /** The channel `ds/<uid>/metrics[/<family>]`, filtered like QueryData would filter it. */
  liveMetrics(target: GomonQuery, request: DataQueryRequest<GomonQuery>): Observable<DataQueryResponse> {
    const query = this.applyTemplateVariables(target, request.scopedVars);
    if (query.metric && !FAMILY_NAME.test(query.metric)) {
      throw new Error(`gomon query: cannot follow "${query.metric}" live: not a metric family name`);
    }
    const filter = compileFilter(query.filter);
    const stream = getGrafanaLiveSrv().getDataStream({
      addr: {
        scope: LiveChannelScope.DataSource,
        namespace: this.uid,
        path: query.metric ? `metrics/${query.metric}` : 'metrics',
      },
      key: `${request.requestId}.${target.refId}`,
      buffer: { maxLength: request.maxDataPoints ?? 1000 },
    });
    if (!filter) {
      return stream;
    }
    return stream.pipe(map((rsp) => ({ ...rsp, data: rsp.data.map((f: DataFrame) => keepMatchingFields(f, filter)) })));
  }

  /** The backend's process list (resource `processes`): what the pid picker offers. */
  async getProcesses(): Promise<ProcessInfo[]> {
    const body: unknown = await this.getResource('processes');
    if (!Array.isArray(body)) {
      throw new Error(`gomon resource "processes": expected a list, got ${typeof body}`);
    }
    return body.filter(
      (p): p is ProcessInfo => typeof p === 'object' && p !== null && Number.isInteger(p.pid) && typeof p.comm === 'string'
    );
  }

  /** The backend's loaded probes (resource `probes`, the JSON of gomon's /api/probes). */
  async getProbes(): Promise<unknown[]> {
    const body: unknown = await this.getResource('probes');
    if (!Array.isArray(body)) {
      throw new Error(`gomon resource "probes": expected a list, got ${typeof body}`);
    }
    return body;
  }

  /** Where the connection graph is drawn as SVG (resource `graph.svg`), for a link. */
  graphSvgUrl(pid?: number): string {
    const base = `${config.appSubUrl ?? ''}/api/datasources/uid/${encodeURIComponent(this.uid)}/resources/graph.svg`;
    return pid ? `${base}?pid=${pid}` : base;
  }

  /**
   * Values of a query variable on this data source: processes whose command name matches the
   * variable's query (a regular expression; empty: every process), as `comm (pid)` → pid.
   */
  async metricFindQuery(query: string, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const pattern = compileFilter(getTemplateSrv().replace(query ?? '', options?.scopedVars ?? {}, 'regex'));
    const processes = await this.getProcesses();
    return processes
      .filter((p) => !pattern || pattern.test(p.comm))
      .map((p) => ({ text: `${p.comm} (${p.pid})`, value: p.pid }));
  }
}
