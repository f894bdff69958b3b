/**
 * Stand-ins for the services Grafana gives a plugin at run time, installed through @grafana/runtime's
 * own setters (setBackendSrv, setTemplateSrv, setGrafanaLiveSrv, setDataSourceSrv), so the code under
 * test runs unchanged — DataSourceWithBackend included — and the fakes record what reached them.
 */
import {
  DataQueryResponse,
  DataSourceInstanceSettings,
  DataSourcePluginMeta,
  PluginType,
  ScopedVars,
} from '@grafana/data';
import {
  BackendSrv,
  BackendSrvRequest,
  DataSourceSrv,
  FetchResponse,
  GrafanaLiveSrv,
  LiveDataStreamOptions,
  TemplateSrv,
  setBackendSrv,
  setDataSourceSrv,
  setGrafanaLiveSrv,
  setTemplateSrv,
} from '@grafana/runtime';
import { Observable, of } from 'rxjs';

import { GomonOptions } from '../types';

export const PLUGIN_ID = 'gomon-host-datasource';

export function instanceSettings(
  overrides: Partial<DataSourceInstanceSettings<GomonOptions>> = {}
): DataSourceInstanceSettings<GomonOptions> {
  return {
    id: 7,
    uid: 'gomon-uid',
    type: PLUGIN_ID,
    name: 'gomon',
    access: 'proxy',
    readOnly: false,
    jsonData: {},
    meta: { id: PLUGIN_ID, name: 'gomon', type: PluginType.datasource, backend: true } as DataSourcePluginMeta,
    ...overrides,
  };
}

/** Records every request; answers with `respond(request)`. */
export class FakeBackend {
  requests: BackendSrvRequest[] = [];
  constructor(public respond: (req: BackendSrvRequest) => unknown = () => ({})) {}

  install(): this {
    const fetch = (req: BackendSrvRequest): Observable<FetchResponse<unknown>> => {
      this.requests.push(req);
      return of({
        data: this.respond(req),
        status: 200,
        statusText: 'OK',
        ok: true,
        headers: new Headers(),
        redirected: false,
        type: 'basic',
        url: req.url,
        config: req,
      });
    };
    setBackendSrv({ fetch } as unknown as BackendSrv);
    return this;
  }
}

/** Interpolates `$name` and `${name}` from scoped variables, then from `vars`, like Grafana's TemplateSrv. */
export class FakeTemplateSrv {
  constructor(public vars: Record<string, string | string[]> = {}) {}

  install(): this {
    const replace = (target?: string, scopedVars?: ScopedVars, format?: string | Function) =>
      (target ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string, bare: string) => {
        const name = braced ?? bare;
        const value = scopedVars?.[name]?.value ?? this.vars[name];
        if (value === undefined) {
          return whole;
        }
        const values: string[] = Array.isArray(value) ? value.map(String) : [String(value)];
        if (format === 'regex') {
          const escaped = values.map((v) => v.replace(/[\\^$*+?.()|[\]{}\/]/g, '\\$&'));
          return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
        }
        return values.length === 1 ? values[0] : `{${values.join(',')}}`;
      });
    setTemplateSrv({
      replace,
      getVariables: () => [],
      containsTemplate: (t?: string) => /\$/.test(t ?? ''),
      updateTimeRange: () => {},
    } as unknown as TemplateSrv);
    return this;
  }
}

/** Records each getDataStream call and answers with the given responses. */
export class FakeLive {
  streams: LiveDataStreamOptions[] = [];
  constructor(public responses: DataQueryResponse[] = []) {}

  install(): this {
    const getDataStream = (options: LiveDataStreamOptions) => {
      this.streams.push(options);
      return of(...this.responses);
    };
    setGrafanaLiveSrv({ getDataStream } as unknown as GrafanaLiveSrv);
    return this;
  }
}

/** A data source list for pickers. */
export function installDataSources(list: Array<DataSourceInstanceSettings<any>>) {
  setDataSourceSrv({
    getList: (filters: { type?: string | string[] } = {}) =>
      list.filter((ds) => !filters.type || [filters.type].flat().includes(ds.type)),
    getInstanceSettings: (ref: string | { uid?: string } | null | undefined) => {
      const uid = typeof ref === 'string' ? ref : ref?.uid;
      return list.find((ds) => ds.uid === uid || ds.name === uid);
    },
    get: async () => {
      throw new Error('not in the fake');
    },
    reload: () => {},
  } as unknown as DataSourceSrv);
}
