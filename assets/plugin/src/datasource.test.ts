import { DataQueryRequest, FieldType, createDataFrame, dateTime } from '@grafana/data';
import { BackendSrvRequest } from '@grafana/runtime';
import { lastValueFrom, toArray } from 'rxjs';

import { GomonDataSource, compileFilter, keepMatchingFields, resolvePid, withDefaults } from './datasource';
import { FakeBackend, FakeLive, FakeTemplateSrv, instanceSettings } from './test/fakes';
import { DEFAULT_EVENTS_LIMIT, GomonQuery } from './types';

function request(targets: GomonQuery[], scopedVars = {}): DataQueryRequest<GomonQuery> {
  const now = dateTime(1_700_000_000_000);
  return {
    requestId: 'Q1',
    interval: '15s',
    intervalMs: 15_000,
    maxDataPoints: 500,
    range: { from: now, to: now, raw: { from: 'now-15m', to: 'now' } },
    scopedVars,
    targets,
    timezone: 'utc',
    app: 'dashboard',
    startTime: 0,
  };
}

/** The queries of the one POST /api/ds/query the data source made. */
function sentQueries(backend: FakeBackend): Array<Record<string, unknown>> {
  const posts = backend.requests.filter((r: BackendSrvRequest) => r.url.startsWith('/api/ds/query'));
  expect(posts).toHaveLength(1);
  return (posts[0].data as { queries: Array<Record<string, unknown>> }).queries;
}

describe('withDefaults', () => {
  it('makes a query without a type a node-graph query', () => {
    expect(withDefaults({ refId: 'A' }).queryType).toBe('nodegraph');
  });

  it('gives events queries the default limit, and keeps an explicit one', () => {
    expect(withDefaults({ refId: 'A', queryType: 'events' }).limit).toBe(DEFAULT_EVENTS_LIMIT);
    expect(withDefaults({ refId: 'A', queryType: 'events', limit: 5 }).limit).toBe(5);
    expect(withDefaults({ refId: 'A', queryType: 'metrics' }).limit).toBeUndefined();
  });
});

describe('resolvePid', () => {
  beforeEach(() => new FakeTemplateSrv({ pid: '4242', name: 'sshd', empty: '' }).install());

  it('passes numbers through and resolves variables to numbers', () => {
    expect(resolvePid(17, {})).toBe(17);
    expect(resolvePid('$pid', {})).toBe(4242);
    expect(resolvePid('${pid}', {})).toBe(4242);
    expect(resolvePid('$pid', { pid: { text: '99', value: '99' } })).toBe(99);
  });

  it('treats nothing, and a variable that is empty, as the overview', () => {
    expect(resolvePid(undefined, {})).toBeUndefined();
    expect(resolvePid('', {})).toBeUndefined();
    expect(resolvePid('$empty', {})).toBeUndefined();
  });

  it('passes graph node ids from data links on to the backend', () => {
    expect(resolvePid('host:10.0.0.9', {})).toBe('host:10.0.0.9');
    expect(resolvePid('data:/var/log', {})).toBe('data:/var/log');
  });

  it('names the value and the variable when the result is not a pid', () => {
    expect(() => resolvePid('$name', {})).toThrow('pid "sshd" (from "$name") is not a process id');
    expect(() => resolvePid(-3, {})).toThrow('pid "-3" is not a process id');
    expect(() => resolvePid('$unknown', {})).toThrow('pid "$unknown" is not a process id');
  });
});

describe('compileFilter and keepMatchingFields', () => {
  it('names a filter that is not a regular expression', () => {
    expect(() => compileFilter('(')).toThrow('filter "(" is not a regular expression');
    expect(compileFilter('')).toBeUndefined();
  });

  it('keeps the time field and the series whose label values match', () => {
    const frame = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [1, 2] },
        { name: 'value', type: FieldType.number, values: [1, 2], labels: { comm: 'nginx', pid: '10' } },
        { name: 'value', type: FieldType.number, values: [3, 4], labels: { comm: 'sshd', pid: '11' } },
      ],
    });
    const kept = keepMatchingFields(frame, /^nginx$/);
    expect(kept.fields.map((f) => f.labels?.comm ?? f.name)).toEqual(['time', 'nginx']);
    expect(keepMatchingFields(frame, /./)).toBe(frame);
  });
});

describe('GomonDataSource', () => {
  let templates: FakeTemplateSrv;
  beforeEach(() => {
    templates = new FakeTemplateSrv({ pid: '4242', comm: ['nginx', 'php-fpm'], family: 'gomon_load_average' }).install();
  });

  it('offers a node-graph query by default', () => {
    expect(new GomonDataSource(instanceSettings()).getDefaultQuery()).toEqual({ queryType: 'nodegraph' });
  });

  it('applies defaults and template variables, and drops the frontend-only live flag', () => {
    const ds = new GomonDataSource(instanceSettings());
    expect(ds.applyTemplateVariables({ refId: 'A', pid: '$pid' }, {})).toEqual({
      refId: 'A',
      queryType: 'nodegraph',
      pid: 4242,
    });
    expect(ds.applyTemplateVariables({ refId: 'A', queryType: 'nodegraph', pid: '' }, {})).toEqual({
      refId: 'A',
      queryType: 'nodegraph',
    });
    const metrics = ds.applyTemplateVariables(
      { refId: 'B', queryType: 'metrics', metric: '$family', filter: '^$comm$', live: true },
      {}
    );
    expect(metrics).toEqual({ refId: 'B', queryType: 'metrics', metric: 'gomon_load_average', filter: '^(nginx|php-fpm)$' });
    expect(new RegExp(metrics.filter!).test('php-fpm')).toBe(true);
    expect(new RegExp(metrics.filter!).test('php')).toBe(false);
    // Events filters are substrings: no regex escaping.
    templates.vars.needle = 'a.b';
    expect(ds.applyTemplateVariables({ refId: 'C', queryType: 'events', filter: '$needle' }, {})).toEqual({
      refId: 'C',
      queryType: 'events',
      filter: 'a.b',
      limit: DEFAULT_EVENTS_LIMIT,
    });
  });

  it('passes a fleet node id on as text, template variables resolved', () => {
    const ds = new GomonDataSource(instanceSettings());
    templates.vars.agent = 'web1:1234';
    const fleet = { refId: 'A', queryType: 'nodegraph', scope: 'fleet' } as const;
    expect(ds.applyTemplateVariables({ ...fleet, pid: '$agent/$pid' }, {})).toEqual({ ...fleet, pid: 'web1:1234/4242' });
    expect(ds.applyTemplateVariables({ ...fleet, pid: '' }, {})).toEqual(fleet);
    // In the host scope the same text is no pid.
    expect(() => ds.applyTemplateVariables({ refId: 'A', pid: '$agent/1' }, {})).toThrow('is not a process id');
  });

  it('sends resolved queries to QueryData and leaves hidden ones out', async () => {
    const backend = new FakeBackend(() => ({ results: { A: { frames: [] } } })).install();
    const ds = new GomonDataSource(instanceSettings());
    await lastValueFrom(
      ds.query(
        request([
          { refId: 'A', pid: '$pid' },
          { refId: 'B', queryType: 'events', hide: true },
        ])
      )
    );
    const queries = sentQueries(backend);
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatchObject({ refId: 'A', queryType: 'nodegraph', pid: 4242, maxDataPoints: 500 });
    expect(queries[0].datasource).toEqual({ type: 'gomon-host-datasource', uid: 'gomon-uid' });
  });

  it('follows live metrics over the data source channel, filtered, and asks QueryData for the rest', async () => {
    const frame = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [1] },
        { name: 'value', type: FieldType.number, values: [0.5], labels: { comm: 'nginx' } },
        { name: 'value', type: FieldType.number, values: [0.7], labels: { comm: 'sshd' } },
      ],
    });
    const live = new FakeLive([{ data: [frame] }]).install();
    const backend = new FakeBackend(() => ({ results: {} })).install();
    const ds = new GomonDataSource(instanceSettings());
    const responses = await lastValueFrom(
      ds
        .query(
          request([
            { refId: 'L', queryType: 'metrics', metric: 'gomon_process_cpu_seconds_total', filter: 'nginx', live: true },
            { refId: 'M', queryType: 'metrics', live: true },
            { refId: 'N', queryType: 'nodegraph', live: true },
          ])
        )
        .pipe(toArray())
    );
    expect(live.streams.map((s) => s.addr)).toEqual([
      { scope: 'ds', namespace: 'gomon-uid', path: 'metrics/gomon_process_cpu_seconds_total' },
      { scope: 'ds', namespace: 'gomon-uid', path: 'metrics' },
    ]);
    expect(live.streams[0].buffer).toEqual({ maxLength: 500 });
    const filtered = responses[0].data[0];
    expect(filtered.fields.map((f: { labels?: Record<string, string> }) => f.labels?.comm ?? 'time')).toEqual([
      'time',
      'nginx',
    ]);
    // Only the node-graph query went to QueryData, without the live flag.
    const queries = sentQueries(backend);
    expect(queries.map((q) => q.refId)).toEqual(['N']);
    expect(queries[0]).not.toHaveProperty('live');
  });

  it('refuses to follow a family whose name cannot be a channel path', () => {
    new FakeLive().install();
    const ds = new GomonDataSource(instanceSettings());
    expect(() => ds.query(request([{ refId: 'L', queryType: 'metrics', metric: 'rule:ratio', live: true }]))).toThrow(
      'cannot follow "rule:ratio" live'
    );
  });

  it('reads the process list resource and keeps only well-formed entries', async () => {
    const backend = new FakeBackend(() => [
      { pid: 1, ppid: 0, comm: 'init', cpuSeconds: 2.5, residentBytes: 4096 },
      { pid: 'x', comm: 'bad' },
      null,
      { pid: 2, ppid: 1, comm: 'sshd', cpuSeconds: 0, residentBytes: 0 },
    ]).install();
    const ds = new GomonDataSource(instanceSettings());
    const processes = await ds.getProcesses();
    expect(processes.map((p) => p.pid)).toEqual([1, 2]);
    expect(backend.requests[0].url).toBe('/api/datasources/uid/gomon-uid/resources/processes');
    expect(backend.requests[0].method).toBe('GET');
  });

  it('says what the process resource returned when it is not a list', async () => {
    new FakeBackend(() => ({ error: 'nope' })).install();
    await expect(new GomonDataSource(instanceSettings()).getProcesses()).rejects.toThrow(
      'gomon resource "processes": expected a list, got object'
    );
  });

  it('reads the probes resource', async () => {
    const backend = new FakeBackend(() => [{ name: 'system' }]).install();
    expect(await new GomonDataSource(instanceSettings()).getProbes()).toEqual([{ name: 'system' }]);
    expect(backend.requests[0].url).toBe('/api/datasources/uid/gomon-uid/resources/probes');
  });

  it('offers processes as variable values, filtered by a regex on comm', async () => {
    new FakeBackend(() => [
      { pid: 1, ppid: 0, comm: 'init', cpuSeconds: 0, residentBytes: 0 },
      { pid: 20, ppid: 1, comm: 'nginx', cpuSeconds: 0, residentBytes: 0 },
    ]).install();
    const ds = new GomonDataSource(instanceSettings());
    expect(await ds.metricFindQuery('^ngi')).toEqual([{ text: 'nginx (20)', value: 20 }]);
    expect((await ds.metricFindQuery('')).map((v) => v.value)).toEqual([1, 20]);
  });

  it('links the graph SVG resource', () => {
    const ds = new GomonDataSource(instanceSettings());
    expect(ds.graphSvgUrl()).toBe('/api/datasources/uid/gomon-uid/resources/graph.svg');
    expect(ds.graphSvgUrl(42)).toBe('/api/datasources/uid/gomon-uid/resources/graph.svg?pid=42');
  });
});
