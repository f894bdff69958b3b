/**
 * What Grafana's SystemJS loader provides to a plugin's module.js at run time: the bundle imports
 * these and nothing else (vite.config.ts enforces it; src/module.test.tsx checks the output).
 */
export const EXTERNALS = ['react', 'react-dom', '@grafana/data', '@grafana/ui', '@grafana/runtime', '@emotion/css', 'rxjs'];
