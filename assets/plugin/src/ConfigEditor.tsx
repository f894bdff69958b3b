/**
 * The data source settings page: where the data comes from (the collector inside the plugin
 * process, or a gomon agent over HTTPS with its CA and token), the fleet view's agents or
 * Prometheus, and the user's Prometheus and Loki data sources that gomon's frames link to.
 */
import React from 'react';

import { DataSourceInstanceSettings, DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { DataSourcePicker } from '@grafana/runtime';
import { Field, FieldSet, Input, SecretInput, SecretTextArea, Switch, TextArea } from '@grafana/ui';

import { GomonOptions, GomonSecureOptions } from './types';

type Props = DataSourcePluginOptionsEditorProps<GomonOptions, GomonSecureOptions>;

/** Why an agent URL is unusable, or undefined when it is fine (empty is fine: no agent). */
export function agentUrlProblem(url: string | undefined): string | undefined {
  if (!url) {
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL; expected https://host:port`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return `"${url}" is not an http(s) URL; expected https://host:port`;
  }
  return undefined;
}

/** The fleet's agent URLs from the text area: one per line, blanks dropped. */
export function parsePeers(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** Why the fleet settings are unusable, or undefined when they are fine. */
export function fleetProblem(jsonData: GomonOptions): string | undefined {
  const peers = jsonData.fleetPeers ?? [];
  if (peers.length > 0 && jsonData.fleetPrometheusUrl) {
    return 'Set the fleet agents or a Prometheus URL, not both.';
  }
  for (const url of [...peers, ...(jsonData.fleetPrometheusUrl ? [jsonData.fleetPrometheusUrl] : [])]) {
    const problem = agentUrlProblem(url);
    if (problem) {
      return problem;
    }
  }
  return undefined;
}

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const jsonData = options.jsonData ?? {};
  const secureFields = options.secureJsonFields ?? {};
  const secure = options.secureJsonData ?? {};

  const setJson = (patch: Partial<GomonOptions>) =>
    onOptionsChange({ ...options, jsonData: { ...jsonData, ...patch } });

  const setSecret = (key: keyof GomonSecureOptions, value: string) =>
    onOptionsChange({ ...options, secureJsonData: { ...secure, [key]: value } });

  const resetSecret = (key: keyof GomonSecureOptions) =>
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secureFields, [key]: false },
      secureJsonData: { ...secure, [key]: '' },
    });

  const urlProblem = agentUrlProblem(jsonData.agentUrl);
  const fleetError = fleetProblem(jsonData);
  const [peersText, setPeersText] = React.useState((jsonData.fleetPeers ?? []).join('\n'));

  return (
    <>
      <FieldSet label="Source">
        <Field
          label="Agent URL"
          description="A gomon running as root on the host to show (https://host:1234). Empty: the collector inside the plugin process, with the privileges Grafana has."
          invalid={Boolean(urlProblem)}
          error={urlProblem}
        >
          <Input
            id="gomon-agent-url"
            width={50}
            value={jsonData.agentUrl ?? ''}
            placeholder="https://host:1234"
            onChange={(e) => setJson({ agentUrl: e.currentTarget.value.trim() || undefined })}
          />
        </Field>
        <Field
          label="Agent CA certificate"
          description="PEM certificate that signed the agent's (gomon's generated <state-dir>/tls/cert.pem). Stored encrypted."
        >
          <SecretTextArea
            id="gomon-agent-ca"
            cols={64}
            rows={6}
            isConfigured={Boolean(secureFields.agentCaCert)}
            value={secure.agentCaCert ?? ''}
            placeholder="-----BEGIN CERTIFICATE-----"
            onChange={(e) => setSecret('agentCaCert', e.currentTarget.value)}
            onReset={() => resetSecret('agentCaCert')}
          />
        </Field>
        <Field label="Agent token" description="Bearer token sent to the agent, if it asks for one. Stored encrypted.">
          <SecretInput
            id="gomon-agent-token"
            width={50}
            isConfigured={Boolean(secureFields.agentToken)}
            value={secure.agentToken ?? ''}
            onChange={(e) => setSecret('agentToken', e.currentTarget.value)}
            onReset={() => resetSecret('agentToken')}
          />
        </Field>
        <Field label="Skip TLS verification" description="Accept any agent certificate. For tests only: set the CA instead.">
          <Switch
            id="gomon-tls-skip-verify"
            value={Boolean(jsonData.tlsSkipVerify)}
            onChange={(e) => setJson({ tlsSkipVerify: e.currentTarget.checked })}
          />
        </Field>
      </FieldSet>

      <FieldSet label="Fleet">
        <Field
          label="Fleet agents"
          description="The gomon agents of the fleet, one URL per line (https://host:1234), asked concurrently for the fleet's node graph (the query's Fleet scope). They take the agent CA, token and TLS settings above."
          invalid={Boolean(fleetError)}
          error={fleetError}
        >
          <TextArea
            id="gomon-fleet-peers"
            cols={64}
            rows={4}
            value={peersText}
            placeholder={'https://web1:1234\nhttps://db1:1234'}
            onChange={(e) => {
              setPeersText(e.currentTarget.value);
              const peers = parsePeers(e.currentTarget.value);
              setJson({ fleetPeers: peers.length > 0 ? peers : undefined });
            }}
          />
        </Field>
        <Field
          label="Fleet Prometheus URL"
          description="Or: a Prometheus (Thanos, Mimir) that scrapes the agents with [fleet] export = true; the backend asks it (two queries per view, whatever the fleet's size)."
        >
          <Input
            id="gomon-fleet-prometheus"
            width={50}
            value={jsonData.fleetPrometheusUrl ?? ''}
            placeholder="http://prometheus:9090"
            onChange={(e) => setJson({ fleetPrometheusUrl: e.currentTarget.value.trim() || undefined })}
          />
        </Field>
        <Field label="Fleet job" description="The Prometheus job whose targets are the agents.">
          <Input
            id="gomon-fleet-job"
            width={30}
            value={jsonData.fleetJob ?? ''}
            placeholder="gomon"
            onChange={(e) => setJson({ fleetJob: e.currentTarget.value.trim() || undefined })}
          />
        </Field>
      </FieldSet>

      <FieldSet label="Linked data sources">
        <Field label="Prometheus" description="The Prometheus that scrapes gomon's /metrics.">
          <DataSourcePicker
            inputId="gomon-prometheus"
            type="prometheus"
            noDefault
            width={50}
            current={jsonData.prometheusUid ?? null}
            onChange={(ds: DataSourceInstanceSettings) => setJson({ prometheusUid: ds.uid })}
            onClear={() => setJson({ prometheusUid: undefined })}
          />
        </Field>
        <Field label="Loki" description="The Loki gomon pushes its events to.">
          <DataSourcePicker
            inputId="gomon-loki"
            type="loki"
            noDefault
            width={50}
            current={jsonData.lokiUid ?? null}
            onChange={(ds: DataSourceInstanceSettings) => setJson({ lokiUid: ds.uid })}
            onClear={() => setJson({ lokiUid: undefined })}
          />
        </Field>
      </FieldSet>
    </>
  );
}
