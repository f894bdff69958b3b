/**
 * Stands in for react-inlinesvg in tests: @grafana/ui's Icon fetches /public/img/icons/<name>.svg,
 * which jsdom cannot serve (the same mock @grafana/create-plugin's jest setup uses).
 */
import React from 'react';

export default function InlineSVG({ src }: { src: string }) {
  return <svg xmlns="http://www.w3.org/2000/svg" data-testid={src.replace(/(.+)\/(.+)\.svg$/, '$2')} viewBox="0 0 24 24" />;
}
