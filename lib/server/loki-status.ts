// What Grafana asks a Loki before it queries one: the build (its data source reads the version to know which
// features the server has) and, for Logs Drilldown, the limits and switches a Loki's tenant runs with.

/**
 * `/loki/api/v1/status/buildinfo`, the fields Loki documents. The version is the Loki release whose read API
 * logfs answers (patterns, detected fields and labels, drilldown limits), so Grafana offers those features.
 */
export const BUILD_INFO = {
  version: '3.5.0',
  revision: 'logfs',
  branch: 'logfs',
  buildUser: 'logfs',
  buildDate: '',
  goVersion: '',
}

/**
 * `/loki/api/v1/drilldown-limits`: Logs Drilldown shows its Patterns tab and volume panels only when these say
 * they are on. The query limits are the API's own (query/lines.ts's MAX_LINES for lines); retention is the
 * store's business, per tenant, so none is claimed here.
 */
export function drilldownLimits (maxLines: number): object {
  return {
    limits: {
      discover_log_levels: true,
      discover_service_name: [],
      log_level_fields: ['level', 'LEVEL', 'Level', 'severity', 'SEVERITY', 'lvl', 'LVL'],
      max_entries_limit_per_query: maxLines,
      max_query_series: 500,
      metric_aggregation_enabled: false,
      pattern_persistence_enabled: false,
      volume_enabled: true,
    },
    pattern_ingester_enabled: true,
    version: BUILD_INFO.version,
  }
}
