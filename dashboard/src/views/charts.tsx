// CPU and memory charts from the metrics API (metrics.k8s.io), when the cluster serves it.
// That API has no watch: it is a current sample, so the charts sample it at its resolution.

import { useEffect, useState } from "preact/hooks";
import { ApiError, type Obj, isAbort, request, sleep } from "../api";
import { formatBytes, formatCpu, parseQuantity } from "../quantity";

const METRICS = "/apis/metrics.k8s.io/v1beta1";
const HISTORY = 60;
const INTERVAL_MS = 5000;

export type Usage = { cpu: number; memory: number };
export type Sample = { at: number; usage: Map<string, Usage> };

function usageOf(item: Obj): Usage {
  if (item.usage) return { cpu: parseQuantity(item.usage.cpu), memory: parseQuantity(item.usage.memory) };
  const sum = { cpu: 0, memory: 0 };
  for (const c of item.containers ?? []) {
    sum.cpu += parseQuantity(c.usage?.cpu);
    sum.memory += parseQuantity(c.usage?.memory);
  }
  return sum;
}

// Samples of a metrics collection (`nodes`, or `namespaces/<ns>/pods`), newest last; null
// when the metrics API is not there.
export function useMetrics(collection: string): Sample[] | null {
  const [samples, setSamples] = useState<Sample[] | null>([]);
  useEffect(() => {
    const controller = new AbortController();
    setSamples([]);
    void (async () => {
      while (!controller.signal.aborted) {
        try {
          const list = await request<{ items: Obj[] }>(`${METRICS}/${collection}`, { signal: controller.signal });
          const usage = new Map(list.items.map((i) => [i.metadata.name, usageOf(i)]));
          setSamples((s) => [...(s ?? []), { at: Date.now(), usage }].slice(-HISTORY));
        } catch (err) {
          if (isAbort(err)) return;
          if (err instanceof ApiError && [403, 404, 503].includes(err.code)) {
            setSamples(null);
            return;
          }
        }
        await sleep(INTERVAL_MS, controller.signal);
      }
    })();
    return () => controller.abort();
  }, [collection]);
  return samples;
}

export function Sparkline({ title, values, format }: { title: string; values: number[]; format: (n: number) => string }) {
  const width = 240, height = 60;
  // Headroom above the highest sample, so that a steady value is a visible level.
  const max = Math.max(...values, 1e-9) * 1.25;
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * (height - 4) - 2).toFixed(1)}`);
  const last = values[values.length - 1];
  return (
    <figure class="chart" data-testid={`chart-${title.toLowerCase()}`}>
      <figcaption>{title}: <strong>{last === undefined ? "–" : format(last)}</strong></figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={`${title} over time`}>
        {values.length > 1 && <polygon points={`0,${height} ${points.join(" ")} ${width},${height}`} />}
        {values.length > 1 && <polyline points={points.join(" ")} />}
      </svg>
    </figure>
  );
}

// Charts of the total of some names in a collection's samples.
export function UsageSparklines({ samples, names }: { samples: Sample[]; names?: string[] }) {
  const total = (s: Sample, key: keyof Usage) => [...s.usage.entries()]
    .filter(([n]) => names === undefined || names.includes(n))
    .reduce((sum, [, u]) => sum + u[key], 0);
  return (
    <div class="charts">
      <Sparkline title="CPU" values={samples.map((s) => total(s, "cpu"))} format={formatCpu} />
      <Sparkline title="Memory" values={samples.map((s) => total(s, "memory"))} format={formatBytes} />
    </div>
  );
}

export function UsageCharts({ kind, namespace, name }: { kind: string; namespace: string; name: string }) {
  const samples = useMetrics(kind === "Node" ? "nodes" : `namespaces/${namespace}/pods`);
  if (samples === null) return null;
  return (
    <>
      <h3>Usage</h3>
      <UsageSparklines samples={samples} names={[name]} />
    </>
  );
}
