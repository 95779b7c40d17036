import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { AggregateRow } from '../api';

// avg with a min–max band of an aggregate series (uPlot; times in seconds).
// The x axis always spans the queried range [fromMs, toMs), however few buckets hold data; with none at all
// it still shows that range (uPlot given no x values falls back to the epoch: a 1970 axis). The host element
// carries the x scale actually drawn (data-x-min, data-x-max: epoch seconds) for tests.
export function AggregateChart(props: { rows: AggregateRow[]; unit: string; label: string; fromMs: number; toMs: number }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const from = props.fromMs / 1000;
    const to = props.toMs / 1000;
    const empty = props.rows.length === 0;
    const data: uPlot.AlignedData = empty
      ? [[from, to], [null, null], [null, null], [null, null]]
      : [
          props.rows.map((r) => r.time / 1000),
          props.rows.map((r) => r.avg ?? null),
          props.rows.map((r) => r.min ?? null),
          props.rows.map((r) => r.max ?? null),
        ];
    const width = Math.max(300, el.clientWidth);
    const opts: uPlot.Options = {
      width,
      height: 240,
      scales: {
        x: { time: true, range: () => [from, to] },
        ...(empty ? { y: { range: () => [0, 1] as uPlot.Range.MinMax } } : {}),
      },
      series: [
        {},
        { label: `${props.label} avg`, stroke: '#2563eb', width: 2, spanGaps: false, points: { show: props.rows.length < 60 } },
        { label: 'min', stroke: '#93c5fd', width: 1, dash: [4, 4] },
        { label: 'max', stroke: '#93c5fd', width: 1, dash: [4, 4] },
      ],
      axes: [{}, { label: props.unit || undefined, size: 60 }],
      bands: [{ series: [3, 2], fill: 'rgba(37,99,235,0.08)' }],
      legend: { live: true },
      hooks: {
        draw: [
          (u) => {
            el.dataset.xMin = String(u.scales.x.min);
            el.dataset.xMax = String(u.scales.x.max);
          },
        ],
      },
    };
    plot.current?.destroy();
    plot.current = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(300, el.clientWidth), height: 240 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [props.rows, props.unit, props.label, props.fromMs, props.toMs]);
  return <div ref={host} class="chart" data-testid="chart" />;
}
