// Sends telemetry to a running driftwatch through the real OpenTelemetry JS SDK and OTLP/HTTP
// exporters (pinned in package.json), for tests/otlp/otlp_js_test.cc, which checks what the
// service then shows.
//
//   node export.mjs BASE_URL traces|metrics json|proto PREFIX
//
// traces: SERVER spans of two services, PREFIX-shop (60 spans of 100-104 ms, then 10 of 1000 ms)
// and PREFIX-search (60 spans of 40-42 ms), plus CLIENT and INTERNAL spans that are not samples.
// metrics: an http.server.request.duration histogram (seconds, cumulative, the SDK's default)
// of two services, exported 70 times: PREFIX-shop's interval means are 100-115 ms for 60 exports,
// then 1000 ms; PREFIX-search's are 40 ms throughout.
// Exit status 0 when every export succeeded, 1 otherwise (the failures on stderr).
import { SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPTraceExporter as TraceJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as TraceProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPMetricExporter as MetricJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as MetricProto } from '@opentelemetry/exporter-metrics-otlp-proto';

const [baseUrl, signal, encoding, prefix] = process.argv.slice(2);
if (!baseUrl || !['traces', 'metrics'].includes(signal) || !['json', 'proto'].includes(encoding) ||
    !prefix) {
  console.error('usage: node export.mjs BASE_URL traces|metrics json|proto PREFIX');
  process.exit(2);
}

const failures = [];
// Records what each export's answer was: the SDK only logs a failure.
function checked(exporter) {
  const original = exporter.export.bind(exporter);
  exporter.export = (items, done) => original(items, (result) => {
    if (result.code !== 0) failures.push(String(result.error?.message ?? result.error));
    done(result);
  });
  return exporter;
}

const resource = (service) => resourceFromAttributes({ 'service.name': service });

async function traces() {
  const Exporter = encoding === 'json' ? TraceJson : TraceProto;
  const providers = {};
  for (const name of ['shop', 'search']) {
    const exporter = checked(new Exporter({ url: `${baseUrl}/v1/traces` }));
    providers[name] = new BasicTracerProvider({
      resource: resource(`${prefix}-${name}`),
      spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 4096,
                                                          scheduledDelayMillis: 60000 })],
    });
  }
  const t0 = Date.now() - 300 * 1000;
  const span = (provider, i, latencyMs, kind = SpanKind.SERVER) => {
    const start = new Date(t0 + i * 1000);
    provider.getTracer('driftwatch-test').startSpan('GET /items', { kind, startTime: start })
      .end(new Date(start.getTime() + latencyMs));
  };
  for (let i = 0; i < 60; ++i) {
    span(providers.shop, i, 100 + (i % 5));
    span(providers.search, i, 40 + (i % 3));
    span(providers.search, i, 5, SpanKind.CLIENT);
    span(providers.search, i, 5, SpanKind.INTERNAL);
  }
  // The spike goes after the baseline is in: an export does not overtake an earlier one.
  for (const provider of Object.values(providers)) await provider.forceFlush();
  for (let i = 60; i < 70; ++i) span(providers.shop, i, 1000);
  for (const provider of Object.values(providers)) await provider.shutdown();
}

async function metrics() {
  const Exporter = encoding === 'json' ? MetricJson : MetricProto;
  const services = {};
  for (const name of ['shop', 'search']) {
    const exporter = checked(new Exporter({ url: `${baseUrl}/v1/metrics` }));
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 });
    const provider = new MeterProvider({ resource: resource(`${prefix}-${name}`),
                                         readers: [reader] });
    const histogram = provider.getMeter('driftwatch-test').createHistogram(
      'http.server.request.duration', { unit: 's' });
    services[name] = { provider, reader, histogram };
  }
  for (let j = 0; j < 70; ++j) {
    const shopMs = j < 60 ? 100 + (j % 4) * 5 : 1000;
    for (let k = 0; k < 5; ++k) {
      services.shop.histogram.record(shopMs / 1000, { 'http.route': '/items' });
      services.search.histogram.record(0.04, { 'http.route': '/search' });
    }
    // One export per interval, in order.
    for (const service of Object.values(services)) await service.reader.forceFlush();
  }
  for (const service of Object.values(services)) await service.provider.shutdown();
}

await (signal === 'traces' ? traces() : metrics());
if (failures.length > 0) {
  console.error(`exports failed: ${failures.join('; ')}`);
  process.exit(1);
}
