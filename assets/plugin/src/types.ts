/**
 * The data model shared with gomon's backend (plugin mode, `host/src/plugin`).
 *
 * A panel query as it travels to QueryData (JSON of one DataQuery):
 *
 * ```json
 * { "refId": "A", "queryType": "nodegraph", "pid": 1234 }
 * { "refId": "B", "queryType": "metrics", "metric": "gomon_cpu_seconds_total", "filter": "^(user|system)$" }
 * { "refId": "C", "queryType": "events", "filter": "sshd", "limit": 1000 }
 * ```
 *
 * Data source settings: `jsonData` {@link GomonOptions}, `secureJsonData` {@link GomonSecureOptions}.
 */
import type { DataQuery, DataSourceJsonData } from '@grafana/data';

/** What a query asks for. */
export type QueryType = 'nodegraph' | 'metrics' | 'events';

/** Every query type, in the order the editor shows them. */
export const QUERY_TYPES: ReadonlyArray<{ value: QueryType; label: string; description: string }> = [
  { value: 'nodegraph', label: 'Node graph', description: 'Processes, their connections and remote hosts' },
  { value: 'metrics', label: 'Metrics', description: 'Recent system and process series' },
  { value: 'events', label: 'Events', description: 'Recent observations: process, file and log events' },
];

/** The query of a panel or of Explore. */
export interface GomonQuery extends DataQuery {
  /** Default `nodegraph`. */
  queryType?: QueryType;
  /**
   * nodegraph: the process to focus on; absent or 0 is the overview. In a saved query it may be a
   * template variable such as `$pid`, which applyTemplateVariables (datasource.ts) turns into a
   * number before the query leaves the browser; a data link may carry a graph node id such as
   * `host:10.0.0.9`, which the backend answers with the overview.
   */
  pid?: number | string;
  /** metrics: a family name such as `gomon_cpu_seconds_total`; empty is the default set (CPU, memory, load). */
  metric?: string;
  /** metrics: a regular expression on series label values (such as `comm`); events: a substring. */
  filter?: string;
  /** events: at most this many (default {@link DEFAULT_EVENTS_LIMIT}). */
  limit?: number;
  /**
   * metrics, frontend only: follow the family live over Grafana Live (channel `metrics` or
   * `metrics/<family>` of this data source) instead of asking QueryData. Never sent to the backend.
   */
  live?: boolean;
}

/** The default number of events a query returns. */
export const DEFAULT_EVENTS_LIMIT = 1000;

/** What a new query starts as. */
export const DEFAULT_QUERY: Partial<GomonQuery> = { queryType: 'nodegraph' };

/** Data source settings (`jsonData`). */
export interface GomonOptions extends DataSourceJsonData {
  /** A gomon agent to query over HTTPS (`https://host:1234`); empty: the collector inside the plugin process. */
  agentUrl?: string;
  /** Do not verify the agent's certificate (testing only; prefer `agentCaCert`). */
  tlsSkipVerify?: boolean;
  /** The uid of the Prometheus data source that scrapes gomon (for links from the plugin's frames). */
  prometheusUid?: string;
  /** The uid of the Loki data source gomon pushes events to. */
  lokiUid?: string;
}

/** Secret settings (`secureJsonData`): stored encrypted, never sent back to the browser. */
export interface GomonSecureOptions {
  /** PEM certificate(s) that sign the agent's certificate. */
  agentCaCert?: string;
  /** Bearer token sent to the agent. */
  agentToken?: string;
}

/** One entry of the `processes` resource (the pid picker's options). */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  cpuSeconds: number;
  residentBytes: number;
}
