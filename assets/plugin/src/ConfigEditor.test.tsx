import React, { useState } from 'react';

import { DataSourceInstanceSettings, DataSourcePluginMeta, DataSourceSettings, PluginType } from '@grafana/data';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { ConfigEditor, agentUrlProblem, fleetProblem, parsePeers } from './ConfigEditor';
import { installDataSources } from './test/fakes';
import { GomonOptions, GomonSecureOptions } from './types';

type Settings = DataSourceSettings<GomonOptions, GomonSecureOptions>;

function dataSource(uid: string, type: string, name: string): DataSourceInstanceSettings {
  return {
    id: uid.length,
    uid,
    type,
    name,
    access: 'proxy',
    readOnly: false,
    jsonData: {},
    meta: { id: type, name: type, type: PluginType.datasource, info: { logos: { small: '' } } } as DataSourcePluginMeta,
  };
}

function settings(overrides: Partial<Settings> = {}): Settings {
  return {
    id: 1,
    uid: 'gomon-uid',
    orgId: 1,
    name: 'gomon',
    type: 'gomon-host-datasource',
    typeName: 'gomon',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    database: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    readOnly: false,
    withCredentials: false,
    jsonData: {},
    secureJsonFields: {},
    ...overrides,
  };
}

/** Renders the editor as Grafana does: the parent holds the settings and re-renders on change. */
function setup(initial: Settings) {
  const changes: Settings[] = [];
  function Host() {
    const [options, setOptions] = useState(initial);
    return (
      <ConfigEditor
        options={options}
        onOptionsChange={(o) => {
          changes.push(o);
          setOptions(o);
        }}
      />
    );
  }
  render(<Host />);
  return { changes, last: () => changes[changes.length - 1] };
}

describe('ConfigEditor', () => {
  beforeEach(() =>
    installDataSources([
      dataSource('prom-uid', 'prometheus', 'Prometheus'),
      dataSource('loki-uid', 'loki', 'Loki'),
      dataSource('other-uid', 'graphite', 'Graphite'),
    ])
  );

  it('writes the agent URL and TLS choice to jsonData', async () => {
    const { last } = setup(settings());
    await userEvent.type(screen.getByLabelText(/Agent URL/), 'https://db1:1234');
    expect(last().jsonData).toEqual({ agentUrl: 'https://db1:1234' });
    await userEvent.click(screen.getByLabelText(/Skip TLS verification/));
    expect(last().jsonData).toEqual({ agentUrl: 'https://db1:1234', tlsSkipVerify: true });
    expect(last().secureJsonData).toBeUndefined();
  });

  it('flags an agent URL that is not an http(s) URL', async () => {
    setup(settings());
    await userEvent.type(screen.getByLabelText(/Agent URL/), 'db1:1234');
    expect(screen.getByText('"db1:1234" is not an http(s) URL; expected https://host:port')).toBeInTheDocument();
  });

  it('writes the CA certificate and the token to secureJsonData only', async () => {
    const { last } = setup(settings());
    await userEvent.type(screen.getByLabelText(/Agent CA certificate/), '-----BEGIN CERTIFICATE-----');
    await userEvent.type(screen.getByLabelText(/Agent token/), 's3cret');
    expect(last().secureJsonData).toEqual({ agentCaCert: '-----BEGIN CERTIFICATE-----', agentToken: 's3cret' });
    expect(last().jsonData).toEqual({});
  });

  it('hides a configured secret and resets it on request', async () => {
    const { last } = setup(settings({ secureJsonFields: { agentCaCert: true, agentToken: true } }));
    const resets = screen.getAllByRole('button', { name: 'Reset' });
    expect(resets).toHaveLength(2);
    await userEvent.click(resets[0]);
    expect(last().secureJsonFields).toEqual({ agentCaCert: false, agentToken: true });
    expect(last().secureJsonData).toEqual({ agentCaCert: '' });
  });

  it('writes the fleet agents one per line, or a fleet Prometheus and its job, and flags both at once', async () => {
    const { last } = setup(settings());
    await userEvent.type(screen.getByLabelText(/Fleet agents/), 'https://a:1234{Enter}{Enter} https://b:1234 ');
    expect(last().jsonData).toEqual({ fleetPeers: ['https://a:1234', 'https://b:1234'] });
    expect(screen.queryByText(/not both/)).not.toBeInTheDocument();
    await userEvent.type(screen.getByLabelText(/Fleet Prometheus URL/), 'http://prom:9090');
    await userEvent.type(screen.getByLabelText(/Fleet job/), 'agents');
    expect(last().jsonData).toEqual({
      fleetPeers: ['https://a:1234', 'https://b:1234'],
      fleetPrometheusUrl: 'http://prom:9090',
      fleetJob: 'agents',
    });
    expect(screen.getByText('Set the fleet agents or a Prometheus URL, not both.')).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText(/Fleet agents/));
    expect(last().jsonData.fleetPeers).toBeUndefined();
    expect(screen.queryByText(/not both/)).not.toBeInTheDocument();
  });

  it('links the Prometheus and Loki data sources by uid, offering only data sources of that type', async () => {
    const { last } = setup(settings());
    await userEvent.click(screen.getByLabelText(/^Prometheus/, { selector: 'input' }));
    expect(screen.queryByText('Loki', { selector: '[role="option"] *' })).not.toBeInTheDocument();
    expect(screen.queryByText('Graphite')).not.toBeInTheDocument();
    await userEvent.click(await screen.findByText('Prometheus', { selector: '[role="option"] *' }));
    expect(last().jsonData).toEqual({ prometheusUid: 'prom-uid' });

    await userEvent.click(screen.getByLabelText(/Loki/, { selector: 'input' }));
    await userEvent.click(await screen.findByText('Loki', { selector: '[role="option"] *' }));
    expect(last().jsonData).toEqual({ prometheusUid: 'prom-uid', lokiUid: 'loki-uid' });
  });
});

describe('fleet settings', () => {
  it('splits agents by line and names a bad URL', () => {
    expect(parsePeers(' https://a:1\r\n\nhttps://b:2 ')).toEqual(['https://a:1', 'https://b:2']);
    expect(fleetProblem({ fleetPeers: ['https://a:1'] })).toBeUndefined();
    expect(fleetProblem({ fleetPeers: ['a:1'] })).toBe('"a:1" is not an http(s) URL; expected https://host:port');
    expect(fleetProblem({ fleetPrometheusUrl: 'prom' })).toBe('"prom" is not a URL; expected https://host:port');
  });
});

describe('agentUrlProblem', () => {
  it('accepts nothing and http(s) URLs, and names anything else', () => {
    expect(agentUrlProblem(undefined)).toBeUndefined();
    expect(agentUrlProblem('https://10.0.0.1:1234')).toBeUndefined();
    expect(agentUrlProblem('not a url')).toBe('"not a url" is not a URL; expected https://host:port');
    expect(agentUrlProblem('ftp://h/')).toBe('"ftp://h/" is not an http(s) URL; expected https://host:port');
  });
});
