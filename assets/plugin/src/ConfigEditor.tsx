/**
 * The data source settings page: where the data comes from (the collector inside the plugin
 * process, or a gomon agent over HTTPS with its CA and token) and the user's Prometheus and Loki
 * data sources that gomon's frames link to.
 */
import React from 'react';

import { DataSourceInstanceSettings, DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { DataSourcePicker } from '@grafana/runtime';
import { Field, FieldSet, Input, SecretInput, SecretTextArea, Switch } from '@grafana/ui';

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
