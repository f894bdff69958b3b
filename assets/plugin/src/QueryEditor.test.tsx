import React, { useState } from 'react';

import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { GomonDataSource } from './datasource';
import { QueryEditor, processOption } from './QueryEditor';
import { FakeBackend, instanceSettings } from './test/fakes';
import { GomonQuery } from './types';

const PROCESSES = [
  { pid: 1, ppid: 0, comm: 'init', cpuSeconds: 12, residentBytes: 8 * 1024 * 1024 },
  { pid: 4242, ppid: 1, comm: 'sshd', cpuSeconds: 0.5, residentBytes: 3 * 1024 * 1024 },
];

/** Renders the editor the way Grafana does: the parent holds the query and re-renders on change. */
function setup(initial: GomonQuery) {
  const changes: GomonQuery[] = [];
  const onRunQuery = vi.fn();
  const backend = new FakeBackend((req) => (req.url.endsWith('/resources/processes') ? PROCESSES : {})).install();
  const datasource = new GomonDataSource(instanceSettings());
  function Host() {
    const [query, setQuery] = useState(initial);
    return (
      <QueryEditor
        datasource={datasource}
        query={query}
        onRunQuery={onRunQuery}
        onChange={(q) => {
          changes.push(q);
          setQuery(q);
        }}
      />
    );
  }
  render(<Host />);
  return { changes, onRunQuery, backend, last: () => changes[changes.length - 1] };
}

describe('QueryEditor', () => {
  it('starts on the node graph and switches the query type, running the query', async () => {
    const { last, onRunQuery } = setup({ refId: 'A' });
    expect(screen.getByLabelText('Node graph')).toBeChecked();
    expect(screen.getByText('Process')).toBeInTheDocument();

    await userEvent.click(screen.getByLabelText('Metrics'));
    expect(last()).toEqual({ refId: 'A', queryType: 'metrics' });
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    expect(screen.getByLabelText('Metric')).toBeInTheDocument();
    expect(screen.queryByText('Process')).not.toBeInTheDocument();

    await userEvent.click(screen.getByLabelText('Events'));
    expect(last().queryType).toBe('events');
    expect(screen.getByLabelText('Limit')).toHaveAttribute('placeholder', '1000');
  });

  it('picks a pid from the backend process list', async () => {
    const { last, onRunQuery, backend } = setup({ refId: 'A', queryType: 'nodegraph' });
    expect(backend.requests).toHaveLength(0); // nothing fetched until the picker opens

    await userEvent.click(screen.getByLabelText('Process'));
    const option = await screen.findByText('sshd (4242)');
    expect(backend.requests.map((r) => r.url)).toEqual(['/api/datasources/uid/gomon-uid/resources/processes']);
    await userEvent.click(option);

    expect(last()).toEqual({ refId: 'A', queryType: 'nodegraph', pid: 4242 });
    expect(onRunQuery).toHaveBeenCalled();
    expect(screen.getByText('sshd (4242)')).toBeInTheDocument();
  });

  it('takes a typed pid or template variable', async () => {
    const { last } = setup({ refId: 'A' });
    await userEvent.type(screen.getByLabelText('Process'), '$pid{Enter}');
    expect(last().pid).toBe('$pid');
    await userEvent.type(screen.getByLabelText('Process'), '77{Enter}');
    await waitFor(() => expect(last().pid).toBe(77));
  });

  it('shows a focused pid and links its SVG graph', () => {
    setup({ refId: 'A', queryType: 'nodegraph', pid: 4242 });
    expect(screen.getByText('4242')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: /SVG/ })).toHaveAttribute(
      'href',
      '/api/datasources/uid/gomon-uid/resources/graph.svg?pid=4242'
    );
  });

  it('switches the node graph to the fleet scope and takes a fleet node id', async () => {
    const { last, onRunQuery, backend } = setup({ refId: 'A', queryType: 'nodegraph', pid: 4242 });
    expect(screen.getByLabelText('Host')).toBeChecked();
    await userEvent.click(screen.getByLabelText('Fleet'));
    expect(last()).toEqual({ refId: 'A', queryType: 'nodegraph', scope: 'fleet' });
    expect(last().pid).toBeUndefined();
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    expect(screen.queryByText('Process')).not.toBeInTheDocument();
    expect(screen.queryByRole('link', { name: /SVG/ })).not.toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Fleet node'), 'web1:1234/812');
    expect(last()).toEqual({ refId: 'A', queryType: 'nodegraph', scope: 'fleet', pid: 'web1:1234/812' });
    expect(backend.requests).toHaveLength(0); // no process list for the fleet
    await userEvent.click(screen.getByLabelText('Host'));
    expect(last().scope).toBe('host');
    expect(screen.getByText('Process')).toBeInTheDocument();
  });

  it('edits the metric family, the filter and the live switch', async () => {
    const { last, onRunQuery } = setup({ refId: 'B', queryType: 'metrics' });
    await userEvent.type(screen.getByLabelText('Metric'), 'gomon_load_average');
    await userEvent.type(screen.getByLabelText('Filter'), '^1m$');
    expect(last()).toEqual({ refId: 'B', queryType: 'metrics', metric: 'gomon_load_average', filter: '^1m$' });
    await userEvent.click(screen.getByLabelText('Live'));
    expect(last().live).toBe(true);
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('edits the events filter and limit, and drops a limit that is not a positive number', async () => {
    const { last } = setup({ refId: 'C', queryType: 'events' });
    await userEvent.type(screen.getByLabelText('Filter'), 'sshd');
    await userEvent.type(screen.getByLabelText('Limit'), '50');
    expect(last()).toEqual({ refId: 'C', queryType: 'events', filter: 'sshd', limit: 50 });
    await userEvent.clear(screen.getByLabelText('Limit'));
    expect(last().limit).toBeUndefined();
  });
});

describe('processOption', () => {
  it('labels a process by comm and pid and describes its CPU and memory', () => {
    const option = processOption(PROCESSES[0]);
    expect(option.value).toBe(1);
    expect(option.label).toBe('init (1)');
    expect(option.description).toBe('CPU 12 s, RSS 8 MiB, parent 0');
  });
});
