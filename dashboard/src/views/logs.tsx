// A pod's logs, followed: one streamed GET of `pods/<name>/log?follow=true`.

import { useEffect, useRef, useState } from "preact/hooks";
import { type Obj, describeError, isAbort, stream } from "../api";

export function containers(pod: Obj): string[] {
  return (pod.spec?.containers ?? []).map((c: { name: string }) => c.name);
}

export function LogViewer({ path, pod }: { path: string; pod: Obj }) {
  const names = containers(pod);
  const [container, setContainer] = useState(names[0] ?? "");
  const [follow, setFollow] = useState(true);
  const [previous, setPrevious] = useState(false);
  const [timestamps, setTimestamps] = useState(false);
  const [text, setText] = useState("");
  const [error, setError] = useState("");
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    setText("");
    setError("");
    const controller = new AbortController();
    const query = new URLSearchParams({
      container, tailLines: "1000", follow: String(follow && !previous),
      previous: String(previous), timestamps: String(timestamps),
    });
    stream(`${path}/log?${query}`, (chunk) => setText((t) => (t + chunk).slice(-1_000_000)),
           controller.signal)
      .catch((err) => { if (!isAbort(err)) setError(describeError(err)); });
    return () => controller.abort();
  }, [path, container, follow, previous, timestamps]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text]);
  return (
    <div class="logs">
      <div class="filters">
        <select aria-label="Container" value={container} onChange={(e) => setContainer((e.target as HTMLSelectElement).value)}>
          {names.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
        <label><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow</label>
        <label><input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps((e.target as HTMLInputElement).checked)} /> Timestamps</label>
        <label><input type="checkbox" checked={previous} onChange={(e) => setPrevious((e.target as HTMLInputElement).checked)} /> Previous container</label>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <pre class="log" ref={box} data-testid="log">{text}</pre>
    </div>
  );
}
