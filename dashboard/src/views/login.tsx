// The login page: a bearer token (a ServiceAccount's, from `kubectl create token`), checked
// with a SelfSubjectReview and kept in sessionStorage for this tab only.

import { useState } from "preact/hooks";
import { describeError, request, setToken } from "../api";

type Review = { status: { userInfo: { username: string } } };

export async function whoami(): Promise<string> {
  const review = await request<Review>("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    method: "POST",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  return review.status.userInfo.username;
}

export function Login({ onLogin }: { onLogin: (user: string) => void }) {
  const [token, setValue] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    setToken(token.trim());
    try {
      onLogin(await whoami());
    } catch (err) {
      setToken(null);
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>kybernetes</h1>
      <p>Sign in with a bearer token, e.g. <code>kubectl create token admin -n kube-system</code>.</p>
      <label>
        Token
        <textarea name="token" rows={5} value={token} autoComplete="off" spellcheck={false}
                  onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
      </label>
      {error && <p class="error" role="alert">{error}</p>}
      <button type="submit" disabled={busy || !token.trim()}>Sign in</button>
    </form>
  );
}
