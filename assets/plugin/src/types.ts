/**
 * The data model shared with gomon's backend (plugin mode, `host/src/plugin`).
 *
 * A panel query as it travels to QueryData (JSON of one DataQuery):
 *
 * ```json
 * { "refId": "A", "queryType": "nodegraph", "pid": 1234 }
 * { "refId": "B", "queryType": "metrics", "metric": "gomon_cpu_seconds_total", "filter": "^(user|system)$" }
 * { "refId": "C", "queryType": "events", "filter": "sshd", "limit": 1000 }
 * { "refId": "D", "queryType": "nodegraph", "scope": "fleet", "pid": "web1:1234/812" }
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

/** Which graph a node-graph query draws: this data source's host, or the fleet's (docs/fleet.md). */
export type GraphScope = 'host' | 'fleet';

/** Every scope, in the order the editor shows them. */
export const GRAPH_SCOPES: ReadonlyArray<{ value: GraphScope; label: string; description: string }> = [
  { value: 'host', label: 'Host', description: "This host's processes and connections" },
  { value: 'fleet', label: 'Fleet', description: 'Process-to-process connections across the fleet’s hosts' },
];

/** The query of a panel or of Explore. */
export interface GomonQuery extends DataQuery {
  /** Default `nodegraph`. */
  queryType?: QueryType;
  /** nodegraph: `host` (default) or `fleet`. In the fleet scope `pid` is a fleet node id. */
  scope?: GraphScope;
  /**
   * nodegraph: the process to focus on; absent or 0 is the overview. In a saved query it may be a
   * template variable such as `$pid`, which applyTemplateVariables (datasource.ts) turns into a
   * number before the query leaves the browser; a data link may carry a graph node id such as
   * `host:10.0.0.9`, which the backend answers with the overview. In the fleet scope: a fleet node
   * id, `<host>/<pid>` (such as `web1:1234/812`) to drill down to that host's graph, or empty for
   * the fleet's overview.
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
  /** The fleet view's agents (`https://host:1234`), asked concurrently; they take the agent CA, token and TLS settings. */
  fleetPeers?: string[];
  /** Or a Prometheus (or Thanos, Mimir) query URL scraping the agents' `[fleet] export`: the backend queries it. */
  fleetPrometheusUrl?: string;
  /** The Prometheus job whose targets are the agents (default `gomon`). */
  fleetJob?: string;
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
