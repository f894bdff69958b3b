/**
 * The query editor: query type; for the node graph its scope (this host or the fleet) and a pid
 * picker (the backend's process list, or a typed pid or `$variable`), or in the fleet scope a fleet
 * node id to drill down to; for metrics a family, a label filter and a live switch; for events a
 * filter and a limit.
 */
import React, { useCallback, useState } from 'react';

import { QueryEditorProps, SelectableValue, formattedValueToString, getValueFormat } from '@grafana/data';
import { InlineField, InlineFieldRow, InlineSwitch, Input, LinkButton, RadioButtonGroup, Select } from '@grafana/ui';

import { GomonDataSource, withDefaults } from './datasource';
import {
  DEFAULT_EVENTS_LIMIT,
  GRAPH_SCOPES,
  GomonOptions,
  GomonQuery,
  GraphScope,
  ProcessInfo,
  QUERY_TYPES,
  QueryType,
} from './types';

type Props = QueryEditorProps<GomonDataSource, GomonQuery, GomonOptions>;

const LABEL_WIDTH = 12;

/** A pid picker option: `comm (pid)`, with CPU time and resident memory as its description. */
export function processOption(p: ProcessInfo): SelectableValue<number | string> {
  const rss = formattedValueToString(getValueFormat('bytes')(p.residentBytes ?? 0));
  const cpu = formattedValueToString(getValueFormat('s')(p.cpuSeconds ?? 0));
  return { value: p.pid, label: `${p.comm} (${p.pid})`, description: `CPU ${cpu}, RSS ${rss}, parent ${p.ppid}` };
}

export function QueryEditor({ query, onChange, onRunQuery, datasource }: Props) {
  const q = withDefaults(query);
  const [processes, setProcesses] = useState<Array<SelectableValue<number | string>>>();
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<string>();

  const loadProcesses = useCallback(() => {
    setLoading(true);
    datasource
      .getProcesses()
      .then((list) => {
        setProcesses(list.map(processOption));
        setLoadError(undefined);
      })
      .catch((e: unknown) => setLoadError(e instanceof Error ? e.message : String(e)))
      .finally(() => setLoading(false));
  }, [datasource]);

  const change = (patch: Partial<GomonQuery>, run = false) => {
    onChange({ ...query, ...patch });
    if (run) {
      onRunQuery();
    }
  };

  const pidOptions = processes ?? [];
  const pidValue =
    query.pid === undefined || query.pid === ''
      ? null
      : (pidOptions.find((o) => o.value === query.pid) ?? { value: query.pid, label: String(query.pid) });

  return (
    <>
      <InlineFieldRow>
        <InlineField label="Query" labelWidth={LABEL_WIDTH}>
          <RadioButtonGroup<QueryType>
            options={QUERY_TYPES.map((t) => ({ ...t }))}
            value={q.queryType}
            onChange={(queryType) => change({ queryType }, true)}
          />
        </InlineField>
      </InlineFieldRow>

      {q.queryType === 'nodegraph' && (
        <InlineFieldRow>
          <InlineField
            label="Scope"
            labelWidth={LABEL_WIDTH}
            tooltip="Host: this data source's host. Fleet: process-to-process connections across the hosts of the fleet (its agents or Prometheus, in the data source settings)."
          >
            <RadioButtonGroup<GraphScope>
              options={GRAPH_SCOPES.map((s) => ({ ...s }))}
              value={query.scope ?? 'host'}
              onChange={(scope) => change({ scope, pid: undefined }, true)}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {q.queryType === 'nodegraph' && query.scope === 'fleet' && (
        <InlineFieldRow>
          <InlineField
            label="Node"
            labelWidth={LABEL_WIDTH}
            tooltip="Drill down to one host: a fleet node id such as web1:1234/812 (host/pid), or a $variable. Empty: the whole fleet."
          >
            <Input
              id="gomon-fleet-node"
              aria-label="Fleet node"
              width={40}
              value={query.pid === undefined ? '' : String(query.pid)}
              placeholder="The whole fleet"
              onChange={(e) => change({ pid: e.currentTarget.value.trim() || undefined })}
              onBlur={onRunQuery}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {q.queryType === 'nodegraph' && query.scope !== 'fleet' && (
        <InlineFieldRow>
          <InlineField
            label="Process"
            labelWidth={LABEL_WIDTH}
            tooltip="Focus the graph on one process: pick it, type a pid or a $variable. Empty: the overview."
            invalid={Boolean(loadError)}
            error={loadError}
          >
            <Select<number | string>
              inputId="gomon-pid"
              aria-label="Process"
              width={40}
              options={pidOptions}
              value={pidValue}
              isLoading={loading}
              isClearable
              allowCustomValue
              placeholder="Overview (all processes)"
              noOptionsMessage={loadError ? `Processes unavailable: ${loadError}` : 'No processes'}
              onOpenMenu={loadProcesses}
              onCreateOption={(text) => {
                const trimmed = text.trim();
                change({ pid: /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed }, true);
              }}
              onChange={(v) => change({ pid: v?.value ?? undefined }, true)}
            />
          </InlineField>
          <LinkButton
            variant="secondary"
            fill="text"
            icon="external-link-alt"
            target="_blank"
            href={datasource.graphSvgUrl(typeof query.pid === 'number' ? query.pid : undefined)}
          >
            SVG
          </LinkButton>
        </InlineFieldRow>
      )}

      {q.queryType === 'metrics' && (
        <InlineFieldRow>
          <InlineField
            label="Metric"
            labelWidth={LABEL_WIDTH}
            tooltip="A metric family such as gomon_cpu_seconds_total. Empty: CPU, memory and load."
          >
            <Input
              id="gomon-metric"
              aria-label="Metric"
              width={36}
              value={query.metric ?? ''}
              placeholder="default set: CPU, memory, load"
              onChange={(e) => change({ metric: e.currentTarget.value })}
              onBlur={onRunQuery}
            />
          </InlineField>
          <InlineField label="Filter" labelWidth={8} tooltip="A regular expression on label values, such as a comm.">
            <Input
              id="gomon-filter"
              aria-label="Filter"
              width={24}
              value={query.filter ?? ''}
              placeholder="regex, e.g. ^nginx$"
              onChange={(e) => change({ filter: e.currentTarget.value })}
              onBlur={onRunQuery}
            />
          </InlineField>
          <InlineField label="Live" tooltip="Follow the family as gomon samples it (Grafana Live).">
            <InlineSwitch
              aria-label="Live"
              value={Boolean(query.live)}
              onChange={(e) => change({ live: e.currentTarget.checked }, true)}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {q.queryType === 'events' && (
        <InlineFieldRow>
          <InlineField label="Filter" labelWidth={LABEL_WIDTH} tooltip="Only events whose line or process contains this.">
            <Input
              id="gomon-filter"
              aria-label="Filter"
              width={36}
              value={query.filter ?? ''}
              placeholder="substring, e.g. sshd"
              onChange={(e) => change({ filter: e.currentTarget.value })}
              onBlur={onRunQuery}
            />
          </InlineField>
          <InlineField label="Limit" labelWidth={8} tooltip={`At most this many events (default ${DEFAULT_EVENTS_LIMIT}).`}>
            <Input
              id="gomon-limit"
              aria-label="Limit"
              type="number"
              min={1}
              width={12}
              value={query.limit ?? ''}
              placeholder={String(DEFAULT_EVENTS_LIMIT)}
              onChange={(e) => {
                const n = parseInt(e.currentTarget.value, 10);
                change({ limit: Number.isFinite(n) && n > 0 ? n : undefined });
              }}
              onBlur={onRunQuery}
            />
          </InlineField>
        </InlineFieldRow>
      )}
    </>
  );
}
