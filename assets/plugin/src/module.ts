/**
 * The plugin's entry point. Grafana loads the built `module.js` (an AMD module) and reads its
 * `plugin` export.
 */
import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './ConfigEditor';
import { GomonDataSource } from './datasource';
import { QueryEditor } from './QueryEditor';
import { GomonOptions, GomonQuery, GomonSecureOptions } from './types';

export const plugin = new DataSourcePlugin<GomonDataSource, GomonQuery, GomonOptions, GomonSecureOptions>(
  GomonDataSource
)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
