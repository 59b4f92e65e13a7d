// Editing an object's YAML and applying new YAML. Every write is first sent with
// `dryRun=All`, so the server's validation errors show inline, next to the text, before
// anything changes.

import { dump, load, loadAll } from "js-yaml";
import { useState } from "preact/hooks";
import { ApiError, type Obj, describeError, request } from "../api";
import { useShared } from "../context";
import { apiPath, resourceOfKind } from "../resources";

function withoutNoise(object: Obj): Obj {
  const { managedFields: _, ...metadata } = object.metadata;
  return { ...object, metadata };
}

function explain(err: unknown): string {
  if (err instanceof ApiError && err.code !== 403) {
    // The causes the message does not already spell out.
    const causes = err.causes.filter((c) => c.message && !err.message.includes(c.message));
    return [err.message, ...causes.map((c) => `• ${c.field ? `${c.field}: ` : ""}${c.message}`)].join("\n");
  }
  return describeError(err);
}

function Editor({ text, setText, error, busy, children }: {
  text: string; setText: (t: string) => void; error: string; busy: boolean; children: preact.ComponentChildren;
}) {
  return (
    <div class="yaml">
      <textarea aria-label="YAML" spellcheck={false} value={text} rows={24}
                onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      {error && <pre class="error inline" role="alert" data-testid="yaml-error">{error}</pre>}
      <div class="actions">{children}{busy && <span class="loading">Working…</span>}</div>
    </div>
  );
}

export function YamlEditor({ path, object }: { path: string; object: Obj }) {
  const { notify } = useShared();
  const [text, setText] = useState(() => dump(withoutNoise(object)));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const save = async (dryRunOnly: boolean) => {
    setBusy(true);
    try {
      const edited = load(text) as Obj;
      if (edited === null || typeof edited !== "object") throw new Error("the YAML is not an object");
      await request(`${path}?dryRun=All`, { method: "PUT", body: edited });
      if (dryRunOnly) {
        setError("");
        notify("The server accepts these changes (dry run).");
        return;
      }
      const saved = await request(path, { method: "PUT", body: edited });
      setText(dump(withoutNoise(saved)));
      setError("");
      notify(`Saved ${object.metadata.name}`);
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Editor text={text} setText={setText} error={error} busy={busy}>
      <button onClick={() => save(true)}>Dry run</button>
      <button class="primary" onClick={() => save(false)}>Save</button>
      <button onClick={() => { setText(dump(withoutNoise(object))); setError(""); }}>Revert</button>
    </Editor>
  );
}

const EXAMPLE = `apiVersion: v1
kind: ConfigMap
metadata:
  name: example
data:
  key: value
`;

// New objects from YAML (several documents allowed), by server-side apply.
export function ApplyView() {
  const { namespace, notify } = useShared();
  const [text, setText] = useState(EXAMPLE);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const apply = async () => {
    setBusy(true);
    try {
      const docs = (loadAll(text) as Obj[]).filter((d) => d !== null);
      const targets = await Promise.all(docs.map(async (doc) => {
        if (!doc.apiVersion || !doc.kind || !doc.metadata?.name) {
          throw new Error("every document needs apiVersion, kind and metadata.name");
        }
        const { gvr, info } = await resourceOfKind(doc.apiVersion, doc.kind);
        const ns = doc.metadata.namespace ?? namespace ?? "default";
        return { doc, path: `${apiPath(gvr, info.namespaced, ns || "default", doc.metadata.name)}?fieldManager=kyb-dashboard` };
      }));
      const send = (path: string, doc: Obj) => request(path, {
        method: "PATCH", contentType: "application/apply-patch+yaml", body: doc,
      });
      for (const { doc, path } of targets) await send(`${path}&dryRun=All`, doc);
      for (const { doc, path } of targets) await send(path, doc);
      setError("");
      notify(`Applied ${targets.map((t) => `${t.doc.kind}/${t.doc.metadata.name}`).join(", ")}`);
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h2>Apply YAML</h2>
      <p>Objects without a namespace go to {namespace || "default"}.</p>
      <Editor text={text} setText={setText} error={error} busy={busy}>
        <button class="primary" onClick={apply}>Apply</button>
      </Editor>
    </section>
  );
}
