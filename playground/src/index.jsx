// The exo playground: GraphiQL (query editor, results, schema docs from introspection) plus a
// field for a JWT that is sent as `Authorization: Bearer <token>` with every request.
import React, { useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import "graphiql/graphiql.css";
import "./playground.css";

const mount = document.getElementById("exo-playground");
const endpoint = mount.dataset.endpoint || "/graphql";
const TOKEN_KEY = "exo-playground:token";

function readToken() {
  try {
    return window.localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function makeFetcher(token) {
  return async (params, options) => {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    // Headers typed in GraphiQL's own header editor come first; the token field wins for auth.
    Object.assign(headers, (options && options.headers) || {});
    const trimmed = token.trim();
    if (trimmed) {
      headers.Authorization = trimmed.toLowerCase().startsWith("bearer ") ? trimmed : `Bearer ${trimmed}`;
    }
    headers._exo_playground = "true";
    const response = await fetch(endpoint, { method: "POST", headers, body: JSON.stringify(params) });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return { errors: [{ message: `the server answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}` }] };
    }
  };
}

function Playground() {
  const [token, setToken] = useState(readToken);
  const fetcher = useMemo(() => makeFetcher(token), [token]);
  const onToken = (event) => {
    setToken(event.target.value);
    try {
      window.localStorage.setItem(TOKEN_KEY, event.target.value);
    } catch {
      // Private windows may refuse storage; the token still works for this page.
    }
  };
  return (
    <div className="exo-shell">
      <header className="exo-bar">
        <span className="exo-title">exo playground</span>
        <span className="exo-endpoint">POST {endpoint}</span>
        <label className="exo-auth">
          JWT
          <input
            id="exo-jwt"
            type="text"
            spellCheck="false"
            autoComplete="off"
            placeholder="paste a token; sent as Authorization: Bearer …"
            value={token}
            onChange={onToken}
          />
        </label>
      </header>
      <div className="exo-graphiql">
        <GraphiQL fetcher={fetcher} defaultEditorToolsVisibility={false} isHeadersEditorEnabled={true} />
      </div>
    </div>
  );
}

createRoot(mount).render(<Playground />);
