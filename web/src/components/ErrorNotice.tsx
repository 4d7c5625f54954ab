/** An API error on a page; a 401 becomes a prompt for the token. */
import { useState, type FormEvent } from "react";
import { ApiError, setToken } from "../api";

/** An error from the API, as a message; a 401 asks for the token instead. */
export function ErrorNotice({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.status === 401) {
    return <TokenPrompt />;
  }
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="notice error" role="alert">
      {message}
    </div>
  );
}

function TokenPrompt() {
  const [value, setValue] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setToken(value.trim());
    window.location.reload();
  };
  return (
    <form className="notice token" onSubmit={submit}>
      <p>This dashboard needs its token.</p>
      <input type="password" aria-label="token" value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
      <button type="submit">Open</button>
    </form>
  );
}
