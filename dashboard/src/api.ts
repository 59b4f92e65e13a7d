// The only way the dashboard talks to the cluster: the public Kubernetes API on this origin,
// with the user's bearer token (kept in sessionStorage) on every request, so RBAC applies
// as to any other client. Watches are streamed fetches of `?watch=1`, one JSON event a line.

const TOKEN_KEY = "kyb.dashboard.token";

export type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
    creationTimestamp?: string;
    managedFields?: unknown;
    [key: string]: unknown;
  };
  // Objects are schemaless here: views read what they know.
  [key: string]: any;
};

export type WatchEvent<T> = { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"; object: T };

export const TABLE_ACCEPT = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json";

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

// Called when the server refuses the token (401): the app goes back to its login page.
let unauthorized: () => void = () => undefined;
export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

export class ApiError extends Error {
  constructor(readonly code: number, message: string, readonly reason = "",
              readonly causes: { field?: string; message?: string }[] = []) {
    super(message);
  }
}

// A sentence for the user: a 403 says what RBAC refused, kindly.
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 403) {
      return `You don't have permission to do this. The server said: ${err.message}`;
    }
    if (err.code === 401) return "Your token is not valid (any more): please sign in again.";
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

function headers(accept: string, contentType?: string): Record<string, string> {
  const result: Record<string, string> = { Accept: accept };
  const token = getToken();
  if (token) result.Authorization = `Bearer ${token}`;
  if (contentType) result["Content-Type"] = contentType;
  return result;
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text();
  if (response.status === 401) unauthorized();
  try {
    const status = JSON.parse(text);
    return new ApiError(response.status, status.message ?? text, status.reason ?? "",
                        status.details?.causes ?? []);
  } catch {
    return new ApiError(response.status, text || response.statusText);
  }
}

export type RequestOptions = {
  method?: string;
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
};

export async function request<T = Obj>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = "GET", body, contentType = "application/json", accept = "application/json" } = options;
  const response = await fetch(path, {
    method,
    headers: headers(accept, body === undefined ? undefined : contentType),
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    signal: options.signal,
  });
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : null) as T;
}

// Streams a response body to `onChunk` until it ends or `signal` aborts.
export async function stream(path: string, onChunk: (text: string) => void, signal: AbortSignal,
                             accept = "*/*"): Promise<void> {
  const response = await fetch(path, { headers: headers(accept), signal });
  if (!response.ok || response.body === null) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk(decoder.decode(value, { stream: true }));
  }
}

// A watch from `resourceVersion`: each event to `onEvent`; resolves when the server ends it.
export async function watch<T>(path: string, params: URLSearchParams, resourceVersion: string,
                               onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal,
                               accept = "application/json"): Promise<void> {
  const query = new URLSearchParams(params);
  query.set("watch", "1");
  query.set("resourceVersion", resourceVersion);
  let pending = "";
  await stream(`${path}?${query}`, (chunk) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      const event = JSON.parse(line) as WatchEvent<T>;
      if (event.type === "ERROR") {
        const status = event.object as { code?: number; message?: string };
        throw new ApiError(status.code ?? 500, status.message ?? "watch error");
      }
      onEvent(event);
    }
  }, signal, accept);
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// The token as a WebSocket subprotocol: browsers cannot set headers on WebSockets, so
// upstream's API server also takes `base64url.bearer.authorization.k8s.io.<token>`.
export function bearerProtocol(): string {
  const bytes = new TextEncoder().encode(getToken() ?? "");
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const encoded = btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `base64url.bearer.authorization.k8s.io.${encoded}`;
}
